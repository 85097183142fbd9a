"""The stimulus sets cover what they claim, and the job file carries them intact (no simulator)."""

import dataclasses

import numpy as np
import pytest

from mxdpu.hw.config import MODE_CODES, PRESETS, Config
from mxdpu.verif.bench.job import BenchOptions, check_summary, load_job, save_job
from mxdpu.verif.golden import GoldenTile
from mxdpu.verif.kat import HIF8_KAT, MMASIM_KAT, PUBLIC_KAT, read_kat
from mxdpu.verif.modes import VENDOR_MODES, VENDOR_NAN
from mxdpu.verif.stimulus import (MODE_NEEDS, SETS, Stream, StreamBuilder, expected_results, make_stream,
                                  sets_for)
from tests.common import TILE_2X3_K16

DPU = PRESETS["dpu"]
TILE = TILE_2X3_K16
ALL_MODES = tuple(MODE_CODES)
#: the dpu and a 2×3 tile (k = 16) with every mode; the 2×3 with blackwell's FP6 and FP4 formats too
DPU_MODES = DPU.replace(modes=ALL_MODES)
TILE_MODES = TILE.replace(modes=ALL_MODES, formats=("e4m3", "e5m2", "e3m2", "e2m3", "e2m1"))
MODE_SETS = [name for name in SETS if name.startswith("mode_")] + ["kat_mmasim"]
CANONICAL_NAN = 0x7FC00000


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


def test_known_answers_leave_out_rule_1_cases_of_formats_the_build_enables():
    config = DPU.replace(formats=("e4m3", "e5m2", "e3m2"))
    cases = read_kat(PUBLIC_KAT)
    stream = make_stream(config, "kat", seed=1, limit=None)
    assert len(stream.expected) == len(cases) - sum(any(2 in (s["a_format"], s["b_format"]) for s in c["steps"])
                                                    for c in cases) == len(cases) - 1
    golden = expected_results(config, Stream(**stream.arrays(), resets=stream.resets))
    assert np.array_equal(golden.d, stream.expected.d) and np.array_equal(golden.flags, stream.expected.flags)
    hif8 = DPU.replace(formats=("e4m3", "e5m2", "hif8"))
    fitting = [c for c in read_kat(HIF8_KAT) if not any(any(s[op][32:]) for s in c["steps"] for op in "ab")]
    assert len(make_stream(hif8, "kat_hif8", seed=1, limit=None).expected) == len(fitting)


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
    stream = make_stream(TILE_MODES, name, seed=9, limit=40)
    assert 0 < len(stream) <= 40 or name in ("kat", "corners")
    assert stream.a.shape[1:] == (TILE.rows, TILE.block) and stream.b.shape[1:] == (TILE.cols, TILE.block)
    assert stream.slot.max() < TILE.depth
    assert stream.mode.shape == stream.slot.shape and set(stream.mode.tolist()) <= {0, 1, 2, 3}


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



# -- accumulation modes (SPEC §6) ----------------------------------------------------------------

def test_stream_mode_defaults_to_exact_and_reaches_the_golden_model():
    builder = StreamBuilder(DPU_MODES)
    # 1 + 2^-23 (E5M2 1·1 + 2^-16·2^-7) in exact, then a zero block in each mode on the same slot
    one_ulp = ([0x3C, 0x01] + [0] * 30, 127, [0x3C, 0x20] + [0] * 30, 127, 1, 1)
    for mode in (0, 1, 2):
        builder.step(*one_ulp, slot=mode, first=1, last=0)
        builder.step([0] * 32, 127, [0] * 32, 127, 0, 0, slot=mode, first=0, last=1, mode=mode)
    stream = builder.build()
    assert stream.mode.tolist() == [0, 0, 0, 1, 0, 2]
    assert stream.step_kwargs(5)["mode"] == 2
    assert expected_results(DPU_MODES, stream).d[:, 0, 0].tolist() == [0x3F800001, 0x3F800001, 0x3F800000]
    fields = {name: getattr(stream, name) for name in stream.arrays() if name != "mode"}
    assert Stream(**fields).mode.tolist() == [0] * 6


