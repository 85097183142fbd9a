"""verif/golden.py against the independent Fraction reference, bit for bit, and its properties."""

import functools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.common import ALL_FORMATS, E4M3, E5M2, TILE_2X3_K16
from tests.verif.exact_reference import INEXACT, NAN_BITS, element, reference_step, round_to_fp32
from mxdpu.hw.config import FORMAT_CODES, Config
from mxdpu.verif.formats import FORMATS, decode
from mxdpu.verif.golden import GoldenTile, accumulate, block_terms, pe_step

STEPS_PER_GROUP = 1300        # 8 groups: 10,400 random steps


@functools.cache
def _finite_codes(fmt):
    return np.array([c for c in range(256) if decode(fmt, c).kind == "finite"], np.int64)


def _element_block(rng, fmt, k):
    """k codes of `fmt` drawn from one of several shapes of block."""
    kind = rng.integers(0, 6)
    if kind == 0 or fmt > 6:                           # raw bytes, specials and high bits included
        return rng.integers(0, 256, k)
    finite = _finite_codes(fmt)
    codes = rng.choice(finite, k)
    if kind == 1:                                      # sparse: mostly zeros
        codes[rng.random(k) < 0.85] = rng.choice([0, 0x80 if fmt < 5 else 0])   # -0: none in INT8, HiF8
    elif kind == 2:              # the largest magnitudes and the smallest (wide E5M2, HiF8 sums)
        top = finite[np.argsort([abs(decode(fmt, int(c)).mag) for c in finite])][-4:]
        codes = rng.choice(top, k)
        codes[rng.integers(0, k)] = 1
    elif kind == 3:                                    # one special among finite values
        codes[rng.integers(0, k)] = rng.integers(0, 256)
    return codes


def _scale(rng):
    kind = rng.integers(0, 4)
    if kind == 0:
        return int(rng.choice([0, 1, 126, 127, 128, 253, 254, 255]))
    if kind == 1:
        return int(rng.integers(0, 255))
    return int(rng.integers(100, 155))


def _accumulator(rng, block_value):
    """binary32 bits for D: zeros, subnormals, normals anywhere, Inf, NaN, max, or near ±block."""
    kind = rng.integers(0, 9)
    sign = int(rng.integers(0, 2)) << 31
    if kind == 0:
        return sign
    if kind == 1:
        return sign | int(rng.integers(1, 1 << 23))
    if kind == 2:
        return sign | int(rng.integers(1 << 23, 0x7F800000))
    if kind == 3:
        return sign | int(rng.choice([0x7F800000, 0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0x7F7FFFFF]))
    if block_value is None or block_value == 0:
        return sign | int(rng.integers(0x30000000, 0x50000000))
    bits, _ = round_to_fp32(block_value * (-1 if kind < 7 else 1))
    if bits & 0x7F800000 == 0x7F800000:
        return bits
    return (bits + int(rng.integers(-2, 3))) & 0xFFFFFFFF if kind == 6 else bits


def _block_value(fmt_a, fmt_b, a, b, sa, sb):
    """Exact finite block value, or None when a special or a disabled format is involved."""
    if fmt_a > 6 or fmt_b > 6 or 255 in (sa, sb):
        return None
    total = 0
    for x, y in zip(a, b):
        (ka, va), (kb, vb) = element(fmt_a, int(x)), element(fmt_b, int(y))
        if ka != "finite" or kb != "finite":
            return None
        total += va * vb
    return total * Fraction(2) ** (sa + sb - 254)


def _random_steps(rng, n, k, formats):
    steps = []
    for _ in range(n):
        fa, fb = (int(rng.choice(formats)) for _ in range(2))
        a, b = _element_block(rng, fa, k), _element_block(rng, fb, k)
        sa, sb = _scale(rng), _scale(rng)
        d = _accumulator(rng, _block_value(fa, fb, a, b, sa, sb))
        steps.append((fa, fb, a, b, sa, sb, d))
    return steps


