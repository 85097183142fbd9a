"""The FuseSoC core files `mxdpu generate` writes beside the Verilog, and `generate --axis`."""

import json
import re

from mxdpu.scripts.cli import main
from tests.common import TILE_1X2_K16, config_args

SMALL_ARGS = config_args(TILE_1X2_K16)


def parse_capi2(text):
    """The YAML subset a generated core uses: nested mappings by two-space indent, lists of
    scalars, plain or double-quoted (JSON) scalars. Enough to check the fields, not a YAML reader."""
    lines = text.splitlines()
    assert lines[0] == "CAPI=2:"
    root = {}
    stack = [(-1, root)]
    pending = None  # (indent, mapping, key) of a key whose value is on the following lines
    for line in lines[1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        while stack[-1][0] >= indent:
            stack.pop()
        if pending is not None:
            _, mapping, key = pending
            mapping[key] = [] if body.startswith("- ") else {}
            stack.append((indent - 1, mapping[key]))
            pending = None
        container = stack[-1][1]
        if body.startswith("- "):
            container.append(scalar(body[2:]))
            continue
        key, _, value = body.partition(":")
        if value.strip():
            container[key] = scalar(value.strip())
        else:
            pending = (indent, container, key)
    return root


def scalar(text):
    return json.loads(text) if text.startswith('"') else text


def test_generate_writes_a_capi2_core_beside_the_verilog(tmp_path):
    assert main(["generate", *SMALL_ARGS, "--top", "mx1", "-o", str(tmp_path)]) == 0
    core = parse_capi2((tmp_path / "mx1.core").read_text())
    config = TILE_1X2_K16
    assert re.fullmatch(r"mxdpu:mxdpu:mx1:\d+\.\d+\.\d+", core["name"])
    assert f"latency {config.latency} cycles" in core["description"]
    assert core["filesets"]["rtl"] == {"files": ["mx1.v"], "file_type": "verilogSource"}
    assert core["filesets"]["manifest"] == {"files": ["mx1.json"], "file_type": "user"}
    assert core["targets"]["default"] == {"filesets": ["rtl", "manifest"], "toplevel": "mx1"}
    assert core["targets"]["lint"]["tools"]["verilator"] == {"mode": "lint-only",
                                                            "verilator_options": ["-Wno-WIDTH"]}
    # the files the core names exist beside it, and the top level is the module in the Verilog
    for fileset in core["filesets"].values():
        assert all((tmp_path / name).exists() for name in fileset["files"])
    assert "module mx1(" in (tmp_path / "mx1.v").read_text()


def test_generate_axis_writes_the_fpga_top_with_its_own_core(tmp_path, capsys):
    assert main(["generate", *SMALL_ARGS, "--axis", "--axis-width", "32", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mxdpu.core", "mxdpu.json", "mxdpu.v", "mxdpu_axis.core", "mxdpu_axis.json", "mxdpu_axis.v"]
    manifest = json.loads((tmp_path / "mxdpu_axis.json").read_text())
    assert manifest["axis"]["data_width"] == 32
    assert manifest["ports"]["s_axis_tdata"] == {"direction": "in", "width": 32}
    core = parse_capi2((tmp_path / "mxdpu_axis.core").read_text())
    assert core["targets"]["default"]["toplevel"] == "mxdpu_axis"
    assert core["description"].endswith("AXI4-Stream top, 32-bit TDATA")
    assert "module mxdpu_axis(" in (tmp_path / "mxdpu_axis.v").read_text()
    assert "(AXI4-Stream top, 32-bit TDATA)" in capsys.readouterr().out


def test_generate_axis_bad_width_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--axis", "--axis-width", "20", "-o", str(out)]) == 2
    assert capsys.readouterr().err == ("mxdpu generate: error: AXI4-Stream data width must be a "
                                       "multiple of 8 from 8 to 4096, not 20\n")
    assert not out.exists()