@pytest.mark.parametrize("name", MODE_SETS)
def test_mode_sets_expected_results_are_the_golden_models_step_by_step(name):
    """expected_results (the bulk run with the mode column) equals GoldenTile.step, step by step,
    with each step's mode (d from MMA-Sim's file for kat_mmasim: the golden model agrees)."""
    stream = make_stream(TILE_MODES, name, seed=4, limit=120)
    expected = expected_results(TILE_MODES, stream)
    tile = GoldenTile(TILE_MODES)
    results = [r for n in range(len(stream)) if (r := tile.step(**stream.step_kwargs(n)))]
    assert len(results) == len(expected) > 0
    assert np.array_equal(np.array([r["d"] for r in results], np.uint32), expected.d)
    assert np.array_equal(np.array([r["flags"] for r in results], np.uint8), expected.flags)
    assert [r["slot"] for r in results] == expected.slot.tolist()


# (steps, results) of each whole mode set on the three-mode dpu, seed 1
MODE_SET_SIZES = {
    "kat_mmasim": (71, 49), "mode_switch": (2048, 450), "mode_absent": (1024, 317),
    **{f"mode_{kind}_{mode}": size for mode in ("blackwell", "hopper") for kind, size in
       (("random", (2048, 626)), ("specials", (330, 180)), ("corners", (206, 121)), ("chains", (1024, 16)))},
}


@pytest.mark.parametrize("name", MODE_SETS)
def test_mode_set_sizes(name):
    stream = make_stream(DPU_MODES, name, seed=1, limit=None)
    assert (len(stream), len(expected_results(DPU_MODES, stream))) == MODE_SET_SIZES[name]
    assert len(make_stream(DPU_MODES, name, seed=1, limit=30)) <= 30


def _results(config, name, seed=1, limit=None):
    stream = make_stream(config, name, seed=seed, limit=limit)
    expected = expected_results(config, stream)
    return stream, expected, expected.d.reshape(-1), expected.flags.reshape(-1)


@pytest.mark.parametrize("mode", ["blackwell", "hopper"])
def test_mode_random_uses_the_modes_formats_and_codes_outside_them(mode):
    code = MODE_CODES[mode]
    stream, expected, d, flags = _results(TILE_MODES, f"mode_random_{mode}")
    assert (stream.mode == code).all()
    takes = set(VENDOR_MODES[code].formats) & set(TILE_MODES.format_codes)
    inside = np.isin(stream.a_format, list(takes)) & np.isin(stream.b_format, list(takes))
    assert set(stream.a_format[inside].tolist()) == takes
    assert 0.03 < (~inside).mean() < 0.1
    # a `last` step naming a format outside the list: this mode's NaN with invalid in every PE
    outside_last = (~inside)[expected.step]
    assert outside_last.any()
    assert (expected.d[outside_last] == VENDOR_NAN).all() and (expected.flags[outside_last] & 1).all()
    assert not (flags & 0b1100).any()                        # no underflow, no inexact in these modes


@pytest.mark.parametrize("mode", ["blackwell", "hopper"])
def test_mode_specials_reach_every_special_rule(mode):
    stream, expected, d, flags = _results(DPU_MODES, f"mode_specials_{mode}")
    assert ((d == VENDOR_NAN) & (flags & 1 == 1)).any()      # rules 2, 3
    assert ((d == VENDOR_NAN) & (flags & 1 == 0)).any()      # rule 4
    assert (d == 0x7F800000).any() and (d == 0xFF800000).any()
    assert (stream.a_scale == 0xFF).any() and (stream.b_scale == 0xFF).any()
    # accumulators before the second step of a case: ±Inf, NaN and subnormal among them
    firsts = np.flatnonzero(stream.first & ~stream.last)
    tile, before = GoldenTile(DPU_MODES), []
    for n in firsts:
        tile.reset()
        tile.step(**{**stream.step_kwargs(n), "last": 0})
        before.append(int(tile.d[stream.slot[n], 0, 0]))
    before = np.array(before, np.uint32)
    assert {0x7F800000, 0xFF800000, VENDOR_NAN} <= set(before.tolist())
    assert (((before & 0x7F800000) == 0) & ((before & 0x7FFFFF) != 0)).any()


