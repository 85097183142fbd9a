"""Accumulate: add a block sum to a binary32 accumulator exactly, then round once (SPEC §2).

The block's value is V = sum · 2^(scale + grid_lsb), with `sum` an exact two's-complement integer.
The unit computes RNE_binary32(D + V) like the addend path of a fused multiply-add, in two parts:

Prepare (`PrepareBlock`, before the slot is read: outside the accumulation loop)
    negate     0 - sum, in two halves with the borrow between them; each half of |sum| is picked
               by the sign after the carry chain (`negate_magnitude`)
    count      leading zeros of |sum| (a tree) and whether |sum| is zero (the tree's flags,
               after its cut); trailing zeros of sum (the same tree, reversed, beside the
               negation)
    normalise  shift |sum| left by its leading zeros (two steps: whole bytes, then 0 to 7
               places): V's significand, its exponent, and the place of its lowest set bit;
               the block's specials ride along
The loop (from the slot read to the slot write; `stages` registers decide acc_latency)
    read       D from the slot store (its read multiplexer), registered as read
    unpack     D's sign, exponent (-126 for zeros and subnormals), significand
    compare    subtract the exponents both ways, count D's trailing zeros (a tree, cut in the
               middle by the `select` cut), test D for NaN and Inf; then (`select`) decide the
               specials, pick the larger operand ("big") and the smaller ("small"), big's
               exponent, the distance and small's trailing zeros
    align      `ShiftRightJam`: shift small right against big (whole bytes, then 0 to 7
               places); the bits shifted out are OR-ed ("jammed") into the window's last place,
               found by comparing small's trailing zeros with the shift distance (no OR chain);
               the adders' operands inverted before the `align` cut
    carry      low halves of big + small (or big - small) and of small - big, side by side
    add        high halves; the one that is not negative is the magnitude (no abs after the add)
    count      leading zeros of the magnitude with the binary32 subnormal limit OR-ed in as a
               one-hot bit: min(leading zeros, limit); a tree whose leaves take the magnitude's
               pick by the sign and the limit bit in one LUT each (the `add` cut is before the
               pick), cut in the middle by the `tree` cut
    normalise  shift left by that count, in two steps (whole bytes, then 0 to 7 places); beside
               the second, `rounding_summary`: the sticky bit (any bit below the round bit) and
               whether the fraction is all ones, from the first step's value and the 0 to 7
    round      `Round` decides the RNE increment, overflow (from the bits before the increment),
               underflow and inexact; the increment runs beside it and is picked by it; specials
               override; then (`round`) the result, registered before the slot write
The pipeline registers sit at those cut points; which ones are used is set by `stages` (loop) and
`prepare_stages` (prepare), see `LOOP_CUTS` and `PREPARE_CUTS`. They never change a result.

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


Latency: `prepare_stages + stages` cycles from `sum` to `result`; `d` is read `prepare_stages`
cycles after `sum` and the result is ready `stages` cycles after that (free-running, no stall).
Throughput: one accumulation per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import delay

__all__ = ["Accumulate", "PrepareBlock", "CountLeadingZeros", "ShiftRightJam", "Round", "NAN",
           "SPECIALS", "LOOP_CUTS", "PREPARE_CUTS", "Widths", "add_magnitude",
           "exponent_differences", "exponent_range", "limit_bit",
           "negate_magnitude", "rounding_summary", "shift_left"]

#: The canonical quiet NaN of every NaN result (SPEC §2).
NAN = 0x7FC0_0000

# binary32 facts: 23 fraction bits, exponent bias 127, least normal exponent -126.
_FRAC = 23
_BIAS = 127
_EMIN = -126
_EXP_ALL_ONES = 255
_INF = 0x7F80_0000
# The scale input, sa + sb - 254 with codes 0..255: -254..+256 (255 and 256 only with a NaN scale).
_SCALE_LO, _SCALE_HI = -254, 256

#: What travels beside the datapath: the special result that overrides the finite one (NaN, or
#: Inf of sign `neg`) and the flags known before rounding (the slot's, and invalid).
_SIDE = data.StructLayout({"nan": 1, "inf": 1, "neg": 1, "flags": 4})
#: The specials of a chunk or a block (`hw.pe.Specials`), travelling beside the sum into
#: Accumulate: NaN element or scale, invalid, an infinite product of either sign.
SPECIALS = data.StructLayout({"nan": 1, "invalid": 1, "pos_inf": 1, "neg_inf": 1})
#: Round's result, carried over the `round` cut to the slot write: the magnitude bits (NaN's or
#: Inf's when they replace the rounded value), the result's sign and flags.
_FINISH = data.StructLayout({"magnitude": 31, "sign": 1, "flags": 4})

#: Loop registers for each `stages`, in the order they are added. 0 to 3 are the cuts the
#: serial design had (after align, add, normalise); then the wide add is split (carry), the
#: normalising count and shift are separated (count), the exponent compare gets its own cycle
#: (compare), the rounded result is registered before the slot write (round), the slot read
#: gets its own cycle, D registered as read and unpacked after the cut (unpack); then the
#: leading-zero count's tree is cut in the middle (tree), and each barrel shift between its
#: coarse and fine steps: the normalising shift (shift) and the aligning shift (jam); then the
#: exponent compare's subtractors apart from the pick they decide (select), with D's
#: trailing-zero count's tree cut in the middle.
_LOOP_ORDER = ("align", "add", "normalise", "carry", "count", "compare", "round", "unpack",
               "tree", "shift", "jam", "select")
LOOP_CUTS = {n: _LOOP_ORDER[:n] for n in range(len(_LOOP_ORDER) + 1)}
#: Prepare registers for each `prepare_stages`: its output first (so the loop starts from a
#: register), then after the magnitude, after the count, between the negation's halves, in the
#: middle of the count's tree, between the normalising shift's coarse and fine steps.
_PREPARE_ORDER = ("prepared", "magnitude", "count", "negate", "tree", "shift")
PREPARE_CUTS = {n: _PREPARE_ORDER[:n] for n in range(len(_PREPARE_ORDER) + 1)}


def _range_shape(lo, hi):
    """The smallest shape holding every integer of lo..hi."""
    return Shape.cast(range(lo, hi + 1))


def _add_halves(m, a, b, carry_in, name):
    """The low half of a + b + carry_in (a, b of equal width): (low sum bits, carry out)."""
    half = len(a) // 2
    low = Signal(half + 1, name=f"{name}_low")
    m.d.comb += low.eq(a[:half] + b[:half] + carry_in)
    return low[:half], low[half]


def _add_high(a, b, low, carry):
    """The whole sum a + b + carry_in (modulo 2^width) from `_add_halves`' low half and carry."""
    half = len(low)
    return Cat(low, (a[half:] + b[half:] + carry)[:len(a) - half])


