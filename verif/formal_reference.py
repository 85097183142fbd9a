"""What Accumulate and its fast stages must compute, as plain hardware for formal equivalence.

Each reference is written for clarity, not speed, and has the ports of the part it describes;
`sim/formal.py` proves the fast part equal to it for every input.

- `ReferenceAccumulate` (the whole unit, SPEC §2): the exact value D + sum · 2^(scale +
  grid_lsb) on one fixed-point grid wide enough for every input (no alignment window, no
  jamming), one round-to-nearest-even to binary32 read off that exact value, then the special
  values in SPEC §2's order of precedence.
- `reference_leading_zeros`: a priority loop, the highest set bit wins.
- `reference_shift_right_jam`: the shifted value OR-ed with "any bit below the shift is set".
- `reference_shift_left`: one shift, the bits above the value's width dropped.
- `reference_add`: big ± small as a signed number, then its absolute value and sign.
- `reference_round_overflow`: the rounded bits compared with Inf after the increment.
- `reference_rounding_summary`: the bits below a significand's round bit OR-ed, its fraction
  bits AND-ed.
- `reference_slot_hazard`: the top's slot hazard, the chosen step's slot compared with every
  slot in flight.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ReferenceAccumulate", "SCALE_RANGE", "reference_leading_zeros",
           "reference_shift_right_jam", "reference_shift_left", "reference_add",
           "reference_round_overflow", "reference_rounding_summary", "reference_slot_hazard"]

#: The scale input the PE can give: sa + sb - 254 with codes 0..255 (255 and 256 only beside a
#: NaN scale, whose result is NaN anyway).
SCALE_RANGE = range(-254, 257)

_NAN = 0x7FC0_0000
_INF = 0x7F80_0000


def reference_leading_zeros(m, value):
    """Leading zeros of `value` (its width when zero): the highest set bit wins."""
    count = Signal(range(len(value) + 1), name="reference_count")
    m.d.comb += count.eq(len(value))
    for place in range(len(value)):  # later (higher) places override
        with m.If(value[place]):
            m.d.comb += count.eq(len(value) - 1 - place)
    return count


def reference_shift_right_jam(value, shift):
    """`value` >> `shift`, bit 0 OR-ed with every bit shifted out (those below place `shift`)."""
    below = ~(Const((1 << len(value)) - 1, len(value)) << shift)[:len(value)]  # places < shift
    lost = (value & below) != 0
    return (value >> shift) | lost


def reference_shift_left(value, shift):
    """`value` << `shift`, modulo 2^len(value)."""
    return (value << shift)[:len(value)]


def reference_add(big, small, subtract):
    """(|big - small| if `subtract` else big + small, whether big - small is negative)."""
    total = Mux(subtract, big - small, big + small)
    return abs(total), subtract & (total < 0)


def reference_round_overflow(normal, biased, truncated, up):
    """A normal value's rounding overflows: its exponent is past the largest finite one, or the
    rounded bits (truncated + up) reach Inf's."""
    return (normal & (biased >= 255)) | ((truncated + up) >= _INF)


def reference_rounding_summary(sig):
    """(sticky, ones) of a significand `sig` with its leading place at the top: any bit below
    the round bit (24 places below the top) is set; the 23 fraction bits are all set."""
    return sig[:-25] != 0, sig[-24:-1].all()


def reference_slot_hazard(older, held, offered, start, accepted):
    """The top's slot hazard as the plain compare: the step held next cycle (`offered` when
    `accepted`, else `held`) against every step in flight then (`held` when it `start`s now,
    and the (valid, slot) pairs `older`); never for a `first` step."""
    slot = Mux(accepted, offered.slot, held.slot)
    first = Mux(accepted, offered.first, held.first)
    in_flight = [(start, held.slot)] + list(older)
    return ~first & Cat(*(valid & (other == slot) for valid, other in in_flight)).any()


