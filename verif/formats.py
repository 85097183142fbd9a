"""Element and scale formats of SPEC §1, decoded exactly.

Every finite element value is held as an integer on its format's grid: value = (-1)^sign · mag ·
2^lsb_exp, where lsb_exp is the weight of the smallest subnormal (or of the INT8 LSB). The
vectorised tables (`VALUE`, `KIND`, `SIGN`, indexed [format code, byte]) let the golden model
decode whole blocks with one numpy gather.
"""

from fractions import Fraction
from typing import NamedTuple

import numpy as np

from mxdpu.hw.config import FORMAT_CODES

__all__ = [
    "Format", "FORMATS", "Decoded", "decode", "FINITE", "INF", "NAN",
    "VALUE", "KIND", "SIGN", "LSB_EXP", "SCALE_NAN",
    "CANONICAL_NAN", "FP32_INF", "HIF8_DOTS", "format_code", "bit_length",
]

#: Element kinds, as stored in `KIND`.
FINITE, INF, NAN = 0, 1, 2
_KIND_NAMES = ("finite", "inf", "nan")

#: The UE8M0 scale code that means NaN (SPEC §1).
SCALE_NAN = 0xFF
#: The one NaN the unit produces (SPEC §2), and +Inf, as binary32 bits.
CANONICAL_NAN = 0x7FC00000
FP32_INF = 0x7F800000


class Format(NamedTuple):
    """One element format. INT8 has no exponent: ebits 0, bias None, mbits 6 fraction bits.
    HiF8's widths taper (`_decode_hif8`): ebits 0, bias None, and mbits 1, its mantissa width in
    the binade of its largest values (2^15), the width SPEC §5's EVEN rounds amax to."""
    code: int
    name: str
    bits: int
    ebits: int
    mbits: int
    bias: int | None
    max_finite: Fraction
    emax: int       # floor(log2 max_finite), SPEC §5
    lsb_exp: int    # weight of the grid unit: smallest subnormal (or INT8's 2^-6)
    max_mag: int    # max_finite in grid units


def _float_format(code, name, ebits, mbits, max_finite, emax):
    bias = (1 << (ebits - 1)) - 1
    lsb_exp = 1 - bias - mbits
    return Format(code, name, 1 + ebits + mbits, ebits, mbits, bias, Fraction(max_finite), emax,
                  lsb_exp, int(Fraction(max_finite) / Fraction(2) ** lsb_exp))


#: Format code -> Format, for the seven codes of SPEC §1 (names from hw.config.FORMAT_CODES).
FORMATS = {
    FORMAT_CODES["e4m3"]: _float_format(FORMAT_CODES["e4m3"], "e4m3", 4, 3, 448, 8),
    FORMAT_CODES["e5m2"]: _float_format(FORMAT_CODES["e5m2"], "e5m2", 5, 2, 57344, 15),
    FORMAT_CODES["e3m2"]: _float_format(FORMAT_CODES["e3m2"], "e3m2", 3, 2, 28, 4),
    FORMAT_CODES["e2m3"]: _float_format(FORMAT_CODES["e2m3"], "e2m3", 2, 3, Fraction(15, 2), 2),
    FORMAT_CODES["e2m1"]: _float_format(FORMAT_CODES["e2m1"], "e2m1", 2, 1, 6, 2),
    FORMAT_CODES["int8"]: Format(FORMAT_CODES["int8"], "int8", 8, 0, 6, None, Fraction(127, 64),
                                 0, -6, 127),
    # HiF8: every value is a multiple of its least denormal 2^-22; the largest, 2^15, is 2^37 of them
    FORMAT_CODES["hif8"]: Format(FORMAT_CODES["hif8"], "hif8", 8, 0, 1, None, Fraction(32768), 15,
                                 -22, 1 << 37),
}

#: HiF8's dot field (SPEC §1), tried in this order on bits 6..0: (prefix, its length, exponent
#: width w, mantissa width m). What no prefix matches (`0000 MMM`) is a denormal.
HIF8_DOTS = ((0b11, 2, 4, 1), (0b10, 2, 3, 2), (0b01, 2, 2, 3), (0b001, 3, 1, 3), (0b0001, 4, 0, 3))


def format_code(name):
    """Code of a format name ('e4m3', ...); ValueError naming the allowed names."""
    if name not in FORMAT_CODES:
        raise ValueError(f"Format must be one of {', '.join(FORMAT_CODES)}, not {name!r}")
    return FORMAT_CODES[name]