def _no_cut(**values):
    return list(values.values())


def add_magnitude(m, big, small, subtract, width, operand_cut=_no_cut, cut=_no_cut,
                  select_cut=_no_cut):
    """(|big + small|, or |big - small| when `subtract`; big - small < 0), over `width` bits.

    Two adders side by side instead of an add and then its absolute value: big + (small ^ flip)
    + subtract, and small + ~big + 1 (two's complement over `width` bits, as wide as the result
    and its sign). The first is negative only when subtracting a larger small; then the second
    is the magnitude. Each adder is split in halves; `operand_cut(**values)` gives the operands
    after a pipeline cut before the adders, `cut(**values)` the values after the cut between the
    halves, `select_cut(**values)` the two sums after the cut before the one that is the
    magnitude is picked (none by default). The operands are inverted before `operand_cut`, so
    every half's carry chain starts from registers. The magnitude has width - 1 bits.
    """
    big_t = Signal(width)
    small_t = Signal(width)
    addend = Signal(width)
    minus_big = Signal(width)
    m.d.comb += [big_t.eq(big), small_t.eq(small),
                 addend.eq(small_t ^ subtract.replicate(width)), minus_big.eq(~big_t)]
    big_t, addend, small_t, minus_big, subtract = operand_cut(
        big_t=big_t, addend=addend, small_t=small_t, minus_big=minus_big, subtract=subtract)
    first_low, first_carry = _add_halves(m, big_t, addend, subtract, "big_first")
    second_low, second_carry = _add_halves(m, small_t, minus_big, 1, "small_first")
    big_t, addend, small_t, minus_big, first_low, first_carry, second_low, second_carry = cut(
        big_t=big_t, addend=addend, small_t=small_t, minus_big=minus_big, first_low=first_low,
        first_carry=first_carry, second_low=second_low, second_carry=second_carry)
    first = Signal(signed(width))
    second = Signal(signed(width))
    m.d.comb += [
        first.eq(_add_high(big_t, addend, first_low, first_carry)),
        second.eq(_add_high(small_t, minus_big, second_low, second_carry)),
    ]
    first, second = select_cut(first=first, second=second)
    negative = first < 0
    magnitude = Signal(width - 1)
    m.d.comb += magnitude.eq(Mux(negative, second, first))
    return magnitude, negative


def negate_magnitude(m, value, cut=_no_cut):
    """|value| of a two's-complement `value`, as wide, unsigned (the most negative value's
    magnitude is its top bit).

    In halves, low half first: 0 - the low half, and that or the low half as it is picked by the
    sign; `cut(**values)` gives the values after the pipeline cut (none by default); then
    0 - the high half - the low half's borrow, picked likewise. The carry chains take value's
    bits as they come: the sign picks after them, no XOR waits before them.
    """
    width = len(value)
    half = width // 2
    sign = value[-1]
    value = value.as_unsigned()
    minus_low = Signal(half + 1)  # its top bit: the borrow into the high half (low half != 0)
    low = Signal(half)
    m.d.comb += [minus_low.eq(0 - value[:half]),
                 low.eq(Mux(sign, minus_low[:half], value[:half]))]
    high, low, borrow, sign = cut(high=value[half:], low=low, borrow=minus_low[half], sign=sign)
    # 0 - high - borrow: the borrow as a place below the high half, so it enters the chain at
    # its start (no adder of its own)
    minus_high = (0 - Cat(borrow, high))[1:]
    magnitude = Signal(width)
    m.d.comb += magnitude.eq(Cat(low, Mux(sign, minus_high, high)))
    return magnitude


