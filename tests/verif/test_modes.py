"""verif/modes.py (SPEC §6's blackwell and hopper modes) against the Fraction reference, bit for bit,
the corners SPEC §6 names, and the modes inside GoldenTile."""


import numpy as np
import pytest

from mxdpu.hw.config import Config
from mxdpu.verif.stimulus import random_chunks
from mxdpu.verif.golden import INEXACT, INVALID, OVERFLOW, GoldenTile, pe_step
from mxdpu.verif.modes import MODE_CODES, MODES, VENDOR_NAN, vendor_step, vendor_steps
from tests.verif.exact_reference import NAN_BITS, reference_step
from tests.verif.modes_reference import MODE_RULES, reference_mode_step

ALL_MODE_FORMATS = ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")
ONE, E4M3_448 = 0x38, 0x7E          # E4M3 codes of 1.0 and 448
HOPPER = MODE_CODES["hopper"]


def _pairs(mode):
    codes = MODE_RULES[mode][2]
    return [(mode, fa, fb) for fa in codes for fb in codes]


@pytest.mark.parametrize("k", [16, 32, 128])
@pytest.mark.parametrize("mode, fa, fb", _pairs("blackwell") + _pairs("hopper"))
def test_random_steps_match_fraction_reference(mode, fa, fb, k):
    rng = np.random.default_rng([fa, fb, k, len(mode)])
    n = 24 if k == 128 else 60
    steps = random_chunks(rng, fa, fb, n, k)
    bits, flags = vendor_steps(np.full(n, MODE_CODES[mode]), np.full(n, fa), np.full(n, fb),
                               steps["a"][:, None], steps["b"][:, None], steps["sa"][:, None],
                               steps["sb"][:, None], steps["c"][:, None, None], ALL_MODE_FORMATS)
    assert bits.shape == flags.shape == (n, 1, 1)
    for i in range(n):
        want = reference_mode_step(mode, fa, fb, steps["a"][i], steps["b"][i], int(steps["sa"][i]),
                                   int(steps["sb"][i]), int(steps["c"][i]), ALL_MODE_FORMATS)
        assert (int(bits[i, 0, 0]), int(flags[i, 0, 0])) == want, i


def _one(mode, a0, b0, sa=127, sb=127, d=0, fmt=0, k=32):
    a, b = [0] * k, [0] * k
    a[0], b[0] = a0, b0
    return vendor_step(mode, fmt, fmt, a, b, sa, sb, d)


def test_hopper_zero_chunk_still_truncates_c():
    assert _one("hopper", 0, 0, d=0x3F800001) == (0x3F800000, 0)      # 1 + 2^-23 -> 1.0
    assert _one("blackwell", 0, 0, d=0x3F800001) == (0x3F800001, 0)


def test_blackwell_truncates_below_two_to_128_where_exact_overflows():
    # 0x7F7FFFFF = 2^128 - 2^104, plus a product 2^103 (1.0 x 1.0 at scale 2^103)
    a = [ONE] + [0] * 31
    assert _one("blackwell", ONE, ONE, sa=127 + 103, d=0x7F7FFFFF) == (0x7F7FFFFF, 0)
    assert pe_step(0, 0, a, a, 127 + 103, 127, 0x7F7FFFFF) == (0x7F800000, OVERFLOW | INEXACT)


def test_finite_sum_beyond_range_is_inf_with_overflow():
    assert _one("blackwell", E4M3_448, E4M3_448, sa=254, sb=254) == (0x7F800000, OVERFLOW)
    assert _one("hopper", E4M3_448 | 0x80, E4M3_448, sa=254, sb=254) == (0xFF800000, OVERFLOW)


def test_inf_element_is_inf_without_overflow():
    assert _one("hopper", 0x7C, 0x3C, fmt=1) == (0x7F800000, 0)        # E5M2 +Inf x 1.0


def test_cancellation_to_zero_is_positive_zero():
    assert _one("blackwell", ONE | 0x80, ONE, d=0x3F800000) == (0, 0)   # -1 + 1
    assert _one("hopper", ONE | 0x80, ONE, d=0x3F800000) == (0, 0)


def test_hopper_result_below_two_to_minus_139_is_positive_zero():
    # C = -2^-149 (an FP32 subnormal) alone: hopper keeps multiples of 2^-139 only
    assert _one("hopper", 0, 0, d=0x80000001) == (0, 0)
    assert _one("blackwell", 0, 0, d=0x80000001) == (0x80000001, 0)


def test_nan_is_vendor_nan_and_inf_times_zero_invalid():
    assert _one("blackwell", 0x7F, ONE) == (VENDOR_NAN, 0)             # E4M3 NaN element
    assert _one("blackwell", ONE, ONE, sa=0xFF) == (VENDOR_NAN, 0)     # NaN scale
    assert _one("hopper", 0x7C, 0, fmt=1) == (VENDOR_NAN, INVALID)     # Inf x 0
    assert _one("hopper", 0x7C, 0x3C, fmt=1, d=0xFF800000) == (VENDOR_NAN, INVALID)   # +Inf and -Inf


def test_format_outside_mode_is_vendor_nan_invalid():
    assert vendor_step("hopper", 2, 0, [0] * 32, [0] * 32, 127, 127, 0) == (VENDOR_NAN, INVALID)
    assert vendor_step("blackwell", 5, 0, [0] * 32, [0] * 32, 127, 127, 0) == (VENDOR_NAN, INVALID)


