"""Accumulate: add a block sum to a binary32 accumulator exactly, then round once (SPEC §2).

The block's value is V = sum · 2^(scale + grid_lsb), with `sum` an exact two's-complement integer.
The stage computes RNE_binary32(D + V) like the addend path of a fused multiply-add:

    Prepare    normalise |sum| (leading-zero shift), unpack D, compare exponents, pick the larger
               operand ("big") and the smaller ("small"), decide the special cases
    Align      shift small right against big; every bit shifted out of the window is OR-ed
               ("jammed") into the window's least significant bit
    Add        sign-magnitude add or subtract, then the magnitude of the result
    Normalise  leading-zero shift of the result, stopped at the binary32 subnormal exponent
    Round      one RNE rounding to binary32 with gradual underflow and overflow; specials override

Why the jammed window is exact.  The window is N places wide, big's leading place at N-1 (N is
the carry place); small is shifted right and its bits at place <= 0 are OR-ed into place 0.

  0. The sum's significand has at most sum_width - 1 bits: |sum| < 2^(sum_width-1), except the
     most negative sum, whose magnitude 2^(sum_width-1) is a single bit.
  1. Big's lowest bit is at place >= 1 (N >= sum_width and N >= 25), so big is a multiple of
     2 units.  The jammed small equals the exact small, or both lie strictly between the same
     two multiples of 2 units; so do big ± small and big ± jammed small.
  2. Bits are lost only when small moves right by 2 places or more: small's widest significand
     (sum_width - 1 bits) has its lowest bit at place N - sum_width >= 0 after one place.
     Then the result's leading bit is at N-1 or N when adding, and at N-2 or above when
     subtracting (big >= 2^(N-1) units, small < 2^(N-2) units).  A 24-bit result led at N-2
     has its last place at N-25 >= 2, as N >= 27.  Big is unnormalised only when it is a zero
     or subnormal D (exponent -126, the least any operand has); then the result is below 2^-124
     and its last place is 2^-149, at place N-24 >= 3.
  3. So whenever bits are lost the rounding grid (last place >= 4 units, halfway points >= 2
     units) is made of multiples of 2 units: the exact and the jammed result round alike, are
     both inexact, and lie on the same side of 2^-126 (a multiple of 2 units, or below 2^(N-2)
     units and hence below both), so overflow, underflow and inexact agree too.

Latency: `stages` cycles (0 to 3 pipeline registers, free-running: no enable, no stall).
Throughput: one accumulation per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import delay

__all__ = ["Accumulate", "Normalise", "Align", "Round", "NAN"]

#: The canonical quiet NaN of every NaN result (SPEC §2).
NAN = 0x7FC0_0000

# binary32 facts: 23 fraction bits, exponent bias 127, least normal exponent -126.
_FRAC = 23
_BIAS = 127
_EMIN = -126
_EXP_ALL_ONES = 255
_INF = 0x7F80_0000

#: What travels beside the datapath: the special result that overrides the finite one (NaN, or
#: Inf of sign `neg`) and the flags known before rounding (the slot's, and invalid).
_SIDE = data.StructLayout({"nan": 1, "inf": 1, "neg": 1, "flags": 4})

#: Where the pipeline registers go for each `stages`: after Align, after Add, after Normalise.
#: Chosen by the longest generic-gate path at sum_width 70 (Yosys `synth; ltp -noff`): 325 with no
#: register; after Align 197 (after Prepare 215, after Add 256); after Align and Add 130 (after
#: Prepare and Add 141); the third after Normalise 126 (after Prepare instead 129).
_CUTS = {0: (), 1: ("align",), 2: ("align", "add"), 3: ("align", "add", "normalise")}


def _range_shape(lo, hi):
    """The smallest shape holding every integer of lo..hi."""
    return Shape.cast(range(lo, hi + 1))


class Normalise(wiring.Component):
    """Shift `i` left until its top bit is set, but by at most `limit` places; `shift` says how far.

    A logarithmic shifter that counts leading zeros as it goes: the step of 2^j places is taken
    when the top 2^j bits are zero and the places taken so far plus 2^j stay within the limit.
    Taking steps greedily from the largest down gives exactly min(leading zeros, limit).
    A zero input shifts by the limit (or the largest count). Combinational.
    """

    def __init__(self, width, *, limit_shape=None):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"Normalise width must be an integer of at least 2, not {width!r}")
        self._width = width
        # Steps 2^j, j < count bits, sum to 2^bits - 1 >= width - 1: enough to bring any nonzero
        # bit to the top.
        self._count_bits = (width - 1).bit_length()
        self._limited = limit_shape is not None
        members = {
            "i": In(width),
            "o": Out(width),
            "shift": Out(self._count_bits),
        }
        if self._limited:
            members["limit"] = In(limit_shape)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        most = (1 << self._count_bits) - 1
        if self._limited:
            # Saturate: a limit beyond the largest count never binds.
            limit = Mux(self.limit > most, most, self.limit)
        value = self.i
        taken = []  # shift bits decided so far, most significant first
        for j in reversed(range(self._count_bits)):
            step = 1 << j
            top_clear = value[max(0, self._width - step):] == 0
            if self._limited:
                # places taken so far (higher powers of two) plus this step, within the limit
                so_far = Cat(Const(0, j + 1), *reversed(taken)) if taken else Const(0, j + 1)
                take = top_clear & ((so_far | step) <= limit)
            else:
                take = top_clear
            bit = Signal(name=f"take_{step}")
            m.d.comb += bit.eq(take)
            shifted = Signal(self._width, name=f"shifted_{step}")
            m.d.comb += shifted.eq(Mux(bit, value << step, value))
            value = shifted
            taken.append(bit)
        m.d.comb += [
            self.o.eq(value),
            self.shift.eq(Cat(*reversed(taken))),
        ]
        return m


class Align(wiring.Component):
    """Shift `i` right by `shift` places, OR-ing every bit shifted out into bit 0 of `o`.

    A logarithmic shifter with a sticky bit per step; a shift of `width` or more leaves only the
    sticky bit. Combinational.
    """

    def __init__(self, width, *, shift_shape):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"Align width must be an integer of at least 2, not {width!r}")
        self._width = width
        # Steps 2^j, j < bits, reach 2^bits - 1 >= width places: every bit can leave the window.
        self._count_bits = width.bit_length()
        super().__init__({
            "i": In(width),
            "shift": In(shift_shape),
            "o": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        most = (1 << self._count_bits) - 1
        shift = Signal(self._count_bits)
        m.d.comb += shift.eq(Mux(self.shift > most, most, self.shift))
        value, sticky = self.i, Const(0, 1)
        for j in reversed(range(self._count_bits)):
            step = 1 << j
            lost = value[:min(step, self._width)] != 0
            sticky = sticky | (shift[j] & lost)
            shifted = Signal(self._width, name=f"shifted_{step}")
            m.d.comb += shifted.eq(Mux(shift[j], value >> step, value))
            value = shifted
        m.d.comb += self.o.eq(value | sticky)
        return m


class Round(wiring.Component):
    """Round sign · `sig` · 2^(`exp` - width + 1) to binary32, ties to even (SPEC §2).

    `sig` is normalised (top bit set) with `exp` >= -126, or has its top bit clear with
    `exp` = -126 (a subnormal or zero exact value); everything below the round bit is sticky.
    Gives +0 for an exact zero, ±Inf with overflow for a magnitude rounding beyond the largest
    finite value; `underflow` = tiny before rounding and inexact. Combinational.
    """

    def __init__(self, width, *, exp_shape):
        # 24 significand bits and a round bit at least.
        if not isinstance(width, int) or width < _FRAC + 2:
            raise ValueError(f"Round width must be an integer of at least {_FRAC + 2}, "
                             f"not {width!r}")
        self._width = width
        super().__init__({
            "sign": In(1),
            "exp": In(exp_shape),
            "sig": In(width),
            "result": Out(32),
            "overflow": Out(1),
            "underflow": Out(1),
            "inexact": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self._width
        normal = self.sig[w - 1]
        frac = self.sig[w - 1 - _FRAC:w - 1]
        lsb = self.sig[w - 1 - _FRAC]
        round_bit = self.sig[w - 2 - _FRAC]
        sticky = self.sig[:w - 2 - _FRAC] != 0
        biased = self.exp + _BIAS
        field = Mux(normal, biased[:8], 0)
        # Rounding up carries from the fraction into the exponent field: a subnormal becomes the
        # least normal, 1.11..1 · 2^e becomes 2^(e+1), and the largest finite becomes Inf.
        rounded = Signal(32)
        m.d.comb += rounded.eq(Cat(frac, field) + (round_bit & (sticky | lsb)))
        inexact_bits = round_bit | sticky
        overflow = (normal & (biased >= _EXP_ALL_ONES)) | (rounded >= _INF)
        m.d.comb += [
            self.overflow.eq(overflow),
            self.inexact.eq(inexact_bits | overflow),
            self.underflow.eq(~normal & inexact_bits),
            # an exact zero (no bit set) is +0 whatever the sign of the operands
            self.result.eq(Cat(Mux(overflow, _INF, rounded[:31]),
                               self.sign & (normal | (frac != 0) | inexact_bits))),
        ]
        return m


class Accumulate(wiring.Component):
    """D' = RNE_binary32(D + sum · 2^(scale + grid_lsb)), exact add, one rounding; specials; flags.

    Latency: `stages` cycles (a free-running pipeline, no enable or stall: it is never stalled).
    Throughput: one accumulation per cycle.

    sum_width -- width of the signed block sum (for example 64 + log2(k) + 1).
    grid_lsb  -- weight exponent of the sum's least significant bit (negative, for example -32).
    stages    -- pipeline registers, 0 to 3: after Align (1, 2 and 3), after Add (2 and 3), after
                 Normalise (3).

    Inputs: `sum`, `scale` (sa + sb - 254, -254..254), `nan` (NaN element or scale), `invalid`
    (disabled format or Inf × 0), `pos_inf`/`neg_inf` (an infinite product entered the sum), `d`
    (binary32 before the step), `d_flags`. Outputs: `result` (binary32), `flags` (`d_flags` OR
    the flags of this step; bit 0 invalid, 1 overflow, 2 underflow, 3 inexact).
    """

    def __init__(self, *, sum_width, grid_lsb, stages=0):
        problems = []

        def check(value, ok, message):
            if not isinstance(value, int) or isinstance(value, bool) or not ok(value):
                problems.append(f"{message}, not {value!r}")

        check(sum_width, lambda v: 2 <= v <= 512, "Sum width must be an integer from 2 to 512")
        check(grid_lsb, lambda v: -512 <= v <= 0, "Grid LSB must be an integer from -512 to 0")
        check(stages, lambda v: v in _CUTS,
              f"Stages must be an integer from 0 to {max(_CUTS)}")
        if problems:
            self._MustUse__silence = True  # a refused design is not an unused one
            raise ValueError("; ".join(problems))
        self._sum_width = sum_width
        self._grid_lsb = grid_lsb
        self._stages = stages
        super().__init__({
            "sum": In(signed(sum_width)),
            "scale": In(signed(10)),  # sa + sb - 254 with codes 0..255: -254..+256, 10 signed bits
            "nan": In(1),
            "invalid": In(1),
            "pos_inf": In(1),
            "neg_inf": In(1),
            "d": In(32),
            "d_flags": In(4),
            "result": Out(32),
            "flags": Out(4),
        })

    @property
    def latency(self):
        """Cycles from inputs to outputs."""
        return self._stages

    def elaborate(self, platform):
        m = Module()
        cuts = _CUTS[self._stages]

        def stage(cut, **values):
            """Values after pipeline cut `cut`: registered if the cut is in use, else the same."""
            return [delay(m, value, int(cut in cuts), f"{name}_{cut}")
                    for name, value in values.items()]

        # -- derived widths ------------------------------------------------------------------------
        # |sum| needs all sum_width bits: the most negative sum has magnitude 2^(sum_width-1).
        mag_width = self._sum_width
        # Normalised, the lowest of those bits is always 0 (step 0 of the module docstring).
        v_sig_width = mag_width - 1
        # The window: big's widest significand (v_sig_width bits) above one spare place for the
        # jammed sticky bit, and at least 27 places so a rounded result's last place is >= 2
        # places above it (module docstring, steps 1 and 2).
        window = max(v_sig_width + 1, _FRAC + 4)
        # Window plus its carry place.
        sum_bits = window + 1
        # V's leading-bit exponent: scale + grid_lsb + (mag_width - 1) - leading zeros.
        ev_lo = -254 + self._grid_lsb
        ev_hi = 254 + self._grid_lsb + mag_width - 1
        # D's leading-place exponent: -126 for zeros and subnormals (kept unnormalised), else the
        # biased field less 127 (up to 128 for Inf and NaN, whose result is overridden); big's
        # exponent is the larger, so it is never below -126.
        ed_lo, ed_hi = _EMIN, _EXP_ALL_ONES - _BIAS
        eb_lo, eb_hi = _EMIN, max(ev_hi, ed_hi)
        ev_shape = _range_shape(ev_lo, ev_hi)
        eb_shape = _range_shape(eb_lo, eb_hi)
        # Alignment distance big - small: 0 up to the largest big less the least small.
        dist_shape = _range_shape(0, eb_hi - min(ev_lo, ed_lo))
        # Exponent of the window's carry place and of the normalised result: -126..eb_hi + 1.
        top_shape = _range_shape(_EMIN, eb_hi + 1)

        # -- Prepare -------------------------------------------------------------------------------
        v_sign = self.sum[-1]
        v_zero = self.sum == 0
        m.submodules.normalise_sum = norm_v = Normalise(mag_width)
        m.d.comb += norm_v.i.eq(abs(self.sum))
        e_v = Signal(ev_shape)
        m.d.comb += e_v.eq(self.scale + (self._grid_lsb + mag_width - 1) - norm_v.shift)

        d_sign = self.d[31]
        d_field = self.d[_FRAC:31]
        d_frac = self.d[:_FRAC]
        d_special = d_field == _EXP_ALL_ONES
        d_nan = d_special & (d_frac != 0)
        d_inf = d_special & (d_frac == 0)
        d_sig = Cat(d_frac, d_field != 0)
        e_d = Mux(d_field == 0, _EMIN, d_field - _BIAS)

        # Specials (SPEC §2 precedence): rules 1-3 give NaN with invalid, rule 4 NaN, rule 5 ±Inf.
        pos = self.pos_inf | (d_inf & ~d_sign)
        neg = self.neg_inf | (d_inf & d_sign)
        raise_invalid = self.invalid | (pos & neg)
        is_nan = raise_invalid | self.nan | d_nan
        is_inf = ~is_nan & (pos | neg)
        side = Signal(_SIDE)
        m.d.comb += [
            side.nan.eq(is_nan),
            side.inf.eq(is_inf),
            side.neg.eq(neg),
            side.flags.eq(self.d_flags | raise_invalid),
        ]

        # A zero sum is never big, so a zero small operand is always the sum.
        v_big = ~v_zero & (e_v >= e_d)
        e_big = Signal(eb_shape)
        dist = Signal(dist_shape)
        m.d.comb += [
            e_big.eq(Mux(v_big, e_v, e_d)),
            dist.eq(Mux(v_big, e_v - e_d, e_d - e_v)),
        ]
        # Significands with their leading place at window - 1.
        v_win = norm_v.o[1:] << (window - v_sig_width)  # zero for a zero sum
        d_win = d_sig << (window - _FRAC - 1)
        big = Signal(window)
        small = Signal(window)
        m.d.comb += [
            big.eq(Mux(v_big, v_win, d_win)),
            small.eq(Mux(v_big, d_win, v_win)),
        ]
        big_sign = Mux(v_big, v_sign, d_sign)
        subtract = v_sign ^ d_sign

        # -- Align ---------------------------------------------------------------------------------
        m.submodules.align = align = Align(window, shift_shape=dist_shape)
        m.d.comb += [
            align.i.eq(small),
            align.shift.eq(dist),
        ]

        aligned, big, e_big, big_sign, subtract, side = stage(
            "align", aligned=align.o, big=big, e_big=e_big, big_sign=big_sign, subtract=subtract,
            side=side)

        # -- Add -----------------------------------------------------------------------------------
        total = Signal(signed(sum_bits + 1))
        # One adder: big + small, or big + ~small + 1 (two's complement over the total's width).
        flip = subtract.replicate(len(total))
        m.d.comb += total.eq(big + (aligned ^ flip) + subtract)
        magnitude = Signal(sum_bits)
        m.d.comb += magnitude.eq(abs(total))
        sign = big_sign ^ (total < 0)
        e_top = Signal(top_shape)
        m.d.comb += e_top.eq(e_big + 1)

        magnitude, sign, e_top, side = stage("add", magnitude=magnitude, sign=sign, e_top=e_top,
                                             side=side)

        # -- Normalise -----------------------------------------------------------------------------
        # Stop at exponent -126: at most e_top + 126 places, so a subnormal stays unnormalised.
        limit_shape = _range_shape(0, eb_hi + 1 - _EMIN)
        m.submodules.normalise = norm = Normalise(sum_bits, limit_shape=limit_shape)
        m.d.comb += [
            norm.i.eq(magnitude),
            norm.limit.eq(e_top - _EMIN),
        ]
        e_res = Signal(top_shape)
        m.d.comb += e_res.eq(e_top - norm.shift)

        sig, e_res, sign, side = stage("normalise", sig=norm.o, e_res=e_res, sign=sign, side=side)

        # -- Round and override --------------------------------------------------------------------
        m.submodules.round = rnd = Round(sum_bits, exp_shape=top_shape)
        m.d.comb += [
            rnd.sign.eq(sign),
            rnd.exp.eq(e_res),
            rnd.sig.eq(sig),
        ]
        special = side.nan | side.inf
        # flag bits (SPEC §2): 0 invalid, 1 overflow, 2 underflow, 3 inexact
        m.d.comb += [
            self.result.eq(Mux(side.nan, NAN, Mux(side.inf, Cat(Const(_INF, 31), side.neg),
                                                    rnd.result))),
            self.flags.eq(side.flags | Mux(special, 0, Cat(Const(0, 1), rnd.overflow,
                                                            rnd.underflow, rnd.inexact))),
        ]
        return m
