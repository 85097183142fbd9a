"""The stimulus sets cover what they claim, and the job file carries them intact (no simulator)."""

import dataclasses

import numpy as np
import pytest

from mxdpu.hw.config import Config, PRESETS
from mxdpu.verif.bench.job import BenchOptions, check_summary, load_job, save_job
from mxdpu.verif.kat import PUBLIC_KAT, read_kat
from mxdpu.verif.stimulus import SETS, expected_results, make_stream
from tests.common import TILE_2X3_K16

DPU = PRESETS["dpu"]
TILE = TILE_2X3_K16


def _covered_pairs(config, stream):
    """Every (a code, b code) product that some PE computes in some step, as a 256×256 mask."""
    seen = np.zeros((256, 256), bool)
    for r in range(config.rows):
        for c in range(config.cols):
            seen[stream.a[:, r, :].reshape(-1), stream.b[:, c, :].reshape(-1)] = True
    return seen


@pytest.mark.parametrize("config", [DPU, TILE], ids=["dpu", "tile2x3_k16"])
@pytest.mark.parametrize("name", ["pairs_e4m3_e4m3_normal", "pairs_e5m2_e4m3_subnormal"])
def test_operand_pairs_cover_every_pair(config, name):
    stream = make_stream(config, name, seed=3, limit=None)
    assert _covered_pairs(config, stream).all()


def test_operand_pairs_slice_is_capped_and_seeded():
    one = make_stream(DPU, "pairs_e5m2_e5m2_normal", seed=5, limit=10)
    two = make_stream(DPU, "pairs_e5m2_e5m2_normal", seed=5, limit=10)
    assert len(one) == 10
    assert (one.a == two.a).all() and (one.b_scale == two.b_scale).all()


def _flags(config, name):
    stream = make_stream(config, name, seed=7, limit=400)
    expected = expected_results(config, stream)
    d = expected.d.reshape(-1)
    return d, expected.flags.reshape(-1)


def test_normal_regime_keeps_every_result_a_normal_binary32():
    d, flags = _flags(DPU, "pairs_e4m3_e5m2_normal")
    finite = (d & 0x7F800000) != 0x7F800000
    assert not (flags[finite] & 0b0110).any()  # neither overflow nor underflow


def test_subnormal_regime_reaches_subnormal_results():
    d, flags = _flags(DPU, "pairs_e4m3_e4m3_subnormal")
    subnormal = ((d & 0x7F800000) == 0) & ((d & 0x7FFFFF) != 0)
    assert subnormal.any() and (flags & 0b0100).any()


def test_overflow_regime_reaches_overflow():
    d, flags = _flags(DPU, "pairs_e5m2_e5m2_overflow")
    assert (flags & 0b0010).any() and ((d & 0x7FFFFFFF) == 0x7F800000).any()


@pytest.mark.parametrize("config", [DPU, TILE], ids=["dpu", "tile2x3_k16"])
def test_scale_pairs_cover_every_scale_pair(config):
    stream = make_stream(config, "scales", seed=1, limit=None)
    seen = np.zeros((256, 256), bool)
    for r in range(config.rows):
        for c in range(config.cols):
            seen[stream.a_scale[:, r], stream.b_scale[:, c]] = True
    assert seen.all()
    assert (stream.a == stream.a[0]).all() and (stream.b == stream.b[0]).all()


def _reuse_distances(slots):
    last, distances = {}, set()
    for n, t in enumerate(slots.tolist()):
        if t in last:
            distances.add(n - last[t])
        last[t] = n
    return distances


@pytest.mark.parametrize("config", [DPU, Config(depth=1), Config(depth=8, acc_stages=3)],
                         ids=["dpu", "depth1", "depth8"])
def test_hazard_slots_hit_every_reuse_distance(config):
    stream = make_stream(config, "hazards", seed=2, limit=600)
    reach = max(config.acc_latency, config.depth) + 2 if config.depth > 1 else 1
    assert set(range(1, reach + 1)) <= _reuse_distances(stream.slot)
    assert stream.first.any() and stream.last.any() and not stream.first.all()


def test_throughput_stream_rotates_slots_at_acc_latency():
    config = Config(depth=8)
    stream = make_stream(config, "throughput", seed=1, limit=100)
    assert _reuse_distances(stream.slot) == {min(config.acc_latency, config.depth)}


def test_known_answers_expected_are_the_files_and_the_golden_model_agrees():
    stream = make_stream(DPU, "kat", seed=1, limit=None)
    cases = read_kat(PUBLIC_KAT)
    assert len(stream.expected) == len(cases)
    assert list(zip(stream.expected.d[:, 0, 0].tolist(), stream.expected.flags[:, 0, 0].tolist())) == \
        [(c["d"], c["flags"]) for c in cases]
    golden = expected_results(DPU, stream.__class__(**stream.arrays(), resets=stream.resets))
    assert np.array_equal(golden.d, stream.expected.d) and np.array_equal(golden.flags, stream.expected.flags)


