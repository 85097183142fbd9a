"""The runner: per-configuration build directories, cached exports and builds, waves."""

import pytest

import mxdpu.sim.runner as runner
from mxdpu.hw.config import PRESETS, Config
from mxdpu.sim.regress import plan, run_regression
from mxdpu.sim.runner import build, config_key, prepare


def test_config_key_names_the_parameters():
    assert config_key(PRESETS["dpu"]) == config_key(Config(**PRESETS["dpu"].parameters()))
    assert config_key(PRESETS["dpu"]) != config_key(PRESETS["dpu"].replace(depth=2))


class _CountingRunner:
    """Stands in for cocotb's runner where only the number of builds matters."""

    def __init__(self):
        self.builds = 0

    def build(self, **options):
        self.builds += 1


def test_export_and_build_are_reused_until_their_inputs_change(tmp_path, monkeypatch):
    exports, fake = [], _CountingRunner()
    real_export = runner.export_verilog
    monkeypatch.setattr(runner, "export_verilog", lambda *a: exports.append(a) or real_export(*a))
    monkeypatch.setattr(runner, "_runner", lambda sim: fake)
    config = Config(block=16, lanes=16, depth=1)
    design = prepare(config, root=tmp_path)
    assert design.directory.parent == tmp_path.resolve() and design.verilog.exists()
    directory = build(design, "icarus")
    assert (len(exports), fake.builds) == (1, 1)
    # unchanged: neither exported nor built again, no file touched
    files = [design.verilog, design.directory / "rtl" / "hw.digest", directory / "built.stamp"]
    before = [p.stat().st_mtime_ns for p in files]
    assert prepare(config, root=tmp_path) == design and build(design, "icarus") == directory
    assert (len(exports), fake.builds) == (1, 1)
    assert [p.stat().st_mtime_ns for p in files] == before
    # a changed hw/ digest exports again; a changed Verilog builds again
    (design.directory / "rtl" / "hw.digest").write_text("stale")
    prepare(config, root=tmp_path)
    assert len(exports) == 2
    design.verilog.write_text(design.verilog.read_text() + "// changed\n")
    build(design, "icarus")
    assert fake.builds == 2


@pytest.mark.slow
def test_icarus_waves_land_in_the_run_directory():
    jobs = plan({"dpu": PRESETS["dpu"]}, ["icarus"], "quick", seed=4, tests=["random"])
    (summary,) = run_regression(jobs, waves=True, progress=False)
    assert summary["passed"], summary["failure"]
    with open(summary["waves"], "rb") as f:
        assert f.read(1)  # an FST file with content