def test_format_not_enabled_is_vendor_nan_invalid():
    assert vendor_step("blackwell", 4, 4, [0] * 32, [0] * 32, 127, 127, 0, enabled=("e4m3", "e5m2")) \
        == (VENDOR_NAN, INVALID)


def test_overflow_in_first_chunk_is_inf_in_the_second_without_new_overflow():
    a = [E4M3_448] + [0] * 31 + [ONE] + [0] * 31
    assert vendor_step("blackwell", 0, 0, a, a, 254, 254, 0) == (0x7F800000, OVERFLOW)


def test_chunks_run_in_order():
    # chunk 0: 256 x 256 + 1 x 1, which hopper truncates to 2^16; chunk 1: -256 x 256. In order
    # hopper gives 0 (the other order would give 1); blackwell keeps 2^16 + 1 and gives 1
    a = [0x78, ONE] + [0] * 30 + [0xF8] + [0] * 31
    b = [0x78, ONE] + [0] * 30 + [0x78] + [0] * 31
    assert vendor_step("hopper", 0, 0, a, b, 127, 127, 0) == (0, 0)
    assert vendor_step("blackwell", 0, 0, a, b, 127, 127, 0) == (0x3F800000, 0)


def _tile_steps(rng, cfg, n, slot_count):
    steps = []
    for i in range(n):
        mode = int(rng.integers(0, 3))
        fa, fb = (int(x) for x in rng.integers(0, 2, 2))
        chunk_a = random_chunks(rng, fa, fa, cfg.rows, cfg.block)
        chunk_b = random_chunks(rng, fb, fb, cfg.cols, cfg.block)
        steps.append(dict(a=chunk_a["a"].tolist(), a_scale=chunk_a["sa"].tolist(), b=chunk_b["b"].tolist(),
                          b_scale=chunk_b["sb"].tolist(), a_format=fa, b_format=fb,
                          slot=int(rng.integers(0, slot_count)), first=int(rng.random() < 0.3),
                          last=int(rng.random() < 0.3), mode=mode))
    return steps


@pytest.mark.parametrize("block", [32, 64])
def test_tile_mixed_modes_on_one_slot_match_sequential_reference(block):
    cfg = Config(rows=2, cols=2, block=block, lanes=block, depth=2, modes=ALL_MODES)
    rng = np.random.default_rng(block)
    steps = _tile_steps(rng, cfg, 60, cfg.depth)
    results = GoldenTile(cfg).run(steps)
    d = np.zeros((cfg.depth, 2, 2), np.int64)
    flags = np.zeros((cfg.depth, 2, 2), np.int64)
    expected = []
    for s in steps:
        t = s["slot"]
        if s["first"]:
            d[t], flags[t] = 0, 0
        for r in range(2):
            for c in range(2):
                args = (s["a_format"], s["b_format"], s["a"][r], s["b"][c], s["a_scale"][r], s["b_scale"][c],
                        int(d[t, r, c]), cfg.formats)
                if s["mode"] == 0:
                    bits, raised = reference_step(*args)
                else:
                    bits, raised = reference_mode_step(("", "blackwell", "hopper")[s["mode"]], *args)
                d[t, r, c], flags[t, r, c] = bits, flags[t, r, c] | raised
        if s["last"]:
            expected.append({"d": d[t].tolist(), "flags": flags[t].tolist(), "slot": t})
            d[t], flags[t] = 0, 0
    assert results == expected
    assert len(results) == sum(s["last"] for s in steps) > 0


def test_reserved_mode_is_canonical_nan_invalid():
    tile = GoldenTile(_built(ALL_MODES))
    out = tile.step(a=[[ONE] * 32], a_scale=[127], b=[[ONE] * 32], b_scale=[127], a_format=0, b_format=0, mode=3)
    assert (out["d"], out["flags"]) == ([[NAN_BITS]], [[INVALID]])


ALL_MODES = MODES


def _built(modes):
    return Config(depth=1, modes=modes)


def test_mode_the_build_lacks_is_canonical_nan_invalid():
    tile = GoldenTile(_built(("exact", "blackwell")))
    out = tile.step(a=[[ONE] * 32], a_scale=[127], b=[[ONE] * 32], b_scale=[127], a_format=0, b_format=0,
                    mode=HOPPER)
    assert (out["d"], out["flags"]) == ([[NAN_BITS]], [[INVALID]])
    tile = GoldenTile(_built(("blackwell", "hopper")))
    out = tile.step(a=[[ONE] * 32], a_scale=[127], b=[[ONE] * 32], b_scale=[127], a_format=0, b_format=0, mode=0)
    assert (out["d"], out["flags"]) == ([[NAN_BITS]], [[INVALID]])


def test_single_mode_build_runs_every_step_in_its_mode():
    # 256 x 256 + 1 x 1: exact 65537, hopper's 14 bits 65536; the step's mode field (0) is ignored
    a = [0x78, ONE] + [0] * 30
    out = GoldenTile(_built(("hopper",))).step(a=[a], a_scale=[127], b=[a], b_scale=[127],
                                                          a_format=0, b_format=0, mode=0)
    assert (out["d"], out["flags"]) == ([[0x47800000]], [[0]])


def test_tile_refuses_mode_outside_two_bits():
    with pytest.raises(ValueError, match="Mode must be a 2-bit code 0..3"):
        GoldenTile(_built(ALL_MODES)).step(a=[[0] * 32], a_scale=[127], b=[[0] * 32], b_scale=[127],
                                          a_format=0, b_format=0, mode=4)
