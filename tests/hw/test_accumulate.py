"""Accumulate against an exact `fractions.Fraction` reference written here from SPEC §2.

Each test drives thousands of cases through one Amaranth simulation, one case per cycle (or one
settle when combinational), and compares every bit of every result and flag.
"""

import random
from fractions import Fraction

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.accumulate import Accumulate

SUM_WIDTH = 70  # 64-bit E5M2 product grid + log2(32) + sign
GRID_LSB = -32  # smallest product weight with E5M2 enabled

INF, NAN = 0x7F80_0000, 0x7FC0_0000
INVALID, OVERFLOW, UNDERFLOW, INEXACT = 1, 2, 4, 8
MAX_FINITE = 0x7F7F_FFFF
MIN_NORMAL = 0x0080_0000
SIGN = 0x8000_0000

INPUTS = ("sum", "scale", "nan", "invalid", "pos_inf", "neg_inf", "d", "d_flags")


# -- the reference ---------------------------------------------------------------------------------

def f32_value(bits):
    """Exact value of finite binary32 `bits`."""
    sign = -1 if bits >> 31 else 1
    field, frac = (bits >> 23) & 0xFF, bits & 0x7F_FFFF
    if field == 0:
        return sign * Fraction(frac, 1 << 149)
    return sign * Fraction((1 << 23) | frac) * Fraction(2) ** (field - 150)


def f32_round(x):
    """(bits, flags) of RNE_binary32(x) for an exact rational x, SPEC §2 rules 6 and flags."""
    if x == 0:
        return 0, 0
    sign = SIGN if x < 0 else 0
    a = abs(x)
    # exponent e of the leading bit: 2^e <= a < 2^(e+1)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)
    scaled = a / Fraction(2) ** (e - 23)  # significand in units of the last place
    n, rest = divmod(scaled.numerator, scaled.denominator)
    rest = Fraction(rest, scaled.denominator)
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2):
        n += 1
    flags = INEXACT if rest else 0
    if a < Fraction(2) ** -126 and rest:
        flags |= UNDERFLOW
    if n == 1 << 24:
        n, e = 1 << 23, e + 1
    if n < 1 << 23:  # subnormal (or zero after rounding), e == -126
        return sign | n, flags
    field = e + 127
    if field >= 255:
        return sign | INF, flags | OVERFLOW | INEXACT
    return sign | (field << 23) | (n - (1 << 23)), flags


def reference(sum, scale, nan, invalid, pos_inf, neg_inf, d, d_flags, grid_lsb=GRID_LSB):
    """(result, flags) the SPEC asks for, from exact rationals."""
    d_field, d_frac = (d >> 23) & 0xFF, d & 0x7F_FFFF
    d_nan = d_field == 0xFF and d_frac != 0
    d_inf = d_field == 0xFF and d_frac == 0
    pos = pos_inf or (d_inf and not d >> 31)
    neg = neg_inf or (d_inf and d >> 31)
    if invalid or (pos and neg):
        return NAN, d_flags | INVALID
    if nan or d_nan:
        return NAN, d_flags
    if pos or neg:
        return (SIGN if neg else 0) | INF, d_flags
    bits, flags = f32_round(f32_value(d) + sum * Fraction(2) ** (scale + grid_lsb))
    return bits, d_flags | flags


def case(sum=0, scale=0, d=0, *, nan=0, invalid=0, pos_inf=0, neg_inf=0, d_flags=0):
    return dict(sum=sum, scale=scale, nan=nan, invalid=invalid, pos_inf=pos_inf,
                neg_inf=neg_inf, d=d, d_flags=d_flags)


# -- the simulation --------------------------------------------------------------------------------

def simulate(cases, *, stages=0, sum_width=SUM_WIDTH, grid_lsb=GRID_LSB):
    """Drive `cases` through an Accumulate, one per cycle; (result, flags) of each, in order."""
    dut = Accumulate(sum_width=sum_width, grid_lsb=grid_lsb, stages=stages)
    sim = Simulator(dut)
    got = []

    async def testbench(ctx):
        for i in range(len(cases) + dut.latency):
            if i < len(cases):
                for name in INPUTS:
                    ctx.set(getattr(dut, name), cases[i][name])
            if dut.latency:
                await ctx.tick()
            if i + 1 >= dut.latency or not dut.latency:
                if len(got) < len(cases):
                    got.append((ctx.get(dut.result), ctx.get(dut.flags)))

    if stages:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return got


def check(cases, *, stages=0, sum_width=SUM_WIDTH, grid_lsb=GRID_LSB):
    """Every bit of every result and flag equals the reference; every case was checked."""
    got = simulate(cases, stages=stages, sum_width=sum_width, grid_lsb=grid_lsb)
    checked = 0
    for c, (result, flags) in zip(cases, got, strict=True):
        want = reference(**c, grid_lsb=grid_lsb)
        assert (result, flags) == want, (
            f"{c}: got {result:#010x} flags {flags:#x}, want {want[0]:#010x} flags {want[1]:#x}")
        checked += 1
    assert checked == len(cases)


# -- stimulus --------------------------------------------------------------------------------------

def random_sum(rng, width=SUM_WIDTH):
    """A sum of random magnitude: every bit length, plus the extremes of the width."""
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice([0, 1, -1, (1 << (width - 1)) - 1, -(1 << (width - 1)),
                           -(1 << (width - 1)) + 1])
    bits = rng.randrange(1, width)
    value = rng.getrandbits(bits) | (1 << (bits - 1))
    if kind == 1:  # a single run of ones or one bit: exact values and ties
        value = 1 << (bits - 1) if rng.randrange(2) else (1 << bits) - 1
    return -value if rng.randrange(2) else value


def random_d(rng):
    """binary32 bits over the whole range, weighted to the corners."""
    kind = rng.randrange(10)
    sign = SIGN if rng.randrange(2) else 0
    if kind == 0:
        return sign | rng.choice([0, 1, 0x7F_FFFF, MIN_NORMAL, MAX_FINITE, 0x3F80_0000])
    if kind == 1:
        return sign | rng.getrandbits(23)  # subnormal
    return sign | (rng.randrange(1, 255) << 23) | rng.getrandbits(23)


def random_scale(rng):
    return rng.choice([-254, 254, 0, rng.randrange(-254, 255), rng.randrange(-254, 255)])


def cancelling_case(rng):
    """D close to -V: V rounded to binary32 (or nearby), so the exact sum nearly cancels."""
    sum = random_sum(rng)
    while sum == 0:
        sum = random_sum(rng)
    scale = rng.randrange(-254, 255)
    v = sum * Fraction(2) ** (scale + GRID_LSB)
    bits, _ = f32_round(-v)
    if (bits & 0x7FFF_FFFF) >= INF:
        bits = (bits & SIGN) | MAX_FINITE
    bits = (bits + rng.choice([-1, 0, 0, 1])) & 0xFFFF_FFFF
    if (bits & 0x7F80_0000) == INF:
        bits &= ~0xFF & 0xFFFF_FFFF
    return case(sum, scale, bits)


# -- tests -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("stages", [0, 1, 2, 3])
def test_random_sums_scales_and_accumulators(stages):
    rng = random.Random(1000 + stages)
    cases = [case(random_sum(rng), random_scale(rng), random_d(rng)) for _ in range(1500)]
    check(cases, stages=stages)


def test_converts_to_verilog_for_sum_width_72():
    text = verilog.convert(Accumulate(sum_width=72, grid_lsb=-32, stages=2), name="accumulate")
    assert "module accumulate" in text