class ReferenceAccumulate(wiring.Component):
    """RNE_binary32(D + sum · 2^(scale + grid_lsb)) with specials and flags; combinational.

    Same ports as `hw.accumulate.Accumulate`: `sum`, `scale`, `nan`, `invalid`, `pos_inf`,
    `neg_inf`, `d`, `d_flags` in; `result`, `flags` out (bit 0 invalid, 1 overflow, 2 underflow,
    3 inexact, OR-ed with `d_flags`).
    """

    def __init__(self, *, sum_width, grid_lsb):
        self.sum_width, self.grid_lsb = sum_width, grid_lsb
        super().__init__({
            "sum": In(signed(sum_width)), "scale": In(signed(10)),
            "nan": In(1), "invalid": In(1), "pos_inf": In(1), "neg_inf": In(1),
            "d": In(32), "d_flags": In(4),
            "result": Out(32), "flags": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        # The grid: its last place is the least weight any input bit has (a subnormal D's last
        # place 2^-149, or the sum's at the least scale); its top holds the largest sum of both.
        low = min(-149, SCALE_RANGE[0] + self.grid_lsb)
        top = max(128, SCALE_RANGE[-1] + self.grid_lsb + self.sum_width - 1) + 1
        width = top - low + 1  # magnitudes below 2^top, and a sign bit

        # D = (-1)^sign · significand · 2^(max(field, 1) - 150), a finite D only
        d_sign, d_field, d_frac = self.d[31], self.d[23:31], self.d[:23]
        d_significand = Cat(d_frac, d_field != 0)
        d_shift = Mux(d_field == 0, 1, d_field) + (-150 - low)
        d_exact = Signal(signed(width))
        m.d.comb += d_exact.eq(Mux(d_sign, -(d_significand << d_shift), d_significand << d_shift))
        # V = sum · 2^(scale + grid_lsb); the scale is in SCALE_RANGE, so the shift is >= 0
        v_shift = Signal(range(SCALE_RANGE[-1] + self.grid_lsb - low + 1))
        m.d.comb += v_shift.eq(self.scale + (self.grid_lsb - low))
        v_exact = Signal(signed(width))
        m.d.comb += v_exact.eq(self.sum << v_shift)
        exact = Signal(signed(width))
        m.d.comb += exact.eq(d_exact + v_exact)
        magnitude = Signal(width)
        m.d.comb += magnitude.eq(abs(exact))

        # The leading one's place p: the value lies in [2^(p + low), 2^(p + low + 1)).
        # The one set bit with nothing above it; bit b of p is set if that bit's place has it.
        leads = [magnitude[place] & (magnitude[place + 1:] == 0) for place in range(width)]
        p = Signal(range(width))
        m.d.comb += p.eq(Cat(Cat(lead for place, lead in enumerate(leads) if place >> b & 1).any()
                             for b in range(len(p))))
        # The result's exponent: the leading one's, but never below -126 (subnormals).
        exponent = Signal(signed(12))
        m.d.comb += exponent.eq(Mux(p + low < -126, -126, p + low))
        # The last place kept is 23 below the exponent; below it the round bit and the rest.
        last = Signal(range(width))
        m.d.comb += last.eq(exponent - 23 - low)
        below = Signal(range(width))  # the round bit's place
        kept = Signal(width)
        m.d.comb += [below.eq(last - 1), kept.eq(magnitude >> last)]
        round_bit = (magnitude >> below)[0]
        rest = (magnitude & ((Const(1, width) << below) - 1)) != 0
        up = round_bit & (rest | kept[0])
        # Kept has the hidden bit exactly when normal; adding it to (exponent + 126) · 2^23 gives
        # the biased exponent field, and a carry out of the significand moves to the next binade.
        bits = Signal(33)
        m.d.comb += bits.eq(((exponent + 126) << 23) + kept + up)
        overflow = bits >= _INF
        inexact = round_bit | rest
        tiny = p + low < -126
        finite = Signal(32)
        m.d.comb += finite.eq(Mux(exact == 0, 0,
                                  Cat(Mux(overflow, _INF, bits[:31]), exact < 0)))

        # SPEC §2 precedence: invalid (Inf - Inf; the caller's rules 1 and 3), NaN, Inf, finite.
        d_inf = (d_field == 255) & (d_frac == 0)
        d_nan = (d_field == 255) & (d_frac != 0)
        pos = self.pos_inf | (d_inf & ~d_sign)
        neg = self.neg_inf | (d_inf & d_sign)
        invalid = self.invalid | (pos & neg)
        with m.If(invalid | self.nan | d_nan):
            m.d.comb += [self.result.eq(_NAN), self.flags.eq(self.d_flags | invalid)]
        with m.Elif(pos | neg):
            m.d.comb += [self.result.eq(Cat(Const(_INF, 31), neg)), self.flags.eq(self.d_flags)]
        with m.Else():
            m.d.comb += [
                self.result.eq(finite),
                self.flags.eq(self.d_flags | Cat(0, overflow, tiny & inexact, inexact | overflow)),
            ]
        return m
