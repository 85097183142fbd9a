"""The vendor-compatible accumulation modes of SPEC §6 (`blackwell`, `hopper`), bit for bit.

A step in one of these modes runs its k elements in chunks of L = min(k, 32); each chunk is one
MMA-Sim `st_fdpa` (mmasim 2.1.1, `mmasim/arithmetic/fdpa.py`) whose C is the previous chunk's
result:

- every product a_j · b_j is a term with integer significand P = sig_a · sig_b (not renormalised,
  sig_a + sig_b fraction bits) at exponent e_a + e_b + (sa − 127) + (sb − 127), a subnormal
  element at its format's least normal exponent; C is a term with its 24-bit significand, a
  subnormal C at −126; a zero term sits at −133;
- with e_max the largest term exponent, each term is truncated toward zero to F fraction bits
  below 2^e_max (an integer in units of 2^(e_max − F)) and the terms are summed exactly;
- the sum is truncated toward zero to M fraction bits, its exponent floored at −126 (blackwell:
  M = 23, hopper: M = 13); 2^128 and beyond is ±Inf; −0 is +0; NaN is 0x7FFFFFFF;
- specials follow SPEC §2's rules 1–5 per chunk; flags: invalid (rules 1–3), overflow (a finite
  chunk whose truncated sum reaches 2^128); underflow and inexact are never raised.

All in int64 numpy: a term is below 2^(F + 2), 33 of them below 2^(F + 8) (F = 25 at most).
"""

import numpy as np

from mxdpu.hw.config import MODE_CODES

from .formats import (CANONICAL_NAN, FINITE, FORMATS, FP32_INF, INF, KIND, NAN, SCALE_NAN, SIGN,
                      VALUE, bit_length, format_code)

__all__ = ["MODES", "MODE_CODES", "EXACT", "VendorMode", "VENDOR_MODES", "VENDOR_NAN", "CHUNK",
           "mode_code", "vendor_steps", "vendor_step"]

#: Mode names in the order of their 2-bit step field codes (SPEC §6; code 3 is reserved; the codes
#: are the configuration's).
MODES = tuple(sorted(MODE_CODES, key=MODE_CODES.get))
EXACT = MODE_CODES["exact"]
#: The NaN every vendor-mode result carries (SPEC §6), not §2's 0x7FC00000.
VENDOR_NAN = 0x7FFFFFFF
#: Elements per st_fdpa chunk: L = min(k, CHUNK).
CHUNK = 32
#: Exponent of a zero term (mmasim's e_zero for FP32 output on Hopper and Blackwell).
E_ZERO = -133
#: FP32's least normal exponent: a subnormal C counts there, and results floor their exponent there.
E_MIN = -126
#: Product lanes handled per numpy pass: bounds the [steps, R, C, L] int64 temporaries (~8 MB each).
BATCH_TERMS = 1 << 20

_FLAG_INVALID, _FLAG_OVERFLOW = 1, 2   # SPEC §2 flag bits (golden.INVALID, golden.OVERFLOW)


class VendorMode:
    """One compatible mode: F (term fraction bits), M (result fraction bits), its format codes."""

    def __init__(self, name, f_bits, m_bits, formats):
        self.name, self.f_bits, self.m_bits = name, f_bits, m_bits
        self.formats = tuple(format_code(f) for f in formats)
        allowed = np.zeros(8, np.bool_)
        allowed[list(self.formats)] = True
        allowed.flags.writeable = False
        self.allowed = allowed


