# The two commands of the README (demo, test), and a quick check for developers (check: the
# suite without the slow tests). Each runs the idempotent set-up first.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test check bench clean

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

clean:
	rm -rf build
