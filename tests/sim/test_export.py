"""The exported Verilog: SPEC §3 ports, clean Verilator lint, Icarus elaboration, the manifest."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mxdpu.hw.config import PRESETS, ConfigError
from mxdpu.sim.export import LINT_WAIVERS, export_verilog
from tests.common import TOP_CONFIGS, config_params
from tests.spec_manifest import check_manifest

VENV_BIN = Path(sys.executable).parent


def tool(name):
    path = shutil.which(name, path=f"{VENV_BIN}:/usr/bin:/usr/local/bin")
    assert path, f"{name} is not installed (run scripts/setup.sh)"
    return path


def verilog_ports(text, top):
    """{port: (direction, width)} of module `top` in Verilog text written by Amaranth."""
    body = text[text.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    return {name: (direction.replace("put", ""), int(msb) + 1 if msb else 1)
            for direction, msb, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                                     body, re.M)}


@config_params(TOP_CONFIGS)
def test_export_ports_lint_and_icarus(config, tmp_path):
    verilog_path, manifest_path = export_verilog(config, tmp_path, "mxdpu")
    assert verilog_ports(verilog_path.read_text(), "mxdpu") == config.ports
    manifest = json.loads(manifest_path.read_text())
    assert manifest == config.manifest("mxdpu")
    check_manifest(manifest, config.rows, config.cols, config.block, config.depth)
    lint_and_elaborate(verilog_path)


def lint_and_elaborate(verilog_path):
    """Verilator -Wall lint (with the waivers) and Icarus elaboration, both silent."""
    lint = subprocess.run([tool("verilator"), "--lint-only", "-Wall", *LINT_WAIVERS, verilog_path.name],
                          cwd=verilog_path.parent, capture_output=True, text=True)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr[-3000:]
    icarus = subprocess.run([tool("iverilog"), "-g2012", "-o", "/dev/null", verilog_path.name],
                            cwd=verilog_path.parent, capture_output=True, text=True)
    assert icarus.returncode == 0 and icarus.stderr == "", icarus.stderr[-3000:]


@pytest.mark.slow
def test_export_three_modes_lint_and_icarus(tmp_path):
    # SPEC §6: both paths, k = 128 in four chunks, the 2-bit mode field right after b_format
    config = TOP_CONFIGS["k128_lanes32"].replace(modes=("exact", "blackwell", "hopper"))
    verilog_path, manifest_path = export_verilog(config, tmp_path, "mxdpu")
    assert verilog_ports(verilog_path.read_text(), "mxdpu") == config.ports
    manifest = json.loads(manifest_path.read_text())
    assert manifest == config.manifest("mxdpu")
    fields = manifest["step_fields"]
    assert fields["mode"] == {"offset": fields["b_format"]["offset"] + 3, "width": 2}
    assert fields["slot"]["offset"] == fields["mode"]["offset"] + 2
    lint_and_elaborate(verilog_path)


def test_export_names_the_module_top(tmp_path):
    verilog_path, manifest_path = export_verilog(PRESETS["dpu"], tmp_path, "dpu_core")
    assert (verilog_path.name, manifest_path.name) == ("dpu_core.v", "dpu_core.json")
    assert "module dpu_core(" in verilog_path.read_text()
    assert json.loads(manifest_path.read_text())["top"] == "dpu_core"


def test_export_refuses_a_bad_module_name_before_writing(tmp_path):
    with pytest.raises(ConfigError, match=r"^Top must be a Verilog identifier .*not '9x'$"):
        export_verilog(PRESETS["dpu"], tmp_path / "out", "9x")
    assert not (tmp_path / "out").exists()