# every block size, with every format enabled and with only the required two (rule 1); formats
# are drawn from the list: 7 is reserved, 2, 5 and 6 are not enabled in the second set
GROUPS = [(k, enabled, fmts) for k in (16, 32, 64, 128)
          for enabled, fmts in ((ALL_FORMATS, (0, 1, 2, 3, 4, 5, 6, 6, 7)),
                                (("e4m3", "e5m2"), (0, 1, 0, 1, 0, 1, 0, 1, 2, 5, 6)))]


@pytest.mark.parametrize("k, enabled, formats", GROUPS)
def test_random_steps_match_fraction_reference(k, enabled, formats):
    rng = np.random.default_rng(k * 7 + len(enabled))
    steps = _random_steps(rng, STEPS_PER_GROUP, k, np.array(formats))
    fa, fb, a, b, sa, sb, d = (np.array(column) for column in zip(*steps))
    terms = block_terms(fa, fb, a[:, None, :], b[:, None, :], sa[:, None], sb[:, None], enabled)
    bits, flags = accumulate(d.astype(np.uint32), *(terms[key].reshape(-1) for key in
                                                   ("S", "E", "nan", "invalid", "pinf", "ninf")),
                             wide=terms["wide"])
    assert bits.shape == flags.shape == (len(steps),)
    for n, (step, d_bits, d_flags) in enumerate(zip(steps, bits.tolist(), flags.tolist(), strict=True)):
        expected = reference_step(*step[:6], step[6], enabled)
        assert (d_bits, d_flags) == expected, f"batched step {n}: {step}"
        if n < 200:   # the one-step entry point too
            assert pe_step(*step, enabled=enabled) == expected, f"pe_step {n}: {step}"


def test_wide_e5m2_sums_and_cancellation_reach_both_paths():
    """E5M2 sums beyond 61 bits (the Python-int path), and D cancelling their top bits."""
    k = 128
    top = 0x7B                                             # E5M2 57344
    a = np.full((2, 1, k), top)
    b = np.full((2, 1, k), top)
    a[:, 0, 5] = b[:, 0, 9] = 0x01                         # 2^-16: no trailing zeros to share
    b[1, 0, 0] = 0xFB                                      # -57344: the sum loses one product
    terms = block_terms([E5M2, E5M2], [E5M2, E5M2], a, b, [[127], [127]], [[127], [127]])
    assert set(terms["wide"]) == {0, 1}
    # D = -(the exact sum rounded) leaves the rounding error of the sum: far below its top bit
    for lane, codes_b in enumerate(b[:, 0]):
        value = sum(element(E5M2, int(x))[1] * element(E5M2, int(y))[1] for x, y in zip(a[lane, 0], codes_b))
        d, _ = round_to_fp32(-value)
        assert pe_step(E5M2, E5M2, a[lane, 0], codes_b, 127, 127, d) == \
            reference_step(E5M2, E5M2, a[lane, 0], codes_b, 127, 127, d, ("e4m3", "e5m2"))


def test_disabled_format_is_nan_invalid_in_every_pe():
    cfg = TILE_2X3_K16          # e4m3, e5m2 only
    one = [0x38] * 16
    step = dict(a=[one] * 2, a_scale=[127] * 2, b=[one] * 3, b_scale=[127] * 3,
                a_format=FORMAT_CODES["e2m1"], b_format=E4M3, slot=1, first=1, last=1)
    result = GoldenTile(cfg).step(**step)
    assert result == {"d": [[NAN_BITS] * 3] * 2, "flags": [[1] * 3] * 2, "slot": 1}
    enabled = GoldenTile(cfg.replace(formats=("e2m1",))).step(**dict(step, a=[[0x2] * 16] * 2))
    assert enabled["d"] == [[0x41800000] * 3] * 2 and enabled["flags"] == [[0] * 3] * 2  # 16 · 1 · 1