def test_known_answers_pad_k128_and_broadcast_to_every_pe():
    config = Config(rows=2, cols=2, block=128, lanes=32)
    stream = make_stream(config, "kat", seed=1, limit=None)
    golden = expected_results(config, stream.__class__(**stream.arrays(), resets=stream.resets))
    assert len(golden) == len(read_kat(PUBLIC_KAT))
    assert np.array_equal(golden.d, stream.expected.d) and np.array_equal(golden.flags, stream.expected.flags)


def test_known_answers_k16_keep_only_cases_that_fit():
    config = Config(block=16, lanes=16)
    stream = make_stream(config, "kat", seed=1, limit=None)
    assert 0 < len(stream.expected) < len(read_kat(PUBLIC_KAT))
    golden = expected_results(config, stream.__class__(**stream.arrays(), resets=stream.resets))
    assert np.array_equal(golden.d, stream.expected.d) and np.array_equal(golden.flags, stream.expected.flags)


def test_corners_reach_every_precedence_rule():
    stream = make_stream(DPU, "corners", seed=1, limit=None)
    expected = expected_results(DPU, stream)
    d, flags = expected.d.reshape(-1), expected.flags.reshape(-1)
    assert ((d == 0x7FC00000) & (flags & 1 == 1)).any()        # rules 1-3
    assert ((d == 0x7FC00000) & (flags & 1 == 0)).any()        # rule 4
    assert (d == 0x7F800000).any() and (d == 0xFF800000).any()  # rule 5 and overflow
    assert (d == 0x80000000).any() and (d == 0).any()          # signed zeros
    assert (((d & 0x7F800000) == 0) & ((d & 0x7FFFFF) != 0)).any()  # subnormal results
    assert {0, 254} <= set(stream.a_scale.reshape(-1).tolist())


def test_reset_stream_splits_expected_results_into_epochs():
    stream = make_stream(DPU, "reset", seed=4, limit=200)
    expected = expected_results(DPU, stream)
    assert len(stream.resets) >= 1
    for n, epoch in zip(expected.step.tolist(), expected.epoch.tolist()):
        assert epoch == sum(1 for r in stream.resets if r <= n)


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_set_builds_a_small_slice_for_a_tile(name):
    stream = make_stream(TILE, name, seed=9, limit=40)
    assert 0 < len(stream) <= 40 or name in ("kat", "corners")
    assert stream.a.shape[1:] == (TILE.rows, TILE.block) and stream.b.shape[1:] == (TILE.cols, TILE.block)
    assert stream.slot.max() < TILE.depth


def test_job_file_round_trip(tmp_path):
    stream = make_stream(TILE, "reset", seed=4, limit=50)
    expected = expected_results(TILE, stream)
    options = BenchOptions("reset", 4, "m.json", "s.json", idle=0.1, backpressure=0.2, flip=(1, 3))
    save_job(tmp_path / "job.npz", stream, expected, options)
    stream2, expected2, options2 = load_job(tmp_path / "job.npz")
    assert options2 == options and stream2.resets == stream.resets
    for name, array in stream.arrays().items():
        assert np.array_equal(getattr(stream2, name), array), name
    for field in dataclasses.fields(expected):          # d, flags, slot, step and epoch
        assert np.array_equal(getattr(expected2, field.name), getattr(expected, field.name)), field.name


def _summary(**changes):
    summary = {"test": "t", "seed": 5, "stalled": False, "mismatches": 0, "first_mismatch": None,
               "steps": 10, "steps_accepted": 10, "results_expected": 4, "results_checked": 4,
               "results_dropped_by_reset": 0, "span_cycles": 18, "cycles_per_step": 2,
               "first_latency": 6, "manifest_latency": 6}
    summary.update(changes)
    return summary


@pytest.mark.parametrize("changes, message", [
    ({"mismatches": 1, "first_mismatch": "result #0"}, "1 mismatching results, first result #0"),
    ({"results_checked": 3}, "3 results checked"),
    ({"steps_accepted": 9}, "not every step"),
    ({"stalled": True}, "stalled"),
    ({"span_cycles": 19}, "10 steps accepted over 19 cycles, cycles_per_step 2 promises 18"),
    ({"results_expected": 0, "results_checked": 0}, "the stream has no last step"),
    ({"first_latency": 7}, "after 7 cycles"),
])
def test_closing_checks_name_test_and_seed(changes, message):
    check_summary(_summary(), BenchOptions("t", 5, "", "", throughput=True))
    with pytest.raises(AssertionError, match=message) as error:
        check_summary(_summary(**changes), BenchOptions("t", 5, "", "", throughput=True))
    assert str(error.value).startswith("test t seed 5")

