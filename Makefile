# The two commands of the README. Each runs the idempotent set-up first.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m mxdpu.scripts.demo

test: setup
	$(PY) -m pytest -n 2

bench: setup
	$(VENV)/bin/mxdpu bench

clean:
	rm -rf build