def _reference_tile(cfg, steps):
    """Sequential Fraction reference of a whole tile: slots, first/last, sticky flags."""
    d = {}
    results = []
    for s in steps:
        for r in range(cfg.rows):
            for c in range(cfg.cols):
                old, old_flags = (0, 0) if s["first"] else d.get((s["slot"], r, c), (0, 0))
                new, flags = reference_step(s["a_format"], s["b_format"], s["a"][r], s["b"][c],
                                            s["a_scale"][r], s["b_scale"][c], old, cfg.formats)
                d[(s["slot"], r, c)] = (new, flags | old_flags)
        if s["last"]:
            results.append({"d": [[d[(s["slot"], r, c)][0] for c in range(cfg.cols)] for r in range(cfg.rows)],
                            "flags": [[d[(s["slot"], r, c)][1] for c in range(cfg.cols)] for r in range(cfg.rows)],
                            "slot": s["slot"]})
            for r in range(cfg.rows):
                for c in range(cfg.cols):
                    d[(s["slot"], r, c)] = (0, 0)
    return results


def _tile_stream(rng, cfg, n):
    steps = []
    for _ in range(n):
        fa, fb = (int(rng.choice(cfg.format_codes)) for _ in range(2))
        steps.append(dict(
            a=[list(_element_block(rng, fa, cfg.block)) for _ in range(cfg.rows)],
            a_scale=[int(rng.integers(110, 145)) if rng.random() < 0.95 else _scale(rng) for _ in range(cfg.rows)],
            b=[list(_element_block(rng, fb, cfg.block)) for _ in range(cfg.cols)],
            b_scale=[int(rng.integers(110, 145)) if rng.random() < 0.95 else _scale(rng) for _ in range(cfg.cols)],
            a_format=fa, b_format=fb,
            # slot patterns with every reuse distance, the same slot back to back included
            slot=int(rng.integers(0, cfg.depth)), first=int(rng.random() < 0.3), last=int(rng.random() < 0.3)))
    return steps


@pytest.mark.parametrize("cfg", [Config(rows=2, cols=3, block=16, lanes=16, depth=3, formats=ALL_FORMATS),
                                 Config(rows=1, cols=1, block=32, lanes=32, depth=1),
                                 Config(rows=1, cols=2, block=128, lanes=32, depth=4, formats=ALL_FORMATS),
                                 Config(rows=4, cols=4, block=32, lanes=8, depth=4)])
def test_tile_run_and_step_match_sequential_reference(cfg):
    rng = np.random.default_rng(cfg.rows * 100 + cfg.depth)
    steps = _tile_stream(rng, cfg, 120)
    expected = _reference_tile(cfg, steps)
    batched = GoldenTile(cfg)
    # split the stream: state held across run() calls must carry over
    got = batched.run(steps[:50]) + batched.run(steps[50:])
    one_by_one = GoldenTile(cfg)
    stepped = [r for r in (one_by_one.step(**s) for s in steps) if r is not None]
    assert got == expected
    assert stepped == expected
    assert len(expected) == sum(s["last"] for s in steps) > 0
    # both tiles end in the same slot state
    assert np.array_equal(batched.d, one_by_one.d) and np.array_equal(batched.flags, one_by_one.flags)


def test_chunked_run_equals_one_pass():
    cfg = Config(rows=2, cols=2, block=16, lanes=16, depth=3, formats=ALL_FORMATS)
    steps = _tile_stream(np.random.default_rng(5), cfg, 200)
    whole = GoldenTile(cfg).run(steps)
    chunked = GoldenTile(cfg)
    chunked.chunk_elements = 7 * 2 * 16                    # 7 steps a chunk
    assert chunked.run(steps) == whole and len(whole) == sum(s["last"] for s in steps) > 0


def test_reset_clears_every_slot():
    cfg = Config(depth=2)
    tile = GoldenTile(cfg)
    one = [[0x38] + [0] * 31]
    tile.step(a=one, a_scale=[127], b=one, b_scale=[127], a_format=0, b_format=0, slot=1, first=1, last=0)
    tile.reset()
    result = tile.step(a=one, a_scale=[127], b=one, b_scale=[127], a_format=0, b_format=0, slot=1, first=0, last=1)
    assert result == {"d": [[0x3F800000]], "flags": [[0]], "slot": 1}


