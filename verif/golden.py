"""The golden model: what every PE computes, bit for bit (SPEC §2), vectorised with numpy.

A step is evaluated in two parts:

1. `block_terms` — for each PE the exact block sum S = sum_i a_i · b_i as an integer on the grid
   of the two formats, less the trailing zeros its row and column share, with its weight
   E = sa + sb − 254 + lsb_a + lsb_b + those zeros, and the special-value facts (NaN, ±Inf,
   invalid). One int64 matmul where the sum's bound allows; otherwise B is split into 16-bit
   limbs (E5M2 × E5M2 sums can need 71 bits, HiF8 × HiF8 82: its grid values reach 2^37),
   falling back to Python ints when the sum is that wide.
2. `accumulate` — D + S · 2^E, exact (int64 when both fit a 60-bit window, Python ints
   otherwise), then one RNE rounding by `round_fp32`, the only rounder of the project's model.

`GoldenTile.run` pushes a whole stream of steps through both parts at once: the block sums of
all steps in one pass, then the accumulation in "levels" (a step's level is its distance from the
start of its slot's accumulation), so each numpy call covers every independent step.
"""

import functools

import numpy as np

from .formats import (CANONICAL_NAN, FINITE, FP32_INF, INF, KIND, LSB_EXP, NAN, SCALE_NAN, SIGN,
                      VALUE, bit_length, format_code)
from .modes import EXACT, MODE_CODES, vendor_steps

__all__ = ["INVALID", "OVERFLOW", "UNDERFLOW", "INEXACT", "round_fp32", "block_terms",
           "accumulate", "pe_step", "GoldenTile"]

#: Flag bits (SPEC §2).
INVALID, OVERFLOW, UNDERFLOW, INEXACT = 1, 2, 4, 8

#: Terms added by `accumulate` are below 2^ROUND_BITS, so magnitudes given to `round_fp32` are
#: below 2^(ROUND_BITS + 1) (the right-shift clip below needs it).
ROUND_BITS = 60


def round_fp32(neg, mag, exp, sticky):
    """RNE binary32 of (-1)^neg · (mag + f) · 2^exp, f = 0 if not sticky else some 0 < f < 1.

    All arguments are numpy arrays (or scalars) of one shape; mag is int64 below 2^61. A sticky
    magnitude must be at least 2^26 so that f lies below the rounding point. Returns (bits,
    flags) as int64 arrays: overflow to ±Inf, gradual underflow, signed zero when a nonzero value
    rounds to zero, +0 for an exact zero; flags OVERFLOW, UNDERFLOW (tiny before rounding and
    inexact) and INEXACT.
    """
    neg, mag, exp, sticky = (np.asarray(v) for v in (neg, mag, exp, sticky))
    mag = mag.astype(np.int64)
    exp = exp.astype(np.int64)
    n = bit_length(mag)
    # keep 24 significant bits, but never a bit below 2^-149 (the subnormal LSB)
    shift = np.maximum(n - 24, -149 - exp)
    right = np.clip(shift, 1, ROUND_BITS + 2)  # mag < 2^61: past 61 nothing is left anyway
    kept = mag >> right
    rem = mag & ((np.int64(1) << right) - 1)
    half = np.int64(1) << (right - 1)
    up = (rem > half) | ((rem == half) & (sticky | ((kept & 1) == 1)))
    is_right = shift > 0
    q = np.where(is_right, kept + up, mag << np.clip(-shift, 0, 24))
    inexact = sticky | (is_right & (rem != 0))
    # q · 2^(exp + shift) with q < 2^24 (2^24 after a carry): the biased exponent lands on top
    bits = ((exp + shift + 149) << 23) + q
    overflow = bits >= FP32_INF
    bits = np.where(overflow, FP32_INF, bits) | (neg.astype(np.int64) << 31)
    underflow = inexact & (n - 1 + exp < -126)
    flags = (OVERFLOW * overflow) | (UNDERFLOW * underflow) | (INEXACT * (inexact | overflow))
    zero = (mag == 0) & ~sticky
    return np.where(zero, 0, bits), np.where(zero, 0, flags)


@functools.cache
def _enabled_mask(enabled):
    """[format code 0..7] -> enabled, for a tuple of format names."""
    mask = np.zeros(8, np.bool_)
    mask[[format_code(name) for name in enabled]] = True
    return mask


def _shared_zeros(values):
    """Trailing zero bits shared by the nonzero grid values (|v| <= 2^37) along the last axis."""
    lowest = np.where(values == 0, 1 << 38, values & -values)   # lowest set bit; 2^38 for a zero
    return bit_length(lowest.min(axis=-1)) - 1


