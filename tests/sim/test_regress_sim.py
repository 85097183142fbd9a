"""The top-level bench on Icarus and Verilator: a cross-section of every stimulus set on the `dpu`
preset and a small tile, the mode sets on a 1×1 and a 2×2 build with every mode, throughput on
every preset, and a broken design that must be caught."""

import pytest

from mxdpu.hw.config import PRESETS, Config
from mxdpu.sim.regress import failures, plan, run_regression
from mxdpu.scripts.regress import FULL_EXTRA
from mxdpu.sim.runner import SIMULATORS
from mxdpu.verif.stimulus import SETS, sets_for

# every test here builds and runs a simulator
pytestmark = pytest.mark.slow

# A small tile: 2×2 PEs, k = 16 in two 8-lane cycles per step, two slots, two PEs on each
# Accumulate (their slot reads and writes a cycle apart).
CONFIGS = {"dpu": PRESETS["dpu"],
           "tile2x2_k16": Config(rows=2, cols=2, block=16, lanes=8, depth=2, acc_share=2)}


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", CONFIGS)
def test_cross_section_of_every_stimulus_set(name, sim):
    jobs = plan({name: CONFIGS[name]}, [sim], "quick", seed=1)
    summaries = run_regression(jobs, progress=False)
    assert failures(summaries) == []
    assert [s["test"] for s in summaries] == sets_for(CONFIGS[name])
    assert all(s["results_checked"] + s["results_dropped_by_reset"] == s["results_expected"] > 0
               for s in summaries)
    reset = next(s for s in summaries if s["test"] == "reset")
    assert reset["results_checked"] > 0


# The --full regression's builds with every mode: the dpu and tile2x2 shapes, FP6 and FP4 enabled.
MODE_CONFIGS = {name: FULL_EXTRA[name] for name in ("dpu_modes", "tile2x2_modes")}
MODE_TESTS = ["kat", "corners", "kat_mmasim", *(name for name in SETS if name.startswith("mode_"))]


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", MODE_CONFIGS)
def test_mode_sets_on_builds_with_every_mode(name, sim):
    jobs = plan({name: MODE_CONFIGS[name]}, [sim], "quick", seed=1, tests=MODE_TESTS)
    summaries = run_regression(jobs, progress=False)
    assert failures(summaries) == []
    assert [s["test"] for s in summaries] == MODE_TESTS
    assert all(s["results_checked"] + s["results_dropped_by_reset"] == s["results_expected"] > 0
               for s in summaries)


# Every preset, in the default suite: a cold Verilator build of the larger presets takes minutes.
@pytest.mark.parametrize("preset", list(PRESETS))
def test_throughput_is_one_step_per_cycles_per_step(preset):
    config = PRESETS[preset]
    jobs = plan({preset: config}, ["verilator"], "quick", seed=2, tests=["throughput"])
    (summary,) = run_regression(jobs, progress=False)
    assert summary["passed"], summary["failure"]  # the closing checks: span and latency exact
    assert summary["span_cycles"] == (summary["steps_accepted"] - 1) * config.cycles_per_step
    assert summary["first_latency"] == config.latency


@pytest.mark.parametrize("sim", SIMULATORS)
def test_flipped_result_bit_is_caught_and_named(sim):
    jobs = plan({"dpu": PRESETS["dpu"]}, [sim], "quick", seed=3, tests=["kat"])
    (summary,) = run_regression(jobs, flip=(4, 7), progress=False)
    assert not summary["passed"]
    assert summary["mismatches"] == 1
    assert summary["failure"].startswith(f"test kat seed {jobs[0].test_seed}: 1 mismatching results, "
                                         "first result #4")
    assert "PE (0,0) d expected" in summary["failure"]
    (line,) = failures([summary])
    assert "--test kat --seed 3" in line
