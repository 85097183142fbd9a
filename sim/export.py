"""Verilog and manifest export: the one way `mxdpu generate`, the cocotb runner and synthesis get RTL."""

import json
import re
from pathlib import Path

from amaranth.back import verilog

from mxdpu.hw.config import ConfigError

__all__ = ["export_verilog", "export_component", "check_top_name", "LINT_WAIVERS"]

#: Verilator -Wall warnings that Amaranth's Verilog output raises by construction, and only those:
LINT_WAIVERS = (
    "-Wno-WIDTH",         # operands of mixed widths, extended or cut by Verilog's own rules
    "-Wno-UNUSEDSIGNAL",  # intermediate wires of which only some bits are read
    "-Wno-PROCASSINIT",   # registers carry their reset value as an initial value too
    "-Wno-DECLFILENAME",  # submodules named `top.sub` live in the top's file
)


def check_top_name(top):
    """Refuse a module name that is not a Verilog identifier, in one line."""
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", top):
        raise ConfigError(f"Top must be a Verilog identifier (letters, digits, _), not {top!r}")


def export_verilog(config, out_dir, top="mxdpu"):
    """Write `out_dir/<top>.v` and `out_dir/<top>.json` (SPEC §4 manifest) of a configuration's
    top level; return both paths. The module name is checked before anything is built."""
    check_top_name(top)
    return export_component(config.create(), config.manifest(top), out_dir, top)


def export_component(component, manifest, out_dir, top):
    """Write the Verilog of `component` as module `top` (checked by `check_top_name` before the
    component was built) and its `manifest` dictionary beside it; return both paths."""
    text = verilog.convert(component, name=top, emit_src=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verilog_path, manifest_path = out_dir / f"{top}.v", out_dir / f"{top}.json"
    verilog_path.write_text(text)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return verilog_path, manifest_path