def _limb_matmul(a, b):
    """a @ b exactly for int64 [N, R, k] @ [N, k, C] with |values| <= 2^37 and k <= 128.

    b is split into 16-bit limbs, b = sum_j b_j · 2^(16j) (every limb but the top one unsigned,
    the top one signed): each partial sum is below k · 2^37 · 2^16 <= 2^60. Returns (sums, wide):
    the int64 sums (0 where a sum is not below 2^61) and {(n, r, c): Python int} for those.
    """
    top = max(1, int(bit_length(np.abs(b).max())))
    n_limbs = -(-(top + 1) // 16)            # the signed top limb needs a bit for its sign
    parts = [a @ ((b >> (16 * j)) & 0xFFFF) for j in range(n_limbs - 1)] + [a @ (b >> (16 * (n_limbs - 1)))]
    total, fits = parts[-1], np.ones(parts[-1].shape, np.bool_)
    for part in reversed(parts[:-1]):
        fits &= np.abs(total) < (1 << 44)    # then total · 2^16 + part < 2^60 + 2^60
        total = (np.where(fits, total, 0) << 16) + part
    fits &= np.abs(total) < (1 << 61)
    wide = {(int(n), int(r), int(c)): sum(int(p[n, r, c]) << (16 * j) for j, p in enumerate(parts))
            for n, r, c in zip(*np.nonzero(~fits))}
    return np.where(fits, total, 0), wide


def block_terms(a_format, b_format, a, b, a_scale, b_scale, enabled=("e4m3", "e5m2")):
    """Exact block sums and special facts for N steps of an R × C tile.

    a: [N, R, k] codes, b: [N, C, k], a_scale: [N, R], b_scale: [N, C], a_format, b_format: [N].
    Returns a dict of [N, R, C] arrays: S (the int64 block sum in units of 2^E, 0 where `wide`
    holds it), E, nan, invalid, pinf, ninf (block facts), and `wide`: {flat index
    into [N, R, C]: Python int} for the sums that do not fit 61 bits.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    a_scale, b_scale = np.asarray(a_scale, np.int64), np.asarray(b_scale, np.int64)
    a_format, b_format = np.asarray(a_format, np.int64), np.asarray(b_format, np.int64)
    for name, array, high in (("element code", a, 255), ("element code", b, 255), ("scale", a_scale, 255),
                              ("scale", b_scale, 255), ("format code", a_format, 7), ("format code", b_format, 7)):
        if array.size and (array.min() < 0 or array.max() > high):
            bad = array.min() if array.min() < 0 else array.max()
            raise ValueError(f"Every {name} must be in 0..{high}, not {bad}")
    n_steps, rows, cols = a.shape[0], a.shape[1], b.shape[1]
    fa, fb = a_format[:, None, None], b_format[:, None, None]
    a_index, b_index = (fa << 8) | a, (fb << 8) | b      # into the [format, byte] tables, flattened
    av, bv = np.take(VALUE, a_index), np.take(VALUE, b_index)
    ak, bk = np.take(KIND, a_index), np.take(KIND, b_index)
    # drop the trailing zero bits every element of a row (column) shares: exact, and it keeps
    # realistic E5M2 x E5M2 sums, whose grid values carry many zeros, well inside int64
    a_zeros, b_zeros = _shared_zeros(av), _shared_zeros(bv)
    av, bv = av >> a_zeros[..., None], bv >> b_zeros[..., None]

    # |grid values| <= 2^37 (HiF8's 2^15 in units of 2^-22; E5M2's reach 2^31); where
    # k · max|a| · max|b| stays below 2^61 one int64 matmul is exact
    bound = np.abs(av).max(axis=(1, 2)).astype(np.float64) * np.abs(bv).max(axis=(1, 2)) * a.shape[2]
    direct = bound < 2.0 ** 61
    bt = bv.transpose(0, 2, 1)
    if direct.all():
        s = av @ bt
        wide = {}
    else:
        s, wide = np.zeros((n_steps, rows, cols), np.int64), {}
        s[direct] = av[direct] @ bt[direct]
        sel = np.flatnonzero(~direct)
        s[sel], wide_sel = _limb_matmul(av[sel], bt[sel])
        for (i, r, c), total in wide_sel.items():
            wide[(int(sel[i]) * rows + r) * cols + c] = total

    e = (a_scale[:, :, None] + b_scale[:, None, :] - 254 + a_zeros[:, :, None] + b_zeros[:, None, :]
         + LSB_EXP[a_format][:, None, None] + LSB_EXP[b_format][:, None, None])
    mask = _enabled_mask(tuple(enabled))
    disabled = ~(mask[a_format] & mask[b_format])
    shape = (n_steps, rows, cols)
    invalid = np.broadcast_to(disabled[:, None, None], shape).copy()
    nan = ((a_scale == SCALE_NAN) | (ak == NAN).any(axis=2))[:, :, None] \
        | ((b_scale == SCALE_NAN) | (bk == NAN).any(axis=2))[:, None, :]
    pinf = np.zeros(shape, np.bool_)
    ninf = np.zeros(shape, np.bool_)
    special = np.flatnonzero(((ak == INF).any(axis=(1, 2)) | (bk == INF).any(axis=(1, 2))) & ~disabled)
    if special.size:
        # which signed infinities enter each PE's sum, and whether some product is Inf x 0
        a_sign, b_sign = np.take(SIGN, a_index[special]), np.take(SIGN, b_index[special])
        ak_s, bk_s = ak[special], bk[special]
        a_inf, b_inf = ak_s == INF, bk_s == INF
        a_zero = (ak_s == FINITE) & (av[special] == 0)
        b_zero = (bk_s == FINITE) & (bv[special] == 0)
        a_live = (ak_s != NAN) & ~a_zero                 # nonzero finite or infinite
        b_live = (bk_s != NAN) & ~b_zero

        def pairs_any(x, y):                              # any_i x[n, r, i] & y[n, c, i]
            return (x.astype(np.int64) @ y.astype(np.int64).transpose(0, 2, 1)) > 0

        pinf[special] = pairs_any(a_inf & ~a_sign, b_live & ~b_sign) | pairs_any(a_inf & a_sign, b_live & b_sign) \
            | pairs_any(a_live & ~a_sign, b_inf & ~b_sign) | pairs_any(a_live & a_sign, b_inf & b_sign)
        ninf[special] = pairs_any(a_inf & ~a_sign, b_live & b_sign) | pairs_any(a_inf & a_sign, b_live & ~b_sign) \
            | pairs_any(a_live & ~a_sign, b_inf & b_sign) | pairs_any(a_live & a_sign, b_inf & ~b_sign)
        invalid[special] |= pairs_any(a_inf, b_zero) | pairs_any(a_zero, b_inf)
    return {"S": s, "E": e, "nan": nan, "invalid": invalid, "pinf": pinf, "ninf": ninf, "wide": wide}


def accumulate(d_bits, s, e, nan, invalid, pinf, ninf, wide=None):
    """New binary32 bits and this step's flags for flat lanes: D + S · 2^E, SPEC §2.

    d_bits: [M] binary32 bits before the step; s, e, nan, invalid, pinf, ninf: [M] block facts
    (see `block_terms`); wide: {lane: Python int} block sums too wide for `s`.
    Returns (bits uint32 [M], flags uint8 [M]).
    """
    wide = wide or {}
    d = np.asarray(d_bits).astype(np.int64) & 0xFFFFFFFF      # int32 bit patterns welcome too
    d_neg = d >> 31
    d_exp = (d >> 23) & 0xFF
    d_frac = d & 0x7FFFFF
    d_inf = (d_exp == 0xFF) & (d_frac == 0)
    pinf = pinf | (d_inf & (d_neg == 0))
    ninf = ninf | (d_inf & (d_neg == 1))
    invalid = invalid | (pinf & ninf)                               # rules 1-3
    nan = invalid | nan | ((d_exp == 0xFF) & (d_frac != 0))          # rule 4
    inf = ~nan & (pinf | ninf)                                       # rule 5
    finite = ~(nan | inf)

    # rule 6: D = ±dm · 2^de exactly, added to S · 2^E on the grid of the lower of the two
    dm = np.where(finite, np.where(d_exp > 0, d_frac | (1 << 23), d_frac), 0)
    de = np.maximum(d_exp, 1) - 150
    ds = np.where(d_neg == 1, -dm, dm)
    s = np.where(finite, s, 0)
    low = np.where(s == 0, de, np.where(dm == 0, e, np.minimum(e, de)))
    s_shift = np.where(s == 0, 0, e - low)
    d_shift = np.where(dm == 0, 0, de - low)
    # both shifted terms below 2^60, so the sum is below 2^61 and int64 holds it exactly
    fast = (bit_length(np.abs(s)) + s_shift <= ROUND_BITS) & (bit_length(dm) + d_shift <= ROUND_BITS)
    wide_lanes = np.zeros(d.shape, np.bool_)
    wide_lanes[list(wide)] = True
    fast &= ~wide_lanes | ~finite
    z = (s << np.where(fast, s_shift, 0)) + (ds << np.where(fast, d_shift, 0))
    neg, mag, exp, sticky = z < 0, np.abs(z), low, np.zeros(d.shape, np.bool_)
    for lane in np.flatnonzero(~fast):
        neg[lane], mag[lane], exp[lane], sticky[lane] = _exact_sum(
            wide.get(int(lane), int(s[lane])), int(e[lane]), int(ds[lane]), int(de[lane]))
    rounded, flags = round_fp32(neg, mag, exp, sticky)

    bits = np.where(nan, CANONICAL_NAN, np.where(inf, FP32_INF | (ninf.astype(np.int64) << 31), rounded))
    flags = np.where(finite, flags, 0) | (INVALID * invalid)
    return bits.astype(np.uint32), flags.astype(np.uint8)


def _exact_sum(s, e, d, de):
    """s · 2^e + d · 2^de in Python ints, cut to (neg, mag < 2^60, exp, sticky) for the rounder."""
    terms = [(v, x) for v, x in ((s, e), (d, de)) if v]
    if not terms:
        return False, 0, 0, False
    low = min(x for _, x in terms)
    z = sum(v << (x - low) for v, x in terms)
    mag = abs(z)
    cut = max(0, mag.bit_length() - ROUND_BITS)
    # a cut sum has 60 significant bits, far above the binary32 rounding point
    return z < 0, mag >> cut, low + cut, bool(mag & ((1 << cut) - 1))


def pe_step(a_format, b_format, a, b, a_scale, b_scale, d_bits, enabled=("e4m3", "e5m2")):
    """One PE, one step: (new binary32 bits, flags raised by this step). `d_bits` is D[t] before."""
    terms = block_terms([a_format], [b_format], [[a]], [[b]], [[a_scale]], [[b_scale]], enabled)
    bits, flags = accumulate(np.array([d_bits], np.uint32), *(terms[k].reshape(1) for k in _FACTS),
                             wide=terms["wide"])
    return int(bits[0]), int(flags[0])


_FACTS = ("S", "E", "nan", "invalid", "pinf", "ninf")

_FRESH, _HELD = -1, -2   # a step's predecessor: none (+0, flags clear) / the slot's state before the run


class GoldenTile:
    """The R × C tile of `config` (a hw.config.Config) with its slots, step by step or in bulk.

    Enabled formats are `config.formats`. `step` takes one step (the keyword names of
    `Config.pack_step`, and `mode`: a SPEC §6 mode code, 0 exact when absent); `run` takes many
    and is the fast path. Steps in another mode than exact go to `modes.vendor_steps`.
    """

    #: `run_arrays` goes through the stream in chunks of about this many elements per operand
    #: (each [steps, R or C, k] int64 temporary near 32 MB); slot state carries across chunks
    chunk_elements = 1 << 22

    def __init__(self, config):
        self.config = config
        self.reset()

    def reset(self):
        """Every slot of every PE to +0 with flags clear (SPEC §2)."""
        shape = (self.config.depth, self.config.rows, self.config.cols)
        self.d = np.zeros(shape, np.uint32)
        self.flags = np.zeros(shape, np.uint8)

    def step(self, a, a_scale, b, b_scale, a_format, b_format, slot=0, first=1, last=1, mode=EXACT):
        """One step; returns None, or when `last` the result dict of `Config.unpack_result`."""
        results = self.run([dict(a=a, a_scale=a_scale, b=b, b_scale=b_scale, a_format=a_format,
                                 b_format=b_format, slot=slot, first=first, last=last, mode=mode)])
        return results[0] if results else None

    def run(self, steps):
        """Many steps (dicts with the keyword names of `step`); the results of their `last` steps."""
        steps = list(steps)
        if not steps:
            return []

        def column(key, dtype=np.int64):
            return np.array([s[key] for s in steps], dtype)

        return self.run_arrays(column("a"), column("a_scale"), column("b"), column("b_scale"),
                               column("a_format"), column("b_format"), column("slot"),
                               column("first", np.bool_), column("last", np.bool_),
                               np.array([s.get("mode", EXACT) for s in steps], np.int64))

    def run_arrays(self, a, a_scale, b, b_scale, a_format, b_format, slot, first, last, mode=None):
        """`run` on arrays: a [N, R, k], a_scale [N, R], b [N, C, k], b_scale [N, C], the rest [N]
        (mode: SPEC §6 codes, None for all exact)."""
        cfg = self.config
        n_steps = len(slot)
        a, b = np.asarray(a), np.asarray(b)
        expected = {"a": (n_steps, cfg.rows, cfg.block), "b": (n_steps, cfg.cols, cfg.block)}
        for name, array in (("a", a), ("b", b)):
            if array.shape != expected[name]:
                raise ValueError(f"Operand {name} must have shape {expected[name]}, not {array.shape}")
        slot = np.asarray(slot, np.int64)
        if slot.size and not (0 <= slot.min() and slot.max() < cfg.depth):
            raise ValueError(f"Slot must be in 0..{cfg.depth - 1}")
        # a build with one mode runs every step in it (SPEC §6)
        built = cfg.modes
        if mode is None or len(built) == 1:
            mode = np.full(n_steps, MODE_CODES[built[0]] if len(built) == 1 else EXACT)
        mode = np.asarray(mode, np.int64)
        if mode.size and not (0 <= mode.min() and mode.max() <= 3):
            raise ValueError("Mode must be a 2-bit code 0..3 (0 exact, 1 blackwell, 2 hopper, 3 reserved)")
        arrays = (a, np.asarray(a_scale), b, np.asarray(b_scale), np.asarray(a_format),
                  np.asarray(b_format), slot, np.asarray(first), np.asarray(last), mode)
        chunk = max(1, self.chunk_elements // (max(cfg.rows, cfg.cols) * cfg.block))
        results = []
        for start in range(0, n_steps, chunk):
            results += self._run_chunk(*(array[start:start + chunk] for array in arrays))
        return results

    def _run_chunk(self, a, a_scale, b, b_scale, a_format, b_format, slot, first, last, mode):
        cfg = self.config
        built = cfg.modes
        # steps the exact path does not answer: other modes, or exact where the build lacks it
        vendor_mode = (mode != EXACT) | ("exact" not in built)
        n_steps = len(slot)
        terms = block_terms(a_format, b_format, a, b, a_scale, b_scale, cfg.formats)
        wide_lanes = np.array(sorted(terms["wide"]), np.int64)

        # schedule: each step's predecessor on its slot and its level (distance from a fresh start)
        prev = np.empty(n_steps, np.int64)
        level = np.empty(n_steps, np.int64)
        latest = [_HELD] * cfg.depth
        for n, (t, f, l) in enumerate(zip(slot.tolist(), first.tolist(), last.tolist())):
            prev[n] = _FRESH if f else latest[t]
            level[n] = level[prev[n]] + 1 if prev[n] >= 0 else 0
            latest[t] = _FRESH if l else n

        plane = cfg.rows * cfg.cols
        out_d = np.zeros((n_steps, cfg.rows, cfg.cols), np.uint32)
        out_flags = np.zeros((n_steps, cfg.rows, cfg.cols), np.uint8)
        for lv in range(int(level.max()) + 1):
            idx = np.flatnonzero(level == lv)
            p = prev[idx]
            d_in = np.where((p == _HELD)[:, None, None], self.d[slot[idx]], out_d[np.maximum(p, 0)])
            f_in = np.where((p == _HELD)[:, None, None], self.flags[slot[idx]], out_flags[np.maximum(p, 0)])
            fresh = (p == _FRESH)[:, None, None]
            d_in, f_in = np.where(fresh, 0, d_in), np.where(fresh, 0, f_in)
            lanes = ((idx[:, None] * plane) + np.arange(plane)).reshape(-1)    # ascending
            # the wide sums of this level, renumbered to positions among its lanes
            where = np.minimum(np.searchsorted(lanes, wide_lanes), lanes.size - 1)
            here = lanes[where] == wide_lanes
            wide = {int(i): terms["wide"][int(x)] for i, x in zip(where[here], wide_lanes[here])}
            bits, flags = accumulate(d_in.reshape(-1), *(terms[k].reshape(-1)[lanes] for k in _FACTS),
                                     wide=wide)
            out_d[idx] = bits.reshape(-1, cfg.rows, cfg.cols)
            out_flags[idx] = (flags.reshape(-1, cfg.rows, cfg.cols) | f_in)
            here = np.flatnonzero(vendor_mode[idx])
            if here.size:
                v = idx[here]
                out_d[v], v_flags = vendor_steps(mode[v], a_format[v], b_format[v], a[v], b[v], a_scale[v],
                                                 b_scale[v], d_in[here], cfg.formats, built)
                out_flags[v] = v_flags | f_in[here]

        for t, n in enumerate(latest):
            if n == _FRESH:
                self.d[t], self.flags[t] = 0, 0
            elif n >= 0:
                self.d[t], self.flags[t] = out_d[n], out_flags[n]
        return [{"d": out_d[n].tolist(), "flags": out_flags[n].tolist(), "slot": int(slot[n])}
                for n in np.flatnonzero(last)]