@pytest.mark.parametrize("change, message", [
    (dict(a=[[256] + [0] * 15]), "Every element code must be in 0..255, not 256"),
    (dict(b_scale=[-1]), "Every scale must be in 0..255, not -1"),
    (dict(a_format=8), "Every format code must be in 0..7, not 8"),
    (dict(slot=2), "Slot must be in 0..1"),
    (dict(a=[[0] * 15]), r"Operand a must have shape \(1, 1, 16\), not \(1, 1, 15\)"),
])
def test_tile_refuses_out_of_range_steps(change, message):
    step = dict(a=[[0] * 16], a_scale=[127], b=[[0] * 16], b_scale=[127], a_format=0, b_format=0, slot=0)
    with pytest.raises(ValueError, match=message):
        GoldenTile(Config(block=16, lanes=16, depth=2)).step(**dict(step, **change))


# -- properties -------------------------------------------------------------------------------

K = 16
scale_st = st.one_of(st.integers(0, 255), st.sampled_from([0, 1, 127, 253, 254]))
d_st = st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from([0, 0x80000000, 0x7F800000, 0xFF800000, 1]))
ENABLED = ALL_FORMATS


@st.composite
def operand_st(draw):
    """(format code, K codes): finite codes mostly, any byte (specials, high bits) sometimes."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    finite = st.sampled_from(_finite_codes(fmt).tolist())
    return fmt, draw(st.lists(st.one_of(finite, finite, finite, st.integers(0, 255)), min_size=K, max_size=K))


def _step(a_operand, b_operand, sa, sb, d):
    (fa, a), (fb, b) = a_operand, b_operand
    return pe_step(fa, fb, a, b, sa, sb, d, enabled=ENABLED)


@settings(max_examples=300, deadline=None)
@given(operand_st(), operand_st(), scale_st, scale_st, d_st, st.permutations(range(K)))
def test_permuting_a_block_changes_nothing(a, b, sa, sb, d, order):
    permuted_a, permuted_b = (a[0], [a[1][i] for i in order]), (b[0], [b[1][i] for i in order])
    assert _step(permuted_a, permuted_b, sa, sb, d) == _step(a, b, sa, sb, d)


@settings(max_examples=300, deadline=None)
@given(operand_st(), operand_st(), st.integers(0, 254), st.integers(0, 254), d_st, st.data())
def test_moving_scale_between_a_and_b_changes_nothing(a, b, sa, sb, d, data):
    t = data.draw(st.integers(max(-sa, sb - 254), min(254 - sa, sb)), label="t")   # both stay finite
    assert _step(a, b, sa + t, sb - t, d) == _step(a, b, sa, sb, d)


@settings(max_examples=300, deadline=None)
@given(operand_st(), operand_st(), scale_st, scale_st, d_st)
def test_swapping_a_and_b_changes_nothing(a, b, sa, sb, d):
    assert _step(b, a, sb, sa, d) == _step(a, b, sa, sb, d)


def _negate(fmt, code):
    """The code of -x; for INT8 two's complement (-128 has none: None); HiF8 has no -0 (None)."""
    f = FORMATS[fmt]
    if f.name == "int8":
        return None if code == 0x80 else (-code) & 0xFF
    if f.name == "hif8" and code & 0x7F == 0:
        return None if code == 0 else code
    return code ^ (1 << (f.bits - 1))


