"""FuseSoC core files (CAPI2) for the generated Verilog, so an FPGA team can add it to their flow.

The core names the Verilog as its RTL fileset and the manifest as a user file, with a `default`
target (the top level) and a `lint` target (Verilator lint-only, with the warning Amaranth's
Verilog needs switched off).
"""

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["write_core", "core_text"]

#: VLNV vendor and library of every generated core.
VENDOR, LIBRARY = "mxdpu", "mxdpu"


def project_version():
    try:
        return version("mxdpu")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def core_text(manifest, verilog_name, manifest_name):
    """The CAPI2 text of one generated top level, described by its manifest."""
    top = manifest["top"]
    params = manifest["parameters"]
    summary = ", ".join(f"{key} {','.join(value) if isinstance(value, list) else value}"
                        for key, value in params.items())
    description = (f"MX dot-product unit {top}: {summary}; latency {manifest['latency']} cycles, "
                   f"one step every {manifest['cycles_per_step']} cycles")
    if "axis" in manifest:
        description += f"; AXI4-Stream top, {manifest['axis']['data_width']}-bit TDATA"
    # JSON strings are YAML double-quoted scalars: the description needs no escaping rules of its own
    return "\n".join([
        "CAPI=2:",
        "# Written by `mxdpu generate`; regenerate rather than edit.",
        f"name: {VENDOR}:{LIBRARY}:{top}:{project_version()}",
        f"description: {json.dumps(description)}",
        "",
        "filesets:",
        "  rtl:",
        "    files:",
        f"      - {verilog_name}",
        "    file_type: verilogSource",
        "  manifest:",
        "    files:",
        f"      - {manifest_name}",
        "    file_type: user",
        "",
        "targets:",
        "  default:",
        "    filesets:",
        "      - rtl",
        "      - manifest",
        f"    toplevel: {top}",
        "  lint:",
        "    default_tool: verilator",
        "    filesets:",
        "      - rtl",
        f"    toplevel: {top}",
        "    tools:",
        "      verilator:",
        "        mode: lint-only",
        "        verilator_options:",
        "          - -Wno-WIDTH",
        "",
    ])


def write_core(verilog_path, manifest_path):
    """Write `<top>.core` beside the Verilog and manifest that `mxdpu generate` wrote; its path."""
    verilog_path, manifest_path = Path(verilog_path), Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    core_path = verilog_path.with_name(f"{manifest['top']}.core")
    core_path.write_text(core_text(manifest, verilog_path.name, manifest_path.name))
    return core_path
