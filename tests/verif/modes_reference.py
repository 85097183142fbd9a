"""An independent reference of SPEC §6's vendor modes: one PE step in `fractions.Fraction`.

Written from SPEC §6's text, sharing nothing with verif/modes.py: elements come from
`verif.formats.decode` (checked against ml_dtypes), every term is a Fraction, truncation is an
integer floor of a Fraction, and the binary32 encoding of the (exactly representable) result goes
through Python's float.
"""

from fractions import Fraction

from mxdpu.verif.formats import FORMATS
from tests.verif.exact_reference import INF_BITS, INVALID, OVERFLOW, element, fp32_value, round_to_fp32

#: mode -> (F term fraction bits, M result fraction bits, element format codes), SPEC §6's table
MODE_RULES = {"blackwell": (25, 23, (0, 1, 2, 3, 4)), "hopper": (13, 13, (0, 1))}
VENDOR_NAN = 0x7FFFFFFF
E_ZERO = -133
TWO = Fraction(2)


def floor_log2(x):
    """floor(log2 x) of a positive Fraction."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while TWO ** e > x:
        e -= 1
    while TWO ** (e + 1) <= x:
        e += 1
    return e


def _truncate(x, quantum):
    """x truncated toward zero to a multiple of quantum, as that integer multiple."""
    units = abs(x) / quantum
    whole = units.numerator // units.denominator
    return -whole if x < 0 else whole


def _term(value, least_exponent):
    """(exponent, value) of a nonzero finite term: floor(log2 |value|), not below least_exponent."""
    return max(floor_log2(abs(value)), least_exponent), value


def reference_chunk(mode, a_format, b_format, a, b, a_scale, b_scale, d_bits):
    """(bits, flags) of one chunk (st_fdpa) on C = d_bits, SPEC §6, formats already allowed."""
    f_bits, m_bits, _ = MODE_RULES[mode]
    ea = [element(a_format, x) for x in a]
    eb = [element(b_format, x) for x in b]
    c_kind, c_value = fp32_value(d_bits)
    infinities, invalid = set(), False
    nan = 0xFF in (a_scale, b_scale) or c_kind == "nan"
    if c_kind == "inf":
        infinities.add(c_value)
    terms = []      # (exponent, value) of every term; the zero ones at E_ZERO
    for (ka, va), (kb, vb) in zip(ea, eb):
        if "nan" in (ka, kb):
            nan = True
        elif "inf" in (ka, kb):
            if (ka == "finite" and va == 0) or (kb == "finite" and vb == 0):
                invalid = True
            else:
                infinities.add((1 if va > 0 else -1) * (1 if vb > 0 else -1))
        elif va * vb == 0:
            terms.append((E_ZERO, Fraction(0)))
        else:
            # each element at its own exponent (subnormals at the format's least normal one)
            (xa, _), (xb, _) = (_term(va, 1 - FORMATS[a_format].bias), _term(vb, 1 - FORMATS[b_format].bias))
            terms.append((xa + xb + (a_scale - 127) + (b_scale - 127),
                          va * vb * TWO ** (a_scale + b_scale - 254)))
    if infinities == {1, -1} or invalid:
        return VENDOR_NAN, INVALID
    if nan:
        return VENDOR_NAN, 0
    if infinities:
        return (INF_BITS if infinities == {1} else 0x80000000 | INF_BITS), 0
    terms.append((E_ZERO, Fraction(0)) if c_value == 0 else _term(c_value, -126))
    e_max = max(e for e, _ in terms)
    quantum = TWO ** (e_max - f_bits)
    total = sum(_truncate(v, quantum) for _, v in terms) * quantum
    if total == 0:
        return 0, 0
    exponent = max(floor_log2(abs(total)), -126)
    result = _truncate(total, TWO ** (exponent - m_bits)) * TWO ** (exponent - m_bits)
    if result == 0:
        return 0, 0                                   # −0 is +0
    if abs(result) >= TWO ** 128:
        return (INF_BITS if result > 0 else 0x80000000 | INF_BITS), OVERFLOW
    return round_to_fp32(result)[0], 0                # exact: the value is a binary32 already


def reference_mode_step(mode, a_format, b_format, a, b, a_scale, b_scale, d_bits, enabled):
    """(bits, flags) of one step in a vendor mode: chunks of min(k, 32), flags OR-ed."""
    a, b = [int(x) for x in a], [int(x) for x in b]
    allowed = MODE_RULES[mode][2]
    enabled_codes = {code for code, f in FORMATS.items() if f.name in enabled}
    if not {a_format, b_format} <= set(allowed) & enabled_codes:
        return VENDOR_NAN, INVALID
    length = min(len(a), 32)
    flags = 0
    for i in range(0, len(a), length):
        d_bits, raised = reference_chunk(mode, a_format, b_format, a[i:i + length], b[i:i + length],
                                         int(a_scale), int(b_scale), d_bits)
        flags |= raised
    return d_bits, flags

