"""FP32 blocks to MX elements and UE8M0 scales (SPEC §5), with integer arithmetic on the FP32 bits.

Choices where SPEC §5 is silent: INT8's mantissa width for EVEN is its 6 fraction bits; a negative
element that rounds to zero keeps its sign (-0) in the formats that have one (HiF8 has none: +0);
an element -0.0 in a nonzero block stays -0.

HiF8 (SPEC §5) rounds to the nearest of its values with ties away from zero: at 2^e its mantissa
width is that of the dot field holding |e| (3 bits to |e| = 3, 2 to 7, 1 to 15), and below 2^-15
its values are the powers of two down to 2^-22 (a midpoint 1.5 · 2^e between two of them rounds
like a 0-bit mantissa).
"""

import functools

import numpy as np

from .formats import FINITE, FORMATS, HIF8_DOTS, KIND, VALUE, bit_length, format_code

__all__ = ["RULES", "scale_exponents", "quantise", "encode"]

RULES = ("floor", "ceil", "rceil", "even")
_FRACTION_BITS = 23      # binary32 stored mantissa bits


def _fp32_parts(bits):
    """(floor(log2 |v|), 24-bit significand normalised to [2^23, 2^24), raw significand, LSB exponent)."""
    exponent = (bits >> _FRACTION_BITS) & 0xFF
    fraction = bits & 0x7FFFFF
    raw = np.where(exponent > 0, fraction | (1 << _FRACTION_BITS), fraction)
    width = bit_length(raw)
    floor_log2 = np.where(exponent > 0, exponent - 127, width - 150)
    normalised = raw << np.clip(24 - width, 0, 24)
    return floor_log2, normalised, raw, np.maximum(exponent, 1) - 150


def _fmt(fmt):
    if isinstance(fmt, tuple):           # already a Format
        return fmt
    code = format_code(fmt) if isinstance(fmt, str) else fmt
    if code not in FORMATS:
        raise ValueError(f"Format code must be one of 0..{len(FORMATS) - 1}, not {fmt!r}")
    return FORMATS[code]


def scale_exponents(amax_bits, fmt, rule):
    """Unbiased scale exponent x of SPEC §5 for each |amax| (binary32 bits, finite, nonzero)."""
    f = _fmt(fmt)
    if rule not in RULES:
        raise ValueError(f"Rule must be one of {', '.join(RULES)}, not {rule!r}")
    floor_log2, sig, _, _ = _fp32_parts(np.asarray(amax_bits, np.int64))
    if rule == "floor":
        return floor_log2 - f.emax
    if rule == "ceil":
        return floor_log2 + (sig != 1 << _FRACTION_BITS) - f.emax
    if rule == "rceil":
        # amax <= max_F · 2^x  <=>  amax's significand <= max_F's, when both sit at 2^(x + emax)
        max_sig = int(f.max_finite * 2 ** (_FRACTION_BITS - f.emax))
        return floor_log2 + (sig > max_sig) - f.emax
    # even: round the significand to the format's mantissa width, ties away; a carry adds one
    cut = _FRACTION_BITS - f.mbits
    rounded = (sig + (1 << (cut - 1))) >> cut
    return floor_log2 + (rounded >> (f.mbits + 1)) - f.emax


def _hif8_mantissa_bits():
    """HiF8's mantissa width at 2^e, indexed by e + 64 for e in -64..63 (0 below 2^-15, and above
    2^15, where everything saturates anyway)."""
    widths = np.zeros(128, np.int64)
    for _, _, w, m in HIF8_DOTS:
        for magnitude in (range(1 << (w - 1), 1 << w) if w else (0,)):
            widths[64 + magnitude] = widths[64 - magnitude] = m
    return widths


_HIF8_MBITS = _hif8_mantissa_bits()


@functools.cache
def _sorted_positives(code):
    """(grid values, codes) of format `code`'s finite non-negative values, ascending by value
    (HiF8's codes are not in value order)."""
    half = 1 << (FORMATS[code].bits - 1)
    codes = np.flatnonzero(KIND[code][:half] == FINITE)
    order = np.argsort(VALUE[code][codes], kind="stable")
    return VALUE[code][codes[order]], codes[order]


