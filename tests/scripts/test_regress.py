"""`mxdpu regress`: options, sharding, the summary table, the JUnit report, the exit status."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from mxdpu.hw.config import PRESETS
from mxdpu.scripts.cli import build_parser, main
from mxdpu.scripts.regress import configurations
from mxdpu.sim.regress import plan, rerun_command, shard, summary_table
from mxdpu.sim.runner import SIMULATORS
from mxdpu.verif.stimulus import SETS, STEP_FIELDS, make_stream, sets_for


@pytest.mark.parametrize("argv, message", [
    (["--sim", "xsim"], "Simulator must be a comma-separated list of icarus, verilator, not 'xsim'"),
    (["--test", "kat,nope"], "Test must be a comma-separated list of"),
    (["--shard", "3/2"], "Shard must be I/N with 1 <= I <= N, not '3/2'"),
    (["--shard", "x"], "Shard must be I/N with 1 <= I <= N, not 'x'"),
    (["--flip-result", "1"], "Flip result must be N:BIT"),
    (["--lanes", "5"], "Lanes must divide the block size 32"),
    (["--modes", "exact,volta"], "Modes must be one or more of exact, blackwell, hopper, not 'volta'"),
    (["--test", "mode_switch"], "Test mode_switch needs two or more modes, which dpu does not build"),
    (["--modes", "hopper", "--test", "mode_random_blackwell"],
     "Test mode_random_blackwell needs mode blackwell, which custom does not build"),
    (["--modes", "blackwell", "--test", "kat"], "Test kat needs mode exact, which custom does not build"),
])
def test_bad_options_are_one_line_and_exit_2(argv, message, error_line):
    assert main(["regress", *argv]) == 2
    assert message in error_line()


def test_shards_partition_the_plan_deterministically():
    jobs = plan(dict(PRESETS), ["icarus", "verilator"], "quick", seed=1)
    assert len(jobs) == sum(len(sets_for(config)) for config in PRESETS.values()) * 2
    shards = [shard(jobs, i, 3) for i in (1, 2, 3)]
    assert sorted(sum(shards, []), key=jobs.index) == jobs
    assert shard(jobs, 2, 3) == shards[1]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("sim", SIMULATORS)
def test_levels_grow_from_quick_to_full(sim):
    quick, standard, full = (plan({"dpu": PRESETS["dpu"]}, [sim], level) for level in
                             ("quick", "standard", "full"))

    def size(limit):
        return math.inf if limit is None else limit
    by_test = {job.test: size(job.limit) for job in standard}
    assert all(size(job.limit) <= by_test[job.test] for job in quick)
    assert any(size(job.limit) < by_test[job.test] for job in quick)
    assert all(job.limit is None for job in full)


def test_test_seed_depends_on_regression_seed_and_test_only():
    one = plan({"dpu": PRESETS["dpu"]}, ["icarus", "verilator"], "quick", seed=5, tests=["random"])
    two = plan({"x": PRESETS["tile2x2"]}, ["verilator"], "full", seed=5, tests=["random"])
    assert one[0].test_seed == one[1].test_seed == two[0].test_seed
    assert plan({"dpu": PRESETS["dpu"]}, ["icarus"], "quick", seed=6, tests=["random"])[0].test_seed \
        != one[0].test_seed


def _summary(test, passed=True):
    return {"config": "dpu", "sim": "icarus", "test": test, "steps": 12, "steps_accepted": 12,
            "results_checked": 5, "mismatches": 0 if passed else 2, "steps_per_second": 30.0,
            "steps_per_cycle": 0.5, "wall_seconds": 0.4, "passed": passed,
            "failure": None if passed else "test b seed 9: 2 mismatching results, first result #1",
            "rerun": "mxdpu regress --preset dpu --sim icarus --test b --seed 1"}


def test_summary_table_has_a_row_per_test_and_a_total():
    lines = summary_table([_summary("a"), _summary("b", passed=False)]).splitlines()
    assert lines[0].split() == ["config", "sim", "test", "steps", "results", "mismatches", "steps/s",
                                "steps/cycle", "status"]
    assert lines[2].split() == ["dpu", "icarus", "a", "12", "5", "0", "30", "0.500", "ok"]
    assert lines[3].split()[-1] == "FAIL"
    assert lines[4].split()[:6] == ["dpu", "icarus", "(all)", "24", "10", "30"]


def test_junit_report_lists_every_test_with_its_failure(tmp_path):
    from mxdpu.scripts.regress import write_junit
    write_junit(tmp_path / "r.xml", [_summary("a"), _summary("b", passed=False)])
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a", "b"]
    assert cases[0].find("failure") is None
    assert cases[1].find("failure").get("message").startswith("test b seed 9")


@pytest.mark.slow
def test_regress_passes_known_answers_and_writes_junit(tmp_path, capsys):
    status = main(["regress", "--sim", "verilator", "--test", "kat,corners", "--quick", "--no-progress",
                   "--junit", str(tmp_path / "r.xml")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "2 of 2 tests passed" in out
    assert [c.get("name") for c in ET.parse(tmp_path / "r.xml").getroot()] == ["kat", "corners"]


@pytest.mark.slow
def test_regress_fails_on_a_broken_design_naming_test_seed_and_first_mismatch(capsys):
    status = main(["regress", "--sim", "verilator", "--test", "kat", "--quick", "--no-progress",
                   "--flip-result", "0:31"])
    captured = capsys.readouterr()
    assert status == 1
    fail = [line for line in captured.err.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1
    assert "test kat seed" in fail[0] and "first result #0" in fail[0]
    rerun = fail[0].split("(rerun: ")[1].rstrip(")")
    assert rerun.startswith("mxdpu regress --rows 1 --cols 1 --block 32 ")
    assert rerun.endswith(" --quick --sim verilator --test kat --seed 1 --flip-result 0:31")


@pytest.mark.parametrize("level", ["quick", "standard", "full"])
def test_rerun_command_reproduces_the_same_design_and_stream(level):
    config = PRESETS["tile2x2"].replace(depth=3, pipe_unpack=1, acc_stages=1, formats=("e4m3", "e5m2", "e2m1"))
    job = plan({"custom": config}, ["icarus"], level, seed=11, tests=["random"])[0]
    argv = rerun_command(job).split()
    assert argv[:2] == ["mxdpu", "regress"]
    args = build_parser().parse_args(argv[1:])
    [(name, again)] = configurations(args).items()
    [rerun] = plan({name: again}, args.sim.split(","), args.level, args.seed, args.test.split(","))
    assert (rerun.config, rerun.sim, rerun.test, rerun.test_seed, rerun.limit) == \
        (config, job.sim, job.test, job.test_seed, job.limit)
    first, second = (make_stream(j.config, j.test, j.test_seed, j.limit) for j in (job, rerun))
    assert all(np.array_equal(getattr(first, f), getattr(second, f)) for f in STEP_FIELDS)


def test_hif8_sets_run_only_on_builds_with_hif8(error_line):
    hif8 = PRESETS["dpu"].replace(formats=("e4m3", "e5m2", "hif8"))
    jobs = plan({"dpu": PRESETS["dpu"], "dpu_hif8": hif8}, ["verilator"], "full")
    assert {job.test for job in jobs if job.config_name == "dpu"} == set(sets_for(PRESETS["dpu"]))
    assert {"pairs_hif8_hif8_normal", "pairs_e5m2_hif8_overflow", "corners_hif8", "kat_hif8"} \
        <= {job.test for job in jobs if job.config_name == "dpu_hif8"} - set(sets_for(PRESETS["dpu"]))
    assert main(["regress", "--preset", "dpu", "--test", "kat_hif8"]) == 2
    assert "Test kat_hif8 needs formats hif8, which dpu does not enable" in error_line()


def test_full_regression_includes_a_hif8_build():
    from mxdpu.scripts.regress import FULL_EXTRA
    assert any("hif8" in config.formats for config in FULL_EXTRA.values())


MODE_SETS = [name for name in SETS if name.startswith("mode_")] + ["kat_mmasim"]


def test_mode_sets_run_only_on_builds_with_modes():
    from mxdpu.scripts.regress import FULL_EXTRA
    configs = {**PRESETS, **FULL_EXTRA, "blackwell": PRESETS["dpu"].replace(modes=("blackwell",))}
    jobs = plan(configs, ["icarus", "verilator"], "full")
    tests = {name: {job.test for job in jobs if job.config_name == name} for name in configs}
    for name in (*PRESETS, "dpu_hif8"):                 # exact-only builds: the sets they ran before
        assert not tests[name] & set(MODE_SETS)
        assert tests[name] == {n for n in SETS if n not in MODE_SETS
                               and ("hif8" not in n or "hif8" in configs[name].formats)}
    for name in ("dpu_modes", "tile2x2_modes"):
        assert set(MODE_SETS) <= tests[name]
    assert tests["blackwell"] & set(MODE_SETS) == {"kat_mmasim", *(f"mode_{kind}_blackwell" for kind in
                                                                   ("random", "specials", "corners", "chains"))}
    assert "kat" not in tests["blackwell"]


def test_full_regression_includes_1x1_and_2x2_builds_with_every_mode():
    from mxdpu.scripts.regress import FULL_EXTRA
    shapes = {(c.rows, c.cols) for c in FULL_EXTRA.values() if c.modes == ("exact", "blackwell", "hopper")}
    assert shapes == {(1, 1), (2, 2)}
    args = build_parser().parse_args(["regress", "--full"])
    assert {"dpu_modes", "tile2x2_modes"} <= set(configurations(args))


def test_modes_work_with_a_preset():
    args = build_parser().parse_args(["regress", "--preset", "tile2x2", "--modes", "hopper,exact"])
    [(name, config)] = configurations(args).items()
    assert name == "custom" and config == PRESETS["tile2x2"].replace(modes=("exact", "hopper"))
    args = build_parser().parse_args(["regress", "--preset", "dpu", "--modes", "exact,blackwell,hopper",
                                      "--formats", "e4m3,e5m2,e3m2,e2m3,e2m1"])
    assert list(configurations(args)) == ["dpu_modes"]


@pytest.mark.parametrize("level, sim, test, limit", [
    ("quick", "verilator", "mode_corners_hopper", None), ("quick", "icarus", "mode_specials_blackwell", 32),
    ("quick", "icarus", "mode_switch", 16), ("standard", "verilator", "mode_random_hopper", 1024),
    ("quick", "icarus", "kat_mmasim", None), ("quick", "icarus", "pairs_e4m3_e5m2_normal", 8),
    ("quick", "verilator", "gauss_hif8_floor", 64),
])
def test_level_of_a_set_is_its_longest_listed_prefix(level, sim, test, limit):
    config = PRESETS["dpu"].replace(modes=("exact", "blackwell", "hopper"), formats=("e4m3", "e5m2", "hif8"))
    [job] = plan({"modes": config}, [sim], level, tests=[test])
    assert job.limit == limit