def exponent_differences(m, v_exp, d_field, diff_shape, cut=_no_cut):
    """(e_v - e_d, e_d - e_v, V's biased exponent e_v + 127): D's exponent e_d is its binary32
    field less 127, or -126 for a zero field (zeros and subnormals).

    What depends on V alone is computed before `cut` (beside the slot read): its biased exponent
    and its differences with a zero field's -126. After it, two subtractors take D's field as it
    is, and the zero test of the field picks V's differences instead: no carry chain waits for
    the test. `cut(**values)` gives the values after the cut (none by default).
    """
    v_biased = Signal(signed(len(v_exp) + 1), name="v_biased")
    v_minus_tiny = Signal(diff_shape, name="v_minus_tiny")
    tiny_minus_v = Signal(diff_shape, name="tiny_minus_v")
    m.d.comb += [v_biased.eq(v_exp + _BIAS), v_minus_tiny.eq(v_exp - _EMIN),
                 tiny_minus_v.eq(_EMIN - v_exp)]
    v_biased, v_minus_tiny, tiny_minus_v, d_field = cut(
        v_biased=v_biased, v_minus_tiny=v_minus_tiny, tiny_minus_v=tiny_minus_v, d_field=d_field)
    tiny = d_field == 0
    v_minus_d = Signal(diff_shape)
    d_minus_v = Signal(diff_shape)
    m.d.comb += [v_minus_d.eq(Mux(tiny, v_minus_tiny, v_biased - d_field)),
                 d_minus_v.eq(Mux(tiny, tiny_minus_v, d_field - v_biased))]
    return v_minus_d, d_minus_v, v_biased


def limit_bit(limit, width):
    """A one-hot bit `limit` places below the top of `width` bits (none when limit >= width):
    OR-ed into a value, its leading-zero count becomes min(leading zeros, limit)."""
    return Mux(limit < width, Const(1 << (width - 1), width) >> limit, 0)


def _merge(nodes, levels):
    """`levels` levels of the leading-zero tree: each pair of nodes (its slice is all zero,
    leading zeros of its slice), low slice first, into the node of both slices."""
    for _ in range(levels):
        nodes = [(high[0] & low[0], Mux(high[0], Cat(low[1], 1), Cat(high[1], 0)))
                 for low, high in zip(nodes[0::2], nodes[1::2])]
    return nodes


class CountLeadingZeros(wiring.Component):
    """`count` = the leading zeros of `i`, `width` when `i` is zero; `zero` = `i` is zero (the
    AND of the middle level's all-zero flags, after the cut). A tree: log2 levels of 2:1
    multiplexers, no priority chain. Combinational; with `cut`, a register (no reset) after the
    middle level of the tree: latency 1, one count a cycle.
    """

    def __init__(self, width, *, cut=False):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"CountLeadingZeros width must be a positive integer, not {width!r}")
        self._width, self._cut = width, cut
        # a zero input counts `width`; a power of two above it pads the tree with ones below
        self._levels = width.bit_length()
        super().__init__({"i": In(width), "count": Out(self._levels), "zero": Out(1)})

    @property
    def latency(self):
        return int(self._cut)

    def _first_half(self, m, value):
        """The tree's nodes of `value` after its middle level, through the cut, and whether
        `value` is zero: the AND of the nodes' flags for its bits, after the cut."""
        pad = (1 << self._levels) - self._width
        padded = Cat(Const((1 << pad) - 1, pad), value)
        # the leaves are single bits (a padding one is never zero)
        nodes = _merge([(~bit, Const(0, 0)) for bit in padded], self._levels // 2)
        size = len(padded) // len(nodes)  # bits of each node
        registered, flags = [], []
        for k, node in enumerate(nodes):
            node = tuple(delay(m, part, int(self._cut), f"node{k}_{j}", reset_less=True)
                         for j, part in enumerate(node))
            registered.append(node)
            # a node's bits of `value` are all zero: its own flag when it has no padding; one
            # whose padding ends inside it tests its bits of `value` (a node all padding has
            # none)
            if k * size >= pad:
                flags.append(node[0])
            elif (k + 1) * size > pad:
                flags.append(delay(m, value[:(k + 1) * size - pad] == 0, int(self._cut),
                                   f"node{k}_value_zero", reset_less=True))
        return registered, Cat(flags).all()

    def elaborate(self, platform):
        m = Module()
        rest = self._levels - self._levels // 2  # the levels after the cut
        nodes, zero = self._first_half(m, self.i)
        (_, count), = _merge(nodes, rest)
        m.d.comb += [self.zero.eq(zero), self.count.eq(count)]
        return m


def shift_left(m, value, amount, cut=_no_cut, fine=3, beside=None):
    """`value` << `amount`, modulo 2^len(value), in two steps: by `amount`'s high bits (whole
    multiples of 2^fine places), then by its `fine` low bits; `cut(**values)` gives the values
    after the pipeline cut between the steps (none by default). With `beside`, returns
    (shifted, beside(coarse, low)): what `beside` computes from the first step's value and the
    fine amount runs beside the second step."""
    width = len(value)
    coarse = Signal(width)
    m.d.comb += coarse.eq(value << Cat(Const(0, fine), amount[fine:]))
    coarse, low = cut(coarse=coarse, low=amount[:fine])
    shifted = Signal(width)
    m.d.comb += shifted.eq(coarse << low)
    return shifted if beside is None else (shifted, beside(coarse, low))


def rounding_summary(coarse, low):
    """(sticky, ones) of sig = coarse << low (modulo 2^len(coarse)) for `Round`, without sig:
    `sticky`, a bit below sig's round bit is set; `ones`, sig's 23 fraction bits are all set.

    Coarse bit j lands at place j + low: each bit is gated by the values of `low` that put it in
    the part (an OR of equalities, not a compare: no carry chain; constant for the bits every
    `low` puts there), so no OR or AND waits for the shift. Combinational.
    """
    width = len(coarse)
    round_place = width - _FRAC - 2  # sig's round bit, below its 24 significand bits

    def lands(j, lo, hi):  # lo <= j + low < hi
        return Cat(low == v for v in range(max(lo - j, 0), min(hi - j, 1 << len(low)))).any()
    sticky = Cat(coarse[j] & lands(j, 0, round_place) for j in range(round_place)).any()
    # the fraction places round_place + 1 .. width - 2; a coarse bit below round_place + 1 lands
    # there for low up to 2^len(low) - 1 places
    first = max(round_place + 1 - ((1 << len(low)) - 1), 0)
    ones = Cat(coarse[j] | ~lands(j, round_place + 1, width - 1)
               for j in range(first, width - 1)).all()
    return sticky, ones


class ShiftRightJam(wiring.Component):
    """`o` = `i` shifted right by `shift` places, every bit shifted out OR-ed into bit 0.

    `tz` gives `i`'s trailing zeros (any value >= `width` when `i` is zero): a bit is lost exactly
    when the lowest set bit lies below the shift distance, so the sticky bit is one compare, not
    an OR over every shifted-out bit. The shift takes two steps: by whole multiples of 8 places,
    then by 0 to 7. Combinational; with `cut`, a register (no reset) between the two steps:
    latency 1, one shift a cycle.
    """

    _FINE = 3  # the second step shifts by the distance's 3 low bits

    def __init__(self, width, *, shift_shape, tz_shape, cut=False):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"ShiftRightJam width must be an integer of at least 2, not {width!r}")
        self._width, self._cut = width, cut
        super().__init__({
            "i": In(width),
            "shift": In(shift_shape),
            "tz": In(tz_shape),
            "o": Out(width),
        })

    @property
    def latency(self):
        return int(self._cut)

    def elaborate(self, platform):
        m = Module()
        fine = self._FINE
        # a shift of width - 1 or less fits in width.bit_length() bits: below 2^that, the steps
        # clear the value past width - 1 places themselves; anything more clears
        amount = self.shift[:max(self._width.bit_length(), fine + 1)]
        near = self.shift[len(amount):] == 0
        coarse = Signal(self._width)
        m.d.comb += coarse.eq(Mux(near, self.i >> Cat(Const(0, fine), amount[fine:]), 0))
        sticky = (self.tz < self.shift) & (self.tz < self._width)
        coarse, low, sticky = (delay(m, value, int(self._cut), f"jam_{name}", reset_less=True)
                               for name, value in (("coarse", coarse), ("low", amount[:fine]),
                                                   ("sticky", sticky)))
        m.d.comb += self.o.eq((coarse >> low) | sticky)
        return m