class Decoded(NamedTuple):
    """An element: kind 'finite', 'inf' or 'nan'; finite value (-1)^sign · mag · 2^exp."""
    kind: str
    sign: int
    mag: int
    exp: int


def _decode_hif8(fmt, x):
    """(kind, sign, mag) of a HiF8 byte: (-1)^S · 2^E · (1 + mant/2^m), or a denormal 2^(M-23)."""
    sign, low = x >> 7, x & 0x7F
    if x == 0x80:
        return NAN, sign, 0
    if low == 0x6F:                         # what would be 1.5 · 2^15
        return INF, sign, 0
    for prefix, length, w, m in HIF8_DOTS:
        if low >> (7 - length) == prefix:
            field = (low >> m) & ((1 << w) - 1)
            # sign-magnitude exponent with an implicit leading 1: |E| = 2^(w-1) + the low w-1 bits
            e = 0 if w == 0 else (1 << (w - 1)) + (field & ((1 << (w - 1)) - 1))
            if w and field >> (w - 1):
                e = -e
            return FINITE, sign, ((1 << m) | (low & ((1 << m) - 1))) << (e - m - fmt.lsb_exp)
    return FINITE, sign, 0 if low == 0 else 1 << (low - 23 - fmt.lsb_exp)


def _decode_fields(fmt, code):
    """(kind, sign, mag) of one byte in format `fmt` (a Format)."""
    x = code & ((1 << fmt.bits) - 1)        # narrower formats ignore the high bits
    if fmt.name == "hif8":
        return _decode_hif8(fmt, x)
    if fmt.name == "int8":
        value = x - 256 if x & 0x80 else x
        return FINITE, int(value < 0), abs(value)
    sign = x >> (fmt.bits - 1)
    exponent = (x >> fmt.mbits) & ((1 << fmt.ebits) - 1)
    mantissa = x & ((1 << fmt.mbits) - 1)
    top = exponent == (1 << fmt.ebits) - 1
    if fmt.name == "e4m3" and top and mantissa == (1 << fmt.mbits) - 1:
        return NAN, sign, 0
    if fmt.name == "e5m2" and top:
        return (INF if mantissa == 0 else NAN), sign, 0
    if exponent == 0:
        return FINITE, sign, mantissa
    return FINITE, sign, (mantissa | (1 << fmt.mbits)) << (exponent - 1)


def decode(fmt_code, code):
    """Decoded element `code` (0..255) of format `fmt_code` (0..6)."""
    if fmt_code not in FORMATS:
        raise ValueError(f"Format code must be one of 0..{len(FORMATS) - 1}, not {fmt_code!r}")
    if not 0 <= code <= 255:
        raise ValueError(f"Element code must be a byte 0..255, not {code!r}")
    fmt = FORMATS[fmt_code]
    kind, sign, mag = _decode_fields(fmt, code)
    return Decoded(_KIND_NAMES[kind], sign, mag, fmt.lsb_exp if kind == FINITE else 0)


def _tables():
    # 8 rows: the reserved code 7 decodes as finite zero (its steps are NaN anyway).
    value = np.zeros((8, 256), np.int64)
    kind = np.zeros((8, 256), np.uint8)
    sign = np.zeros((8, 256), np.bool_)
    lsb = np.zeros(8, np.int64)
    for fmt_code, fmt in FORMATS.items():
        lsb[fmt_code] = fmt.lsb_exp
        for code in range(256):
            k, s, m = _decode_fields(fmt, code)
            kind[fmt_code, code], sign[fmt_code, code] = k, s
            value[fmt_code, code] = -m if s else m
    for table in (value, kind, sign, lsb):
        table.flags.writeable = False
    return value, kind, sign, lsb


#: [format code, byte] -> signed grid value (0 for Inf/NaN), kind (FINITE/INF/NAN), sign bit;
#: LSB_EXP[format code] is the grid unit's exponent.
VALUE, KIND, SIGN, LSB_EXP = _tables()


def bit_length(x):
    """Bit length of each non-negative int64 value below 2^62 (0 for 0), as int64."""
    x = np.asarray(x, np.int64)
    _, n = np.frexp(x.astype(np.float64))
    n = n.astype(np.int64)
    # the float conversion may round x up to the next power of two: step back if that bit is absent
    return n - ((n > 0) & ((x >> np.maximum(n - 1, 0)) == 0))