def test_mode_corners_show_truncation_where_exact_rounds():
    _, _, d, flags = _results(DPU_MODES, "mode_corners_blackwell")
    assert (d == 0x7F7FFFFF).any()                           # 2^128 − 2^103 (exact: Inf)
    assert (d == 0x3F800001).any()                           # 1 + 2^-23 kept
    assert ((d > 0x3F700000) & (d < 0x3F800000)).any()       # 1 − tiny products
    assert ((d == 0x7F800000) & (flags & 2 == 2)).any()      # 2^128 and beyond
    assert (((d & 0x7F800000) == 0) & ((d & 0x7FFFFF) != 0)).any()
    stream, _, d, _ = _results(DPU_MODES, "mode_corners_hopper")
    assert (d == 0x3F800000).any()                           # 1 + 2^-23 then a zero block: 1.0
    assert (d == 0x7F7FFC00).any()                           # the ladder cut to 13 fraction bits
    small = ((d & 0x7F800000) == 0) & ((d & 0x7FFFFF) != 0)
    assert small.any() and not (d[small] & 0x3FF).any()      # below 2^-126: multiples of 2^-139
    assert {0, 2} <= set(stream.mode.tolist())               # 1 + 2^-23 made in exact


@pytest.mark.parametrize("mode", ["blackwell", "hopper"])
def test_mode_chains_differ_from_exact_and_hopper_keeps_14_bits(mode):
    stream, _, d, _ = _results(DPU_MODES, f"mode_chains_{mode}")
    exact = expected_results(DPU_MODES, Stream(**{**stream.arrays(), "mode": np.zeros_like(stream.mode)}))
    differ = (exact.d.reshape(-1) != d).mean()
    assert differ > (0.9 if mode == "hopper" else 0.3)
    if mode == "hopper":
        assert not (d & 0x3FF).any()                          # 13 fraction bits
    assert stream.last.sum() == 16 and (np.bincount(stream.slot[stream.first]) >= 1).all()


def test_mode_switch_changes_mode_within_accumulations():
    stream = make_stream(DPU_MODES, "mode_switch", seed=1, limit=None)
    assert set(stream.mode.tolist()) == {0, 1, 2}
    prev, changes = {}, 0
    for n, (t, f, m) in enumerate(zip(stream.slot.tolist(), stream.first.tolist(), stream.mode.tolist())):
        changes += (not f) and t in prev and prev[t] != m
        prev[t] = None if stream.last[n] else m
    assert changes > 200


@pytest.mark.parametrize("modes", [ALL_MODES, ("exact", "hopper"), ("blackwell", "hopper")])
def test_mode_absent_sends_codes_the_build_lacks_and_gets_canonical_nan(modes):
    config = DPU.replace(modes=modes)
    stream, expected, _, _ = _results(config, "mode_absent")
    lacking = sorted({0, 1, 2, 3} - set(config.mode_codes))
    assert sorted(set(stream.mode.tolist()) - set(config.mode_codes)) == lacking
    last_lacking = np.isin(stream.mode[expected.step], lacking)
    assert last_lacking.sum() > 30
    assert (expected.d[last_lacking] == CANONICAL_NAN).all() and (expected.flags[last_lacking] & 1).all()


@pytest.mark.parametrize("config", [DPU_MODES, TILE_MODES, DPU.replace(modes=("hopper",))],
                         ids=["dpu_modes", "tile_modes_k16", "hopper_only"])
def test_mmasim_answers_are_the_files_and_the_golden_model_agrees(config):
    stream = make_stream(config, "kat_mmasim", seed=1, limit=None)
    cases = [c for c in read_kat(MMASIM_KAT) if c["k"] == config.block
             and all(s["mode"] in config.modes and {s["a_format"], s["b_format"]} <= set(config.format_codes)
                     for s in c["steps"])]
    assert len(stream.expected) == len(cases) > 0
    assert (stream.expected.d == np.array([c["d"] for c in cases], np.uint32)[:, None, None]).all()
    golden = expected_results(config, Stream(**stream.arrays(), resets=stream.resets))
    assert np.array_equal(golden.d, stream.expected.d) and np.array_equal(golden.flags, stream.expected.flags)


def test_mode_sets_run_only_on_builds_with_their_modes():
    assert sets_for(DPU) == [name for name in SETS if "hif8" not in name and name not in MODE_SETS]
    assert set(MODE_SETS) <= set(sets_for(DPU_MODES))
    blackwell = sets_for(DPU.replace(modes=("blackwell",)))
    assert "kat" not in blackwell and "mode_random_blackwell" in blackwell and "kat_mmasim" in blackwell
    assert not {"mode_random_hopper", "mode_switch", "mode_absent"} & set(blackwell)
    assert {"mode_switch", "mode_absent"} <= set(sets_for(DPU.replace(modes=("exact", "hopper"))))
    assert set(MODE_NEEDS) >= set(MODE_SETS)
