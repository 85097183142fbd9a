"""`mxdpu generate`: both files written; bad parameters refused in one line, nothing written."""

import json

import pytest

from mxdpu.hw.config import PRESETS
from mxdpu.scripts.cli import main
from tests.spec_manifest import check_manifest


def test_generate_writes_verilog_and_manifest(tmp_path, capsys):
    out = tmp_path / "build"
    assert main(["generate", "--preset", "dpu", "--depth", "2", "--acc-stages", "1", "-o", str(out)]) == 0
    manifest = json.loads((out / "mxdpu.json").read_text())
    config = PRESETS["dpu"].replace(depth=2, acc_stages=1)
    assert manifest == config.manifest("mxdpu")
    check_manifest(manifest, rows=1, cols=1, block=32, depth=2)
    assert manifest["parameters"]["depth"] == 2 and manifest["parameters"]["acc_stages"] == 1
    assert "module mxdpu(" in (out / "mxdpu.v").read_text()
    assert f"latency {config.latency}" in capsys.readouterr().out


def test_generate_top_name(tmp_path):
    assert main(["generate", "--top", "mx_core", "--rows", "2", "--lanes", "16", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mx_core.core", "mx_core.json", "mx_core.v"]
    assert json.loads((tmp_path / "mx_core.json").read_text())["parameters"]["rows"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--lanes", "5"], "Lanes must divide the block size 32 (1, 2, 4, 8, 16, 32), not 5"),
    (["--depth", "0"], "Depth must be an integer from 1 to 256, not 0"),
    (["--formats", "e4m3,fp16"], "Format must be one of e4m3, e5m2, e3m2, e2m3, e2m1, int8, hif8, not fp16"),
    (["--formats", "e4m3,e5m2,hif9"], "Format must be one of e4m3, e5m2, e3m2, e2m3, e2m1, int8, hif8, not hif9"),
    (["--pipe-sum", "2"], "Pipe sum must be 0 or 1, not 2"),
    (["--acc-stages", "13"], "Acc stages must be an integer from 0 to 12, not 13"),
    (["--top", "9x"], "Top must be a Verilog identifier (letters, digits, _), not '9x'"),
])
def test_generate_refuses_bad_parameter_in_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "build"
    assert main(["generate", *argv, "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"mxdpu generate: error: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("where", ["under_a_file", "a_file"])
def test_generate_to_unwritable_output_exits_2_in_one_line(tmp_path, error_line, where, monkeypatch):
    import mxdpu.scripts.generate as generate
    monkeypatch.setattr(generate, "export_verilog", lambda *a: pytest.fail("the design was built first"))
    existing = tmp_path / "existing"
    existing.write_text("not a directory\n")
    out = existing / "x" if where == "under_a_file" else existing
    assert main(["generate", "-o", str(out)]) == 2
    assert error_line().startswith(f"mxdpu generate: error: --output {out}: cannot create the folder: ")
