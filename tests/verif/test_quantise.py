"""verif/quantise.py: every rule on its boundaries, against a direct Fraction computation."""

import bisect
import functools
from fractions import Fraction

import numpy as np
import pytest

from tests.common import ALL_FORMATS
from tests.verif.exact_reference import ML_DTYPES
from mxdpu.hw.config import FORMAT_CODES
from mxdpu.verif.formats import FORMATS, decode
from mxdpu.verif.quantise import RULES, encode, quantise

BLOCK = 32


def _floor_log2(q):
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def reference_scale(amax, f, rule):
    """Scale code of SPEC §5 for a nonzero finite amax (Fraction), by definition."""
    e = _floor_log2(amax)
    if rule == "floor":
        x = e - f.emax
    elif rule == "ceil":
        x = e + (amax != Fraction(2) ** e) - f.emax
    elif rule == "rceil":
        x = e - f.emax - 1
        while amax > f.max_finite * Fraction(2) ** x:
            x += 1
    else:   # even: amax to the format's mantissa width, ties away from zero
        unit = Fraction(2) ** (e - f.mbits)
        units = amax / unit + Fraction(1, 2)
        x = _floor_log2((units.numerator // units.denominator) * unit) - f.emax
    return min(max(x + 127, 0), 254)


@functools.cache
def _positive(fmt):
    """Sorted (value, code) of the format's finite non-negative codes."""
    f = FORMATS[fmt]
    pairs = []
    for code in range(1 << (f.bits - 1)):
        d = decode(fmt, code)
        if d.kind == "finite":
            pairs.append((Fraction(d.mag) * Fraction(2) ** d.exp, code))
    return sorted(pairs)


def reference_element(v, f):
    """Code of Fraction v rounded to nearest, ties to even (HiF8: away from zero), saturating at
    ±max; sign kept on zero (HiF8 has no -0)."""
    values = _positive(f.code)
    mag = min(abs(v), f.max_finite)
    i = bisect.bisect_left(values, (mag, -1))
    if i < len(values) and values[i][0] == mag:
        code = values[i][1]
    else:
        (lo, lo_code), (hi, hi_code) = values[i - 1], values[i]
        if mag - lo != hi - mag:
            code = lo_code if mag - lo < hi - mag else hi_code
        elif f.name == "hif8":   # a tie: away from zero
            code = hi_code
        else:   # a tie: the even code is the even mantissa (or the even INT8 integer)
            code = lo_code if lo_code % 2 == 0 else hi_code
    if f.name == "int8":
        return (-code) & 0xFF if v < 0 else code
    if f.name == "hif8" and code == 0:
        return 0
    return code | (1 << (f.bits - 1)) if v < 0 else code


def reference_block(block, f, rule):
    """(codes, scale) for one block of float32 values, SPEC §5 by Fractions."""
    if not np.isfinite(block).all():
        return [0] * len(block), 0xFF
    values = [Fraction(float(v)) for v in block]
    amax = max(abs(v) for v in values)
    if amax == 0:
        return [0] * len(block), 0
    scale = reference_scale(amax, f, rule)
    codes = []
    for v, raw in zip(values, block):
        scaled = v * Fraction(2) ** (127 - scale)
        code = reference_element(scaled, f)
        if scaled == 0 and np.signbit(raw) and f.name not in ("int8", "hif8"):
            code |= 1 << (f.bits - 1)
        codes.append(code)
    return codes, scale


def _boundary_blocks(f, rng):
    """Blocks whose amax sits on each rule's boundary, and the special blocks."""
    f32 = np.float32
    amaxes = []
    for e in (-149, -130, -127, -126, -100, -3, 0, 1, f.emax, 20, 126, 127):
        p = f32(2.0 ** e)
        amaxes += [p, np.nextafter(p, f32(0)), np.nextafter(p, f32(np.inf))]
        if -126 <= e <= 120:
            top = f32(float(f.max_finite) * 2.0 ** (e - f.emax))       # max_F · 2^x: RCEIL's boundary
            amaxes += [top, np.nextafter(top, f32(0)), np.nextafter(top, f32(np.inf))]
            half = f32((2 - 2.0 ** -(f.mbits + 1)) * 2.0 ** e)          # EVEN's tie that carries
            amaxes += [half, np.nextafter(half, f32(0))]
    amaxes += [np.finfo(f32).max, np.finfo(f32).tiny, f32(1.99 * 2.0 ** f.emax)]
    blocks = []
    for amax in amaxes:
        if not np.isfinite(amax) or amax == 0:
            continue
        block = (rng.uniform(-1, 1, BLOCK) * amax).astype(f32)
        block[rng.integers(0, BLOCK)] = amax * rng.choice([-1, 1])
        blocks.append(block)
    zero = np.zeros(BLOCK, f32)
    negative_zero = -zero
    with_inf, with_nan = rng.standard_normal(BLOCK).astype(f32), rng.standard_normal(BLOCK).astype(f32)
    with_inf[3], with_nan[7] = -np.inf, np.nan
    subnormal = (rng.uniform(-1, 1, BLOCK) * 2.0 ** -140).astype(f32)
    ties = np.full(BLOCK, f32(1.0))                                        # exact ties between codes
    ties[1:] = [f32(1 + (2 * i + 1) * 2.0 ** -(f.mbits + 1 if f.name != "int8" else 7)) for i in range(BLOCK - 1)]
    ties[1:] = np.minimum(ties[1:], f32(1.9))
    return blocks + [zero, negative_zero, with_inf, with_nan, subnormal, ties]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", ALL_FORMATS)
def test_quantise_matches_fraction_reference_on_boundaries(name, rule):
    f = FORMATS[FORMAT_CODES[name]]
    rng = np.random.default_rng(FORMAT_CODES[name] * 10 + RULES.index(rule))
    blocks = _boundary_blocks(f, rng)
    assert len(blocks) > 20             # the boundary blocks this format has (checked below)
    normal = rng.standard_normal((40, BLOCK)) * np.exp2(rng.integers(-130, 120, (40, 1)))
    blocks += list(normal.astype(np.float32))
    values = np.stack(blocks)
    codes, scales = quantise(values, name, rule)
    assert codes.shape == values.shape and scales.shape == (len(blocks), 1)
    for block, got_codes, got_scale in zip(values, codes, scales[:, 0], strict=True):
        expected_codes, expected_scale = reference_block(block, f, rule)
        assert int(got_scale) == expected_scale, (block.tolist(), rule)
        assert got_codes.tolist() == expected_codes, (block.tolist(), int(got_scale))


def test_special_and_zero_blocks():
    values = np.zeros((3, 2 * BLOCK), np.float32)
    values[0, 5] = np.nan
    values[0, BLOCK:] = 1.0
    values[1, BLOCK + 2] = np.inf
    values[2, :BLOCK] = -0.0
    codes, scales = quantise(values, "e4m3", "floor")
    assert scales.tolist() == [[0xFF, 127 - 8], [0, 0xFF], [0, 0]]
    assert codes[0, :BLOCK].tolist() == [0] * BLOCK and codes[1].tolist() == [0] * (2 * BLOCK)
    assert codes[2].tolist() == [0] * (2 * BLOCK)
    assert codes[0, BLOCK:].tolist() == [0x78] * BLOCK          # 1 · 2^8 = 256 = E4M3 0.1111.000


def test_just_below_a_power_of_two_is_not_rounded_up():
    """float log2 misplaces this value; the integer rule must not."""
    amax = np.nextafter(np.float32(2.0 ** 20), np.float32(0))
    block = np.full((1, BLOCK), amax, np.float32)
    assert quantise(block, "e4m3", "floor")[1].tolist() == [[127 + 19 - 8]]
    assert quantise(block, "e4m3", "ceil")[1].tolist() == [[127 + 20 - 8]]


def test_quantise_refuses_a_ragged_last_axis():
    with pytest.raises(ValueError, match="multiple of the block size 32"):
        quantise(np.zeros(48, np.float32), "e4m3", "floor")
    with pytest.raises(ValueError, match="Rule must be one of floor, ceil, rceil, even"):
        quantise(np.zeros(32, np.float32), "e4m3", "nearest")


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_encode_round_trips_every_finite_code(name):
    f = FORMATS[FORMAT_CODES[name]]
    codes = [c for c in range(1 << f.bits) if decode(f.code, c).kind == "finite"]
    magnitudes = [decode(f.code, c).mag * 2.0 ** f.lsb_exp for c in codes]
    values = np.array([-m if decode(f.code, c).sign else m for c, m in zip(codes, magnitudes)], np.float32)
    if name == "int8":      # -128/64 lies beyond -max_F = -127/64: it saturates, like every other value
        expected = [0x81 if c == 0x80 else c for c in codes]
    elif name == "hif8":    # 0x80 is NaN, so no -0 to round-trip
        expected = codes
    else:                   # -0.0 keeps its sign
        expected = codes
    assert encode(name, values).tolist() == expected


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_encode_matches_ml_dtypes_rounding(name):
    f = FORMATS[FORMAT_CODES[name]]
    rng = np.random.default_rng(FORMAT_CODES[name])
    values = (rng.standard_normal(4000) * np.exp2(rng.integers(-12, 12, 4000))).astype(np.float32)
    clipped = np.clip(values.astype(np.float64), -float(f.max_finite), float(f.max_finite))
    if name == "int8":
        expected = (np.round(clipped * 64).astype(np.int64) & 0xFF).tolist()
    else:
        expected = (clipped.astype(ML_DTYPES[name]).view(np.uint8) & ((1 << f.bits) - 1)).tolist()
    assert encode(name, values).tolist() == expected
    assert encode(name, 1.0) == {"e4m3": 0x38, "e5m2": 0x3C, "e3m2": 0x0C, "e2m3": 0x08,
                                 "e2m1": 0x02, "int8": 0x40, "hif8": 0x08}[name]


def test_floor_saturates_elements_beyond_max():
    """FLOOR keeps amax's exponent: 1.99 · 2^8 in E4M3 (x = 0) is beyond 448 and saturates."""
    block = np.zeros((1, BLOCK), np.float32)
    block[0, :3] = [1.99 * 256, -1.99 * 256, 300.0]
    codes, scales = quantise(block, "e4m3", "floor")
    assert scales.tolist() == [[127]]
    assert codes[0, :3].tolist() == [0x7E, 0xFE, 0x79]            # 448, -448, 288 (300 to nearest)


def _hif8_boundaries():
    """Every HiF8 value v (both signs), its neighbours in binary32, and the midpoints between
    consecutive values (HiF8's ties) with theirs: the edges of every dot-field range."""
    f32 = np.float32
    values = sorted({float(Fraction(d.mag) * Fraction(2) ** d.exp)
                     for d in (decode(FORMAT_CODES["hif8"], c) for c in range(128)) if d.kind == "finite"})
    points = values + [(lo + hi) / 2 for lo, hi in zip(values, values[1:])] + [2.0 ** -23, 40960.0]
    out = []
    for p in points:
        p = f32(p)
        out += [p, np.nextafter(p, f32(0)), np.nextafter(p, f32(np.inf))]
    out = np.array(out, f32)
    return np.concatenate([out, -out])


def test_hif8_encode_on_every_boundary_matches_fraction_reference_and_en_dtypes():
    """Values, ties (away from zero) and their binary32 neighbours across all dot fields and the
    denormals; en_dtypes agrees wherever it does not overflow (it gives Inf past 32768's
    rounding range, where SPEC §5 saturates)."""
    f = FORMATS[FORMAT_CODES["hif8"]]
    values = _hif8_boundaries()
    got = encode("hif8", values).tolist()
    theirs = values.astype(ML_DTYPES["hif8"])
    assert len(values) > 1500
    for v, code, other, finite in zip(values.tolist(), got, theirs.view(np.uint8).tolist(),
                                      np.isfinite(theirs.astype(np.float32)).tolist(), strict=True):
        assert code == reference_element(Fraction(v), f), v
        if finite:
            assert code == other, v
    assert encode("hif8", [2.0 ** -23, 1.5 * 2.0 ** -16, 1.0625, 40000.0, 1e9, -1e-9]).tolist() == \
        [0x01, 0x7E, 0x09, 0x6E, 0x6E, 0x00]


@pytest.mark.parametrize("rule", RULES)
def test_hif8_blocks_on_boundaries_match_en_dtypes_where_it_is_finite(rule):
    """quantise's HiF8 elements are en_dtypes' conversion of V · 2^-x, wherever that is finite."""
    rng = np.random.default_rng(RULES.index(rule) + 60)
    values = np.stack(_boundary_blocks(FORMATS[FORMAT_CODES["hif8"]], rng)[:-6]
                      + list((rng.standard_normal((40, BLOCK)) * np.exp2(rng.integers(-60, 60, (40, 1))))
                             .astype(np.float32)))
    codes, scales = quantise(values, "hif8", rule)
    scaled = values.astype(np.float64) * np.exp2(127.0 - scales.astype(np.float64))
    theirs = scaled.astype(ML_DTYPES["hif8"])
    finite = np.isfinite(theirs.astype(np.float32))
    assert finite.mean() > 0.8         # FLOOR puts amaxes past 32768: those saturate
    assert np.array_equal(codes[finite], theirs.view(np.uint8)[finite])
