# The two commands of the README (demo, test); a quick check for developers (check: the suite
# without the slow tests); the vendor modes against MMA-Sim (crosscheck, run by CI after test).
# Each runs the idempotent set-up first.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test check bench crosscheck clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m mxdpu.scripts.demo

test: setup
	$(PY) -m pytest -n 2 --durations=10

check: setup
	$(PY) -m pytest -n 2 -m "not slow"

bench: setup
	$(VENV)/bin/mxdpu bench

# The vendor modes (SPEC §6) against MMA-Sim: installs the crosscheck extra of pyproject.toml once
# (torch first, at its pinned version: any other pulls a multi-gigabyte GPU build), then compares
# and rewrites the committed vectors (the same bytes unless mmasim's answers change).
CROSSCHECK_STAMP := $(VENV)/.mxdpu-setup/crosscheck

crosscheck: setup $(CROSSCHECK_STAMP)
	$(VENV)/bin/mxdpu crosscheck --vectors verif/vectors/mmasim_modes.jsonl

$(CROSSCHECK_STAMP): pyproject.toml
	$(PY) -m pip install -q "$$(grep -o 'torch==[0-9.]*' pyproject.toml)"
	$(PY) -m pip install -q -e ".[crosscheck]"
	touch $@

clean:
	rm -rf build
