"""Independent references: one PE step in `fractions.Fraction`, written from SPEC §2, and the
ml_dtypes (and en_dtypes, for HiF8) types the element formats are checked against.

The step shares nothing with verif/golden.py: elements come from `verif.formats.decode` (itself
checked against ml_dtypes in test_formats.py), the sum is a Fraction, and the binary32 rounding
is done here by value and encoded through Python's own float/struct.
"""

import struct
from fractions import Fraction

import en_dtypes
import ml_dtypes

from mxdpu.verif.formats import FORMATS, decode

#: The independent decoders of the OCP formats and of HiF8 (INT8 has none: two's complement / 64).
ML_DTYPES = {
    "e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2,
    "e3m2": ml_dtypes.float6_e3m2fn, "e2m3": ml_dtypes.float6_e2m3fn, "e2m1": ml_dtypes.float4_e2m1fn,
    "hif8": en_dtypes.hifloat8,
}

NAN_BITS = 0x7FC00000
INF_BITS = 0x7F800000
INVALID, OVERFLOW, UNDERFLOW, INEXACT = 1, 2, 4, 8
MIN_NORMAL = Fraction(2) ** -126
MAX_FINITE = (2 - Fraction(2) ** -23) * Fraction(2) ** 127


def element(fmt, code):
    """('nan' | 'inf' | 'finite', Fraction value or ±1 for an infinity)."""
    d = decode(fmt, code)
    sign = -1 if d.sign else 1
    if d.kind == "finite":
        return "finite", sign * Fraction(d.mag) * Fraction(2) ** d.exp
    return d.kind, sign


def fp32_value(bits):
    """('nan' | 'inf' | 'finite', value) of binary32 bits, by Python's own unpacking."""
    x = struct.unpack("<f", struct.pack("<I", bits))[0]
    if x != x:
        return "nan", None
    if x in (float("inf"), float("-inf")):
        return "inf", 1 if x > 0 else -1
    return "finite", Fraction(x)


def round_to_fp32(x):
    """(bits, flags) of the RNE binary32 rounding of a nonzero Fraction x."""
    mag = abs(x)
    exponent = mag.numerator.bit_length() - mag.denominator.bit_length()
    while Fraction(2) ** exponent > mag:             # settle floor(log2 |x|)
        exponent -= 1
    while Fraction(2) ** (exponent + 1) <= mag:
        exponent += 1
    quantum = Fraction(2) ** (max(exponent, -126) - 23)
    units = mag / quantum
    whole = units.numerator // units.denominator
    rest = units - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
        whole += 1
    rounded = whole * quantum
    flags = INEXACT if rounded != mag else 0
    if mag < MIN_NORMAL and flags:
        flags |= UNDERFLOW
    sign = 0x80000000 if x < 0 else 0
    if rounded > MAX_FINITE:
        return sign | INF_BITS, flags | OVERFLOW | INEXACT
    return sign | struct.unpack("<I", struct.pack("<f", float(rounded)))[0], flags


def reference_step(a_format, b_format, a, b, a_scale, b_scale, d_bits, enabled):
    """(bits, flags) of D + 2^(sa+sb-254) · sum a_i b_i, following SPEC §2's precedence list."""
    a, b = [int(x) for x in a], [int(x) for x in b]
    a_format, b_format, a_scale, b_scale = int(a_format), int(b_format), int(a_scale), int(b_scale)
    enabled_codes = {code for code, f in FORMATS.items() if f.name in enabled}
    if a_format not in enabled_codes or b_format not in enabled_codes:
        return NAN_BITS, INVALID
    elements_a = [element(a_format, x) for x in a]
    elements_b = [element(b_format, x) for x in b]
    infinities = set()
    inf_times_zero = False
    nan_element = False
    total = Fraction(0)
    for (ka, va), (kb, vb) in zip(elements_a, elements_b):
        nan_element |= "nan" in (ka, kb)
        if "nan" in (ka, kb):
            continue
        if "inf" in (ka, kb):
            if (ka == "finite" and va == 0) or (kb == "finite" and vb == 0):
                inf_times_zero = True
            else:
                infinities.add((1 if va > 0 else -1) * (1 if vb > 0 else -1))
            continue
        total += va * vb
    return reference_accumulate(d_bits, total * Fraction(2) ** (a_scale + b_scale - 254),
                                infinities=infinities, invalid=inf_times_zero,
                                nan=0xFF in (a_scale, b_scale) or nan_element)


def reference_accumulate(d_bits, value, *, infinities=(), invalid=False, nan=False):
    """(bits, flags) of D + a block, SPEC §2 rules 2-6, from the block's facts: `value` the exact
    sum of its finite products (scaled), `infinities` the signs (±1) of its infinite products,
    `invalid` an Inf × 0 product (or any other invalid cause), `nan` a NaN element or scale."""
    infinities = set(infinities)
    d_kind, d_value = fp32_value(d_bits)
    if d_kind == "inf":
        infinities.add(d_value)
    if infinities == {1, -1} or invalid:
        return NAN_BITS, INVALID
    if d_kind == "nan" or nan:
        return NAN_BITS, 0
    if infinities:
        return (INF_BITS if infinities == {1} else 0x80000000 | INF_BITS), 0
    exact = d_value + value
    if exact == 0:
        return 0, 0
    return round_to_fp32(exact)