#: SPEC §6's table: F, the rounding rho (RZ to 23 or 13 fraction bits), the element formats.
VENDOR_MODES = {
    MODE_CODES["blackwell"]: VendorMode("blackwell", 25, 23, ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")),
    MODE_CODES["hopper"]: VendorMode("hopper", 13, 13, ("e4m3", "e5m2")),
}


def mode_code(name):
    """Code of a mode name; ValueError naming the allowed names."""
    if name not in MODE_CODES:
        raise ValueError(f"Mode must be one of {', '.join(MODES)}, not {name!r}")
    return MODE_CODES[name]


def _significand_tables():
    """[format, byte] -> significand with hidden bit (mbits fraction bits), exponent; [format] mbits.

    Derived from the exact decode (formats.VALUE): a grid value |m| (units 2^(emin − mbits)) of
    mbits + 1 bits or fewer is subnormal at emin; a longer one is normal, shifted down to mbits + 1
    bits with its exponent raised by as many.
    """
    sig = np.zeros((8, 256), np.int64)
    exp = np.zeros((8, 256), np.int64)
    mbits = np.zeros(8, np.int64)
    for mode in VENDOR_MODES.values():
        for code in mode.formats:
            fmt = FORMATS[code]
            emin = 1 - fmt.bias
            mag = np.abs(VALUE[code])
            shift = np.maximum(bit_length(mag) - fmt.mbits - 1, 0)
            sig[code], exp[code], mbits[code] = mag >> shift, emin + shift, fmt.mbits
    for table in (sig, exp, mbits):
        table.flags.writeable = False
    return sig, exp, mbits


SIG, EXP, MBITS = _significand_tables()


def _fp32_term(d):
    """(negative, significand with 23 fraction bits, exponent, nan, +inf, -inf) of binary32 bits."""
    neg = (d >> 31) == 1
    field = (d >> 23) & 0xFF
    frac = d & 0x7FFFFF
    special = field == 0xFF
    sig = np.where(special, 0, np.where(field > 0, frac | (1 << 23), frac))
    exp = np.where(sig == 0, E_ZERO, np.maximum(field, 1) - 127)
    inf = special & (frac == 0)
    return neg, sig, exp, special & (frac != 0), inf & ~neg, inf & neg


def _chunk(mode, af, bf, a, b, sa, sb, d):
    """One st_fdpa chunk for n steps of an R × C tile, all in `mode` with enabled formats.

    af, bf: [n] format codes; a: [n, R, L], b: [n, C, L] codes; sa: [n, R], sb: [n, C] scale codes;
    d: [n, R, C] binary32 bits (int64). Returns (bits, flags), int64 [n, R, C].
    """
    f_bits, m_bits = mode.f_bits, mode.m_bits
    ai, bi = (af[:, None, None] << 8) | a, (bf[:, None, None] << 8) | b
    ak, bk = np.take(KIND, ai), np.take(KIND, bi)
    a_zero = (ak == FINITE) & (np.take(VALUE, ai) == 0)
    b_zero = (bk == FINITE) & (np.take(VALUE, bi) == 0)
    a_neg, b_neg = np.take(SIGN, ai), np.take(SIGN, bi)

    # terms: [n, R, C, L] products (Inf and NaN elements give a zero term: their result is special)
    p = np.take(SIG, ai)[:, :, None, :] * np.take(SIG, bi)[:, None, :, :]
    pe = (np.take(EXP, ai)[:, :, None, :] + np.take(EXP, bi)[:, None, :, :]
          + (sa - 127)[:, :, None, None] + (sb - 127)[:, None, :, None])
    live = (ak == FINITE)[:, :, None, :] & (bk == FINITE)[:, None, :, :] & (p != 0)
    p = np.where(live, p, 0)
    pe = np.where(live, pe, E_ZERO)
    p_neg = a_neg[:, :, None, :] ^ b_neg[:, None, :, :]
    c_neg, c_sig, c_exp, c_nan, c_pinf, c_ninf = _fp32_term(d)

    e_max = np.maximum(pe.max(axis=-1), c_exp)
    # truncate each term to F fraction bits below 2^e_max: its value is sig · 2^(e − fraction bits)
    shift = pe - e_max[..., None] + f_bits - (MBITS[af] + MBITS[bf])[:, None, None, None]
    t = np.where(shift >= 0, p << np.clip(shift, 0, 62), p >> np.clip(-shift, 0, 63))
    c_shift = c_exp - e_max + f_bits - 23
    tc = np.where(c_shift >= 0, c_sig << np.clip(c_shift, 0, 62), c_sig >> np.clip(-c_shift, 0, 63))
    z = np.where(p_neg, -t, t).sum(axis=-1) + np.where(c_neg, -tc, tc)

    # normalise and truncate: |z| · 2^(e_max − F) to M fraction bits, exponent at least −126
    mag = np.abs(z)
    top = bit_length(mag) - 1 + e_max - f_bits          # floor(log2 |sum|)
    exp = np.maximum(top, E_MIN)
    drop = exp - m_bits - (e_max - f_bits)
    kept = np.where(drop >= 0, mag >> np.clip(drop, 0, 63), mag << np.clip(-drop, 0, 62))
    overflow = (kept != 0) & (exp >= 128)
    # kept < 2^(M+1) at 2^(exp − M); its hidden bit carries into the exponent field
    finite_bits = ((exp + 126) << 23) + (kept << (23 - m_bits))
    finite_bits = np.where(overflow, FP32_INF, finite_bits) | (((z < 0) & (kept != 0)).astype(np.int64) << 31)
    finite_bits = np.where(kept == 0, 0, finite_bits)

    # specials, SPEC §2 rules 2-5 for this chunk and its C
    b_live = ~b_zero & (bk != NAN)
    a_live = ~a_zero & (ak != NAN)
    a_inf, b_inf = (ak == INF)[:, :, None, :], (bk == INF)[:, None, :, :]
    inf_product = (a_inf & b_live[:, None, :, :]) | (b_inf & a_live[:, :, None, :])
    pinf = (inf_product & ~p_neg).any(axis=-1) | c_pinf
    ninf = (inf_product & p_neg).any(axis=-1) | c_ninf
    invalid = ((a_inf & b_zero[:, None, :, :]) | (a_zero[:, :, None, :] & b_inf)).any(axis=-1) | (pinf & ninf)
    a_nan = (ak == NAN).any(axis=-1) | (sa == SCALE_NAN)
    b_nan = (bk == NAN).any(axis=-1) | (sb == SCALE_NAN)
    nan = invalid | a_nan[:, :, None] | b_nan[:, None, :] | c_nan
    inf = ~nan & (pinf | ninf)
    bits = np.where(nan, VENDOR_NAN, np.where(inf, FP32_INF | (ninf.astype(np.int64) << 31), finite_bits))
    flags = _FLAG_INVALID * invalid | _FLAG_OVERFLOW * (~nan & ~inf & overflow)
    return bits, flags


def vendor_steps(mode, a_format, b_format, a, b, a_scale, b_scale, d_bits, enabled, built=MODES):
    """n steps of an R × C tile, each in a mode other than `exact`: (bits uint32, flags uint8) [n, R, C].

    mode, a_format, b_format: [n] codes; a: [n, R, k], b: [n, C, k]; a_scale: [n, R]; b_scale:
    [n, C]; d_bits: [n, R, C] binary32 bits before the step; enabled: the build's format names;
    built: its mode names. A mode the build lacks (or the reserved code 3) gives SPEC §2's NaN
    0x7FC00000 with `invalid`; a format outside the mode's list or not enabled gives 0x7FFFFFFF
    with `invalid`.
    """
    mode, a_format, b_format = (np.asarray(x, np.int64) for x in (mode, a_format, b_format))
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    a_scale, b_scale = np.asarray(a_scale, np.int64), np.asarray(b_scale, np.int64)
    d = np.asarray(d_bits).astype(np.int64) & 0xFFFFFFFF
    n, rows, k = a.shape
    cols = b.shape[1]
    bits = np.full((n, rows, cols), CANONICAL_NAN, np.int64)
    flags = np.full((n, rows, cols), _FLAG_INVALID, np.int64)
    enabled_mask = np.zeros(8, np.bool_)
    enabled_mask[[format_code(name) for name in enabled]] = True
    length = min(k, CHUNK)
    for code, vendor in VENDOR_MODES.items():
        if vendor.name not in built:
            continue
        here = mode == code
        ok = vendor.allowed[a_format] & vendor.allowed[b_format] & enabled_mask[a_format] & enabled_mask[b_format]
        bits[here & ~ok] = VENDOR_NAN
        steps = np.flatnonzero(here & ok)
        batch = max(1, BATCH_TERMS // (rows * cols * length))
        for start in range(0, steps.size, batch):
            s = steps[start:start + batch]
            out, raised = d[s], np.zeros((s.size, rows, cols), np.int64)
            for i in range(0, k, length):
                out, chunk_flags = _chunk(vendor, a_format[s], b_format[s], a[s, :, i:i + length],
                                          b[s, :, i:i + length], a_scale[s], b_scale[s], out)
                raised |= chunk_flags
            bits[s], flags[s] = out, raised
    return bits.astype(np.uint32), flags.astype(np.uint8)


def vendor_step(mode, a_format, b_format, a, b, a_scale, b_scale, d_bits,
                enabled=("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")):
    """One PE, one step in `mode` (a name or code other than exact): (binary32 bits, flags)."""
    code = mode_code(mode) if isinstance(mode, str) else mode
    bits, flags = vendor_steps([code], [a_format], [b_format], [[a]], [[b]], [[a_scale]], [[b_scale]],
                               [[[d_bits]]], enabled)
    return int(bits[0, 0, 0]), int(flags[0, 0, 0])
