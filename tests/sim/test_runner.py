"""The runner: per-configuration build directories, cached exports and builds, waves."""

import time

from mxdpu.hw.config import PRESETS, Config
from mxdpu.sim.regress import plan, run_regression
from mxdpu.sim.runner import build, config_key, prepare


def test_config_key_names_the_parameters():
    assert config_key(PRESETS["dpu"]) == config_key(Config())
    assert config_key(PRESETS["dpu"]) != config_key(PRESETS["dpu"].replace(depth=2))


def test_export_and_build_are_reused(tmp_path):
    design = prepare(PRESETS["dpu"], root=tmp_path)
    assert design.directory.parent == tmp_path
    manifest = design.manifest.read_text()
    assert '"latency"' in manifest and design.verilog.exists()
    directory = build(design, "icarus")
    stamp = (directory / "built.stamp").stat().st_mtime_ns
    started = time.perf_counter()
    assert build(design, "icarus") == directory
    assert time.perf_counter() - started < 1.0
    assert (directory / "built.stamp").stat().st_mtime_ns == stamp
    assert prepare(PRESETS["dpu"], root=tmp_path) == design


def test_icarus_waves_land_in_the_run_directory():
    jobs = plan({"dpu": PRESETS["dpu"]}, ["icarus"], "quick", seed=4, tests=["random"])
    (summary,) = run_regression(jobs, waves=True, progress=False)
    assert summary["passed"], summary["failure"]
    with open(summary["waves"], "rb") as f:
        assert f.read(1)  # an FST file with content