@settings(max_examples=400, deadline=None)
@given(operand_st(), operand_st(), scale_st, scale_st, d_st)
def test_negating_a_and_d_negates_the_result(a, b, sa, sb, d):
    """-(D + V): NaN stays the canonical NaN; an exact zero (+0, inexact clear) stays +0; every
    other result, -0 and ±Inf included, flips its sign bit; the flags are the same."""
    negated = [_negate(a[0], x) for x in a[1]]
    assume(None not in negated)
    bits, flags = _step(a, b, sa, sb, d)
    if bits == NAN_BITS or (bits == 0 and not flags & INEXACT):
        expected = bits
    else:
        expected = bits ^ 0x80000000
    assert _step((a[0], negated), b, sa, sb, d ^ 0x80000000) == (expected, flags)


HIF8 = FORMAT_CODES["hif8"]


@pytest.mark.parametrize("k", [16, 32, 128])
def test_hif8_with_every_format_matches_fraction_reference(k):
    """HiF8 on one operand (or both) and any format on the other: random blocks, its largest
    values (sums beyond 61 bits) and its denormals (products down to 2^-44)."""
    rng = np.random.default_rng(k + 600)
    steps = []
    for n in range(600):
        other = int(rng.choice([0, 1, 2, 3, 4, 5, 6]))
        fa, fb = (HIF8, other) if n % 2 else (other, HIF8)
        a, b = _element_block(rng, fa, k), _element_block(rng, fb, k)
        if n % 5 == 0:                          # only denormals and the least normals of HiF8
            tiny = rng.choice([0x01, 0x02, 0x07, 0x81, 0x87, 0x7E, 0xFE, 0x7F], k)
            a, b = (tiny, b) if fa == HIF8 else (a, tiny)
        sa, sb = _scale(rng), _scale(rng)
        steps.append((fa, fb, a, b, sa, sb, _accumulator(rng, _block_value(fa, fb, a, b, sa, sb))))
    fa, fb, a, b, sa, sb, d = (np.array(column) for column in zip(*steps))
    terms = block_terms(fa, fb, a[:, None, :], b[:, None, :], sa[:, None], sb[:, None], ALL_FORMATS)
    assert terms["wide"], "no step reached the Python-int path"
    bits, flags = accumulate(d.astype(np.uint32), *(terms[key].reshape(-1) for key in
                                                   ("S", "E", "nan", "invalid", "pinf", "ninf")),
                             wide=terms["wide"])
    assert bits.shape == flags.shape == (len(steps),)
    for n, (step, d_bits, d_flags) in enumerate(zip(steps, bits.tolist(), flags.tolist(), strict=True)):
        assert (d_bits, d_flags) == reference_step(*step, ALL_FORMATS), f"step {n}: {step}"


@pytest.mark.parametrize("d", [0, 0x80000000, 0x00000001, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000])
def test_hif8_corner_blocks_match_fraction_reference(d):
    """k = 128 blocks of HiF8's extremes: ±32768 (0x6E/0xEE) squared, the least denormal 2^-22
    (0x01) squared, ±Inf (0x6F/0xEF) against nonzero and zero, NaN (0x80), at the extreme scales."""
    k = 128
    blocks = {
        "max_squared": ([0x6E] * k, [0x6E] * k),
        "max_cancel": ([0x6E] * k, [0x6E] * 64 + [0xEE] * 63 + [0x01]),
        "least_squared": ([0x01] * k, [0x01] * k),
        "max_times_least": ([0x6E] * k, [0x01] * k),
        "plus_inf": ([0x6F] + [0x6E] * (k - 1), [0x08] * k),
        "inf_times_inf": ([0x6F, 0xEF] + [0] * (k - 2), [0x08] * k),
        "inf_times_zero": ([0x6F] + [0x08] * (k - 1), [0x00] + [0x08] * (k - 1)),
        "nan": ([0x80] + [0x08] * (k - 1), [0x08] * k),
    }
    for name, (a, b) in blocks.items():
        for sa, sb in ((127, 127), (0, 0), (254, 254), (0, 254), (255, 127)):
            expected = reference_step(HIF8, HIF8, a, b, sa, sb, d, ALL_FORMATS)
            assert pe_step(HIF8, HIF8, a, b, sa, sb, d, enabled=ALL_FORMATS) == expected, (name, sa, sb)