def exponent_range(biased):
    """(huge, top) of a biased binary32 exponent: biased >= 255 (beyond every finite binade),
    biased = 254 (the largest finite binade). `Round` takes them computed a stage ahead."""
    return biased >= _EXP_ALL_ONES, biased == _EXP_ALL_ONES - 1


class Round(wiring.Component):
    """Decide the RNE rounding of sign · `sig` · 2^(`biased` - 127 - 24) to binary32 (SPEC §2).

    `sig` is the significand's top 24 bits and its round bit; `sticky` is set when a bit below
    them is, `ones` when sig's 23 fraction bits are all set (both a stage ahead:
    `rounding_summary`). `sig` is normalised (top bit set) with `biased` >= 1, or has its top
    bit clear with `biased` = 1 (a subnormal or zero exact value, exponent -126). `huge`, `top`
    are `exponent_range(biased)`. The rounded magnitude bits are `truncated` + `up`: the
    increment may carry from the fraction into the exponent field (a subnormal becomes the least
    normal, 1.11..1 · 2^e becomes 2^(e+1)); it never reaches Inf, because `overflow` is decided
    from the bits before it and then replaces the magnitude. `negative` is the result's sign: +0
    for an exact zero. `underflow` = tiny before rounding and inexact. Combinational.
    """

    def __init__(self, *, exp_shape):
        super().__init__({
            "sign": In(1),
            "biased": In(exp_shape),
            "huge": In(1),
            "top": In(1),
            "sig": In(_FRAC + 2),
            "sticky": In(1),
            "ones": In(1),
            "truncated": Out(31),
            "up": Out(1),
            "negative": Out(1),
            "overflow": Out(1),
            "underflow": Out(1),
            "inexact": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        round_bit, frac, normal = self.sig[0], self.sig[1:_FRAC + 1], self.sig[_FRAC + 1]
        lsb = frac[0]
        up = round_bit & (self.sticky | lsb)
        inexact_bits = round_bit | self.sticky
        # beyond the largest finite: an exponent past 254, or 254 with every fraction bit set
        # rounding up into 2^128
        overflow = normal & (self.huge | (self.top & self.ones & up))
        m.d.comb += [
            self.truncated.eq(Cat(frac, Mux(normal, self.biased[:8], 0))),
            self.up.eq(up),
            self.overflow.eq(overflow),
            self.inexact.eq(inexact_bits | overflow),
            self.underflow.eq(~normal & inexact_bits),
            # an exact zero (no bit set) is +0 whatever the sign of the operands
            self.negative.eq(self.sign & (normal | (frac != 0) | inexact_bits)),
        ]
        return m


class Widths:
    """The widths of Accumulate's datapath for one sum width and grid, each with its reason."""

    def __init__(self, sum_width, grid_lsb):
        # |sum| needs all sum_width bits: the most negative sum has magnitude 2^(sum_width-1).
        self.mag = sum_width
        # Normalised, the lowest of those bits is always 0 (step 0 of the module docstring).
        self.v_sig = self.mag - 1
        # The window: big's widest significand (v_sig bits) above one spare place for the jammed
        # sticky bit, and at least 27 places so a rounded result's last place is >= 2 places
        # above it (module docstring, steps 1 and 2).
        self.window = max(self.v_sig + 1, _FRAC + 4)
        # Window plus its carry place.
        self.sum_bits = self.window + 1
        # V's leading-bit exponent: scale + grid_lsb + (mag - 1) - leading zeros; a zero sum
        # counts mag leading zeros.
        ev_lo = _SCALE_LO + grid_lsb - 1
        ev_hi = _SCALE_HI + grid_lsb + self.mag - 1
        self.ev_lo, self.ev_hi = ev_lo, ev_hi
        self.ev = _range_shape(ev_lo, ev_hi)
        # D's leading-place exponent: -126 for zeros and subnormals (kept unnormalised), else the
        # biased field less 127 (up to 128 for Inf and NaN, whose result is overridden); big's
        # exponent is the larger, so it is never below -126 nor above eb_hi.
        ed_lo, ed_hi = _EMIN, _EXP_ALL_ONES - _BIAS
        self.eb_hi = max(ev_hi, ed_hi)
        # The exponent difference e_v - e_d, either sign, and the alignment distance (its size).
        self.diff = _range_shape(ev_lo - ed_hi, ev_hi - ed_lo)
        self.dist = _range_shape(0, max(ev_hi - ed_lo, ed_hi - ev_lo))
        # Exponent of the window's carry place and of the normalised result: -126..eb_hi + 1;
        # biased (+127), as the loop keeps them after the compare: 1..eb_hi + 128.
        self.top = _range_shape(_EMIN, self.eb_hi + 1)
        self.top_biased = _range_shape(_EMIN + _BIAS, self.eb_hi + 1 + _BIAS)
        # Place of a window operand's lowest set bit, `window` when it is zero.
        self.tz = _range_shape(0, self.window)
        # The signed total of the window's add: the carry place and a sign.
        self.total = self.sum_bits + 1

    def block_layout(self):
        """What Prepare hands to the loop: V = (-1)^sign · 1.sig · 2^exp, its specials."""
        return data.StructLayout({
            "sig": self.v_sig,  # normalised |sum| without its always-zero lowest bit
            "exp": self.ev,
            "tz": self.tz,  # the place of sig's lowest set bit in the window, window when zero
            "sign": 1,
            "zero": 1,
            "specials": SPECIALS,
        })


def _check(sum_width, grid_lsb, **stages):
    problems = []

    def check(value, ok, message):
        if not isinstance(value, int) or isinstance(value, bool) or not ok(value):
            problems.append(f"{message}, not {value!r}")

    check(sum_width, lambda v: 2 <= v <= 512, "Sum width must be an integer from 2 to 512")
    check(grid_lsb, lambda v: -512 <= v <= 0, "Grid LSB must be an integer from -512 to 0")
    for name, (value, cuts) in stages.items():
        check(value, lambda v: v in cuts,
              f"{name.capitalize().replace('_', ' ')} must be an integer from 0 to {max(cuts)}")
    return problems


def _stager(m, cuts):
    """stage(cut, **values): the values after pipeline cut `cut`, registered if it is in use.

    The registers have no reset: every value is data, used only when the PE's control (which is
    reset) writes the result; no reset net fans out to them.
    """
    def stage(cut, **values):
        return [delay(m, value, int(cut in cuts), f"{name}_{cut}", reset_less=True)
                for name, value in values.items()]
    return stage


class PrepareBlock(wiring.Component):
    """Normalise a block sum before its slot is read: V = (-1)^sign · 1.sig · 2^exp.

    Inputs: `sum`, `scale` (sa + sb - 254), the block's specials `nan`, `invalid`, `pos_inf`,
    `neg_inf`. Output: `block` (`Widths.block_layout`). Latency: `stages` cycles (0 to 6,
    `PREPARE_CUTS`), free-running. Throughput: one block per cycle.
    """

    def __init__(self, *, sum_width, grid_lsb, stages=0):
        problems = _check(sum_width, grid_lsb, stages=(stages, PREPARE_CUTS))
        if problems:
            self._MustUse__silence = True  # a refused design is not an unused one
            raise ValueError("; ".join(problems))
        self._sum_width, self._grid_lsb, self._stages = sum_width, grid_lsb, stages
        self._widths = Widths(sum_width, grid_lsb)
        super().__init__({
            "sum": In(signed(sum_width)),
            "scale": In(signed(10)),  # -254..+256, 10 signed bits
            "nan": In(1),
            "invalid": In(1),
            "pos_inf": In(1),
            "neg_inf": In(1),
            "block": Out(self._widths.block_layout()),
        })

    @property
    def latency(self):
        return self._stages

    def elaborate(self, platform):
        m = Module()
        w = self._widths
        cuts = PREPARE_CUTS[self._stages]
        stage = _stager(m, cuts)
        specials = Signal(SPECIALS)
        m.d.comb += specials.eq(Cat(self.nan, self.invalid, self.pos_inf, self.neg_inf))

        # -- negate: |sum| in halves, the `negate` cut between them --------------------------------
        sign = self.sum[-1]
        magnitude = negate_magnitude(m, self.sum, cut=lambda **values: stage("negate", **values))
        # trailing zeros of sum, which are those of |sum| (negation keeps them); the `negate`
        # cut falls in the middle of the count's tree
        m.submodules.trailing = trailing = CountLeadingZeros(w.mag, cut="negate" in cuts)
        m.d.comb += trailing.i.eq(Cat(*reversed(list(self.sum.as_unsigned()))))
        tz = trailing.count
        sign, scale, specials = stage("negate", sign=sign, scale=self.scale, specials=specials)
        magnitude, tz, sign, scale, specials = stage(
            "magnitude", magnitude=magnitude, tz=tz, sign=sign, scale=scale, specials=specials)

        # -- count ---------------------------------------------------------------------------------
        m.submodules.leading = leading = CountLeadingZeros(w.mag, cut="tree" in cuts)
        m.d.comb += leading.i.eq(magnitude)
        magnitude, tz, sign, scale, specials = stage(
            "tree", magnitude=magnitude, tz=tz, sign=sign, scale=scale, specials=specials)
        # |sum| is zero: the tree's flag, the AND (after the `tree` cut) of its middle level's
        # registered flags, not a 70-bit zero test before the cut beside the tree's first half
        magnitude, lz, tz, zero, sign, scale, specials = stage(
            "count", magnitude=magnitude, lz=leading.count, tz=tz, zero=leading.zero, sign=sign,
            scale=scale, specials=specials)

        # -- normalise -----------------------------------------------------------------------------
        # everything but the significand before the shift's cut, the significand after it
        before = Signal(w.block_layout())
        m.d.comb += [
            before.exp.eq(scale + (self._grid_lsb + w.mag - 1) - lz),
            # |sum|'s lowest set bit at place tz moves to tz + lz, less the dropped bit 0, then
            # up to the window's top: tz + lz - 1 + (window - v_sig) (tz + lz >= 1: module doc)
            before.tz.eq(Mux(zero, w.window, tz + lz + (w.window - w.v_sig - 1))),
            before.sign.eq(sign),
            before.zero.eq(zero),
            before.specials.eq(specials),
        ]
        normalised = shift_left(m, magnitude, lz, cut=lambda **values: stage("shift", **values))
        before, = stage("shift", before=before)
        block = Signal(w.block_layout())
        m.d.comb += [block.eq(before), block.sig.eq(normalised[1:])]
        block, = stage("prepared", block=block)
        m.d.comb += self.block.eq(block)
        return m


class Accumulate(wiring.Component):
    """D' = RNE_binary32(D + sum · 2^(scale + grid_lsb)), exact add, one rounding; specials; flags.

    Latency: `prepare_stages` cycles from the block inputs to the slot read (`d`, `d_flags` are
    sampled then), `stages` more to `result`/`flags` (a free-running pipeline, never stalled).
    Throughput: one accumulation per cycle.

    sum_width      -- width of the signed block sum (for example 64 + log2(k) + 1).
    grid_lsb       -- weight exponent of the sum's least significant bit (negative, e.g. -32).
    stages         -- loop registers, 0 to 12 (`LOOP_CUTS`): they set the slot reuse distance.
    prepare_stages -- registers before the slot read, 0 to 6 (`PREPARE_CUTS`).

    Inputs: `sum`, `scale` (sa + sb - 254, -254..256), `nan` (NaN element or scale), `invalid`
    (disabled format or Inf × 0), `pos_inf`/`neg_inf` (an infinite product entered the sum); then
    `d` (binary32 before the step), `d_flags`. Outputs: `result` (binary32), `flags` (`d_flags`
    OR the flags of this step; bit 0 invalid, 1 overflow, 2 underflow, 3 inexact).
    """

    def __init__(self, *, sum_width, grid_lsb, stages=0, prepare_stages=0):
        problems = _check(sum_width, grid_lsb, stages=(stages, LOOP_CUTS),
                          prepare_stages=(prepare_stages, PREPARE_CUTS))
        if problems:
            self._MustUse__silence = True  # a refused design is not an unused one
            raise ValueError("; ".join(problems))
        self._sum_width = sum_width
        self._grid_lsb = grid_lsb
        self._stages = stages
        self._prepare_stages = prepare_stages
        super().__init__({
            "sum": In(signed(sum_width)),
            "scale": In(signed(10)),  # -254..+256, 10 signed bits
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
    def prepare_latency(self):
        """Cycles from the block inputs to the slot read."""
        return self._prepare_stages

    @property
    def loop_latency(self):
        """Cycles from the slot read to the result."""
        return self._stages

    @property
    def latency(self):
        """Cycles from the block inputs to the result."""
        return self._prepare_stages + self._stages

    def elaborate(self, platform):
        m = Module()
        w = Widths(self._sum_width, self._grid_lsb)
        cuts = LOOP_CUTS[self._stages]
        stage = _stager(m, cuts)

        m.submodules.prepare = prepare = PrepareBlock(
            sum_width=self._sum_width, grid_lsb=self._grid_lsb, stages=self._prepare_stages)
        m.d.comb += [
            prepare.sum.eq(self.sum), prepare.scale.eq(self.scale), prepare.nan.eq(self.nan),
            prepare.invalid.eq(self.invalid), prepare.pos_inf.eq(self.pos_inf),
            prepare.neg_inf.eq(self.neg_inf),
        ]
        v = prepare.block

        # -- the slot's value as read: the slot store's read multiplexer has the cycle to itself --
        # and beside it, the part of the exponent compare that needs V alone
        v_minus_d, d_minus_v, v_biased = exponent_differences(
            m, v.exp, self.d[_FRAC:31], w.diff, cut=lambda **values: stage("unpack", **values))
        v, d, d_flags = stage("unpack", v=v, d=self.d, d_flags=self.d_flags)

        # -- unpack D ------------------------------------------------------------------------------
        d_sign = d[31]
        d_field = d[_FRAC:31]
        d_frac = d[:_FRAC]
        d_special = d_field == _EXP_ALL_ONES
        d_nan = d_special & (d_frac != 0)
        d_inf = d_special & (d_frac == 0)
        d_tiny = d_field == 0  # a zero or subnormal D: e_d = -126, biased 1
        d_sig = Cat(d_frac, ~d_tiny)
        d_biased = Cat(d_field[0] | d_tiny, d_field[1:])

        # -- compare: subtract the exponents both ways, count D's trailing zeros -------------------
        # D's trailing zeros as a window place (`window` when D is zero): the leading zeros of the
        # window-wide D reversed; the constant zeros below D's significand fold away, no adder.
        # The `select` cut falls in the middle of the count's tree: the count comes after it.
        m.submodules.d_trailing = d_trailing = CountLeadingZeros(w.window, cut="select" in cuts)
        m.d.comb += d_trailing.i.eq(Cat(*reversed(list(d_sig << (w.window - _FRAC - 1)))))

        # The exponent compare's subtractors (`exponent_differences`) run beside the above. A
        # zero sum is never big, so a zero small is always V. D's NaN and Inf tests go over the
        # `select` cut, the specials they decide come after it.
        (v_minus_d, d_minus_v, v_zero, v_sign, v_biased, v_sig, v_tz, v_specials, d_sign, d_biased,
         d_sig, d_nan, d_inf, d_flags) = stage(
            "select", v_minus_d=v_minus_d, d_minus_v=d_minus_v, v_zero=v.zero, v_sign=v.sign,
            v_biased=v_biased, v_sig=v.sig, v_tz=v.tz, v_specials=v.specials, d_sign=d_sign,
            d_biased=d_biased, d_sig=d_sig, d_nan=d_nan, d_inf=d_inf, d_flags=d_flags)
        d_tz = Signal(w.tz)
        m.d.comb += d_tz.eq(d_trailing.count)

        # Specials (SPEC §2 precedence): rules 1-3 give NaN with invalid, rule 4 NaN, rule 5 ±Inf.
        pos = v_specials.pos_inf | (d_inf & ~d_sign)
        neg = v_specials.neg_inf | (d_inf & d_sign)
        raise_invalid = v_specials.invalid | (pos & neg)
        is_nan = raise_invalid | v_specials.nan | d_nan
        side = Signal(_SIDE)
        m.d.comb += [
            side.nan.eq(is_nan),
            side.inf.eq(~is_nan & (pos | neg)),
            side.neg.eq(neg),
            side.flags.eq(d_flags | raise_invalid),
        ]

        # -- select: which is big, big and small, its exponent, the distance ----------------------
        v_big = ~v_zero & (v_minus_d >= 0)
        # big's biased exponent: e_big + 127, from 1 (e_big = -126) up
        e_big_biased = Signal(_range_shape(_EMIN + _BIAS, w.eb_hi + _BIAS))
        dist = Signal(w.dist)
        m.d.comb += [
            e_big_biased.eq(Mux(v_big, v_biased, d_biased)),
            dist.eq(Mux(v_big, v_minus_d, d_minus_v)),
        ]
        big_sign = Mux(v_big, v_sign, d_sign)
        subtract = v_sign ^ d_sign
        # big and small, significands with their leading place at window - 1
        v_win = v_sig << (w.window - w.v_sig)  # zero for a zero sum
        d_win = d_sig << (w.window - _FRAC - 1)
        big = Signal(w.window)
        small = Signal(w.window)
        # small's trailing zeros, a window place
        small_tz = Signal(w.tz)
        m.d.comb += [big.eq(Mux(v_big, v_win, d_win)), small.eq(Mux(v_big, d_win, v_win)),
                     small_tz.eq(Mux(v_big, d_tz, v_tz))]

        big, small, small_tz, dist, e_big_biased, big_sign, subtract, side = stage(
            "compare", big=big, small=small, small_tz=small_tz, dist=dist,
            e_big_biased=e_big_biased, big_sign=big_sign, subtract=subtract, side=side)

        # -- align: shift small ------------------------------------------------------------------
        m.submodules.align = align = ShiftRightJam(w.window, shift_shape=w.dist, tz_shape=w.tz,
                                                   cut="jam" in cuts)
        m.d.comb += [align.i.eq(small), align.shift.eq(dist), align.tz.eq(small_tz)]
        e_top = Signal(w.top_biased)
        m.d.comb += e_top.eq(e_big_biased + 1)  # biased, as every exponent from here on
        big, e_top, e_big_biased, big_sign, subtract, side = stage(
            "jam", big=big, e_top=e_top, e_big_biased=e_big_biased, big_sign=big_sign,
            subtract=subtract, side=side)
        # Beside the aligning shift's fine step: the subnormal limit of the normalising shift as
        # a one-hot bit (see count below): at most e_top + 126 = e_big + 127 places (unbiased
        # exponents; big's biased exponent, no adder), so a subnormal result stays unnormalised.
        limit = e_big_biased
        stop = Signal(w.sum_bits)
        m.d.comb += stop.eq(limit_bit(limit, w.sum_bits))

        e_top, stop, big_sign, side = stage("align", e_top=e_top, stop=stop, big_sign=big_sign,
                                            side=side)

        # -- carry, add: two adders side by side, each in halves with the `carry` cut between ----
        e_top, stop, big_sign, side = stage("carry", e_top=e_top, stop=stop, big_sign=big_sign,
                                            side=side)
        # the `add` cut falls between the two sums and the pick of the magnitude
        e_top, stop, big_sign, side = stage("add", e_top=e_top, stop=stop, big_sign=big_sign,
                                            side=side)
        # the `align` cut falls after the operands' inversion, before the adders
        magnitude, negative = add_magnitude(m, big, align.o, subtract, w.total,
                                            operand_cut=lambda **values: stage("align", **values),
                                            cut=lambda **values: stage("carry", **values),
                                            select_cut=lambda **values: stage("add", **values))
        sign = big_sign ^ negative

        # -- count: min(leading zeros, limit), the limit as a one-hot bit (`limit_bit`). The
        # tree starts from the `add` registers: its leaves take the magnitude's pick by the sign
        # and the limit bit (one LUT4 a bit), so no pick waits after the `tree` cut
        m.submodules.leading = leading = CountLeadingZeros(w.sum_bits, cut="tree" in cuts)
        m.d.comb += leading.i.eq(magnitude | stop)
        count = leading.count
        magnitude, sign, e_top, side = stage(
            "tree", magnitude=magnitude, sign=sign, e_top=e_top, side=side)

        magnitude, count, sign, e_top, side = stage(
            "count", magnitude=magnitude, count=count, sign=sign, e_top=e_top, side=side)

        # -- normalise -----------------------------------------------------------------------------
        e_res = Signal(w.top_biased)
        m.d.comb += e_res.eq(e_top - count)
        # beside the fine shift: Round's sticky bit and all-ones fraction test
        sig, (sticky, ones) = shift_left(m, magnitude, count, beside=rounding_summary,
                                         cut=lambda **values: stage("shift", **values))
        e_res, sign, side = stage("shift", e_res=e_res, sign=sign, side=side)

        # and the result's binade against the largest finite one
        huge, top = exponent_range(e_res)
        # Round reads the top 24 bits and the round bit; the rest is in `sticky`
        sig, sticky, ones, e_res, huge, top, sign, side = stage(
            "normalise", sig=sig[-(_FRAC + 2):], sticky=sticky, ones=ones, e_res=e_res, huge=huge,
            top=top, sign=sign, side=side)

        # -- round: decide, pick the increment or not; specials override --------------------------
        m.submodules.round = rnd = Round(exp_shape=w.top_biased)
        m.d.comb += [rnd.sign.eq(sign), rnd.biased.eq(e_res), rnd.huge.eq(huge), rnd.top.eq(top),
                     rnd.sig.eq(sig), rnd.sticky.eq(sticky), rnd.ones.eq(ones)]
        # Before the cut, everything: the increment runs beside the decision, which picks it or
        # the bits before it; the specials or an overflow replace them. After it, the result.
        incremented = Signal(31)  # a carry out of 31 bits only past Inf, always overridden
        m.d.comb += incremented.eq(rnd.truncated + 1)
        finish = Signal(_FINISH)
        special = side.nan | side.inf
        override = special | rnd.overflow
        m.d.comb += [
            finish.magnitude.eq(Mux(override, Mux(side.nan, Const(NAN, 31), Const(_INF, 31)),
                                    Mux(rnd.up, incremented, rnd.truncated))),
            finish.sign.eq(Mux(side.nan, 0, Mux(side.inf, side.neg, rnd.negative))),
            # flag bits (SPEC §2): 0 invalid, 1 overflow, 2 underflow, 3 inexact
            finish.flags.eq(side.flags | Mux(special, 0, Cat(Const(0, 1), rnd.overflow,
                                                              rnd.underflow, rnd.inexact))),
        ]
        finish, = stage("round", finish=finish)

        m.d.comb += [self.result.eq(Cat(finish.magnitude, finish.sign)),
                     self.flags.eq(finish.flags)]
        return m