def _round_elements(bits, x, f):
    """Codes of format f for binary32 `bits` (finite) times 2^-x: RNE (HiF8: ties away),
    saturating at ±max_F."""
    mag_bits = bits & 0x7FFFFFFF
    # element V = ±raw · 2^lsb; V · 2^-x is rounded at p, the LSB of F's grid at its magnitude
    floor_log2, _, raw, lsb = _fp32_parts(mag_bits)
    if f.name == "int8":
        p = np.full_like(raw, f.lsb_exp)
    elif f.name == "hif8":
        e = floor_log2 - x
        p = np.maximum(e - _HIF8_MBITS[np.clip(e, -64, 63) + 64], f.lsb_exp)
    else:
        p = np.maximum(floor_log2 - x - f.mbits, f.lsb_exp)
    right = p - (lsb - x)
    r = np.clip(right, 1, 26)                 # raw < 2^24: a shift of 26 leaves nothing to round up
    kept, rem, half = raw >> r, raw & ((1 << r) - 1), 1 << (r - 1)
    if f.name == "hif8":
        rounded = kept + (rem >= half)
    else:
        rounded = kept + ((rem > half) | ((rem == half) & ((kept & 1) == 1)))
    # a left shift past 30 is far beyond every max_F and saturates below
    q = np.where(right > 0, rounded, raw << np.clip(-right, 0, 30))
    # grid units of F: q < 2^(mbits+2) for the float formats, so 40 more bits still fit int64
    grid = np.minimum(q << np.clip(p - f.lsb_exp, 0, 40), f.max_mag)
    negative = (bits >> 31) == 1
    if f.name == "int8":
        return np.where(negative, -grid, grid) & 0xFF
    if f.name == "hif8":
        negative &= grid != 0                 # 0x80 is NaN, not -0
    values, codes = _sorted_positives(f.code)
    return codes[np.searchsorted(values, grid)] | (negative << (f.bits - 1))


def encode(fmt, values):
    """Codes of finite FP32 `values` in format `fmt` (name or code), RNE (HiF8: to nearest, ties
    away from zero), saturating at ±max_F.

    A negative value that rounds to zero gives -0 where the format has one. An int for a scalar,
    else a uint8 array of the same shape.
    """
    f = _fmt(fmt)
    values = np.asarray(values, np.float32)
    if not np.isfinite(values).all():
        raise ValueError("encode takes finite values only (a NaN or Inf block is the scale's business)")
    codes = _round_elements(values.view(np.uint32).astype(np.int64), 0, f).astype(np.uint8)
    return int(codes) if codes.ndim == 0 else codes


def quantise(values, fmt, rule, block=32):
    """(element codes, scale codes) of FP32 `values` whose last axis is a multiple of `block`.

    fmt: a format name or code; rule: 'floor', 'ceil', 'rceil' or 'even'. Codes are uint8 arrays:
    elements in the shape of `values`, scales with the last axis divided by `block`.
    """
    f = _fmt(fmt)
    values = np.asarray(values, np.float32)
    if values.ndim == 0 or values.shape[-1] % block:
        raise ValueError(f"The last axis ({values.shape[-1] if values.ndim else 'none'}) must be a "
                         f"multiple of the block size {block}")
    bits = values.view(np.uint32).astype(np.int64).reshape(*values.shape[:-1], -1, block)
    mag_bits = bits & 0x7FFFFFFF
    special = (mag_bits >= 0x7F800000).any(axis=-1)
    amax = np.where(special, 0, mag_bits.max(axis=-1))
    zero = amax == 0
    x = scale_exponents(np.where(zero, 1, amax), f, rule)
    scale = np.clip(x + 127, 0, 254)
    x = (scale - 127)[..., None]

    codes = _round_elements(bits, x, f)
    codes = np.where((special | zero)[..., None], 0, codes)
    scale = np.where(special, 0xFF, np.where(zero, 0, scale))
    return codes.reshape(values.shape).astype(np.uint8), scale.astype(np.uint8)
