"""Accumulate against the exact `fractions.Fraction` reference of tests/verif/exact_reference.py.

Each test drives thousands of cases through one Amaranth simulation, one case per cycle (or one
settle when combinational), and compares every bit of every result and flag. The reference itself
is checked against numpy's float32 rounding and against the golden model (`verif.golden`).
"""

import random
from fractions import Fraction

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from mxdpu.hw.accumulate import Accumulate, CountLeadingZeros
from mxdpu.hw.config import Config
from mxdpu.hw.formats import Grid
from tests.verif.exact_reference import fp32_value, reference_accumulate, round_to_fp32
from mxdpu.verif import golden

GRID = Grid(Config())  # E4M3 and E5M2, k = 32
SUM_WIDTH = GRID.sum_width  # 64-bit E5M2 product grid + log2(32) + sign
GRID_LSB = GRID.lsb  # smallest product weight with E5M2 enabled

INF, NAN = 0x7F80_0000, 0x7FC0_0000
INVALID, OVERFLOW, UNDERFLOW, INEXACT = 1, 2, 4, 8
MAX_FINITE = 0x7F7F_FFFF
MIN_NORMAL = 0x0080_0000
SIGN = 0x8000_0000

#: the block's inputs, then the slot's (read `prepare_stages` cycles later)
BLOCK_INPUTS = ("sum", "scale", "nan", "invalid", "pos_inf", "neg_inf")
SLOT_INPUTS = ("d", "d_flags")
INPUTS = BLOCK_INPUTS + SLOT_INPUTS


# -- the reference ---------------------------------------------------------------------------------

def reference(sum, scale, nan, invalid, pos_inf, neg_inf, d, d_flags, grid_lsb=GRID_LSB):
    """(result, flags) the SPEC asks for, from exact rationals."""
    bits, flags = reference_accumulate(
        d, sum * Fraction(2) ** (scale + grid_lsb), invalid=invalid, nan=nan,
        infinities=[sign for sign, on in ((1, pos_inf), (-1, neg_inf)) if on])
    return bits, d_flags | flags


def case(sum=0, scale=0, d=0, *, nan=0, invalid=0, pos_inf=0, neg_inf=0, d_flags=0):
    return dict(sum=sum, scale=scale, nan=nan, invalid=invalid, pos_inf=pos_inf,
                neg_inf=neg_inf, d=d, d_flags=d_flags)


# -- the simulation --------------------------------------------------------------------------------

def simulate(cases, *, stages=0, prepare_stages=0, sum_width=SUM_WIDTH, grid_lsb=GRID_LSB):
    """Drive `cases` through an Accumulate, one per cycle, each case's D `prepare_stages` cycles
    after its block (when the slot is read); (result, flags) of each, in order."""
    dut = Accumulate(sum_width=sum_width, grid_lsb=grid_lsb, stages=stages,
                     prepare_stages=prepare_stages)
    sim = Simulator(dut)
    got = []

    async def testbench(ctx):
        for cycle in range(len(cases) + dut.latency):
            if cycle < len(cases):
                for name in BLOCK_INPUTS:
                    ctx.set(getattr(dut, name), cases[cycle][name])
            if 0 <= cycle - dut.prepare_latency < len(cases):
                for name in SLOT_INPUTS:
                    ctx.set(getattr(dut, name), cases[cycle - dut.prepare_latency][name])
            if cycle >= dut.latency:
                got.append((ctx.get(dut.result), ctx.get(dut.flags)))
            if dut.latency:
                await ctx.tick()

    if dut.latency:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return got


def check(cases, *, stages=0, prepare_stages=0, sum_width=SUM_WIDTH, grid_lsb=GRID_LSB):
    """Every bit of every result and flag equals the reference; every case was checked.

    Returns the expected (result, flags) of each case, for the test to say what it covered."""
    got = simulate(cases, stages=stages, prepare_stages=prepare_stages, sum_width=sum_width,
                   grid_lsb=grid_lsb)
    wanted = []
    for c, (result, flags) in zip(cases, got, strict=True):
        want = reference(**c, grid_lsb=grid_lsb)
        assert (result, flags) == want, (
            f"{c}: got {result:#010x} flags {flags:#x}, want {want[0]:#010x} flags {want[1]:#x}")
        wanted.append(want)
    assert len(wanted) == len(cases)
    return wanted


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



def random_flags(rng):
    return rng.choice([0, 0, 0, rng.randrange(16)])


def split(exact, d, rng=None, sum_width=SUM_WIDTH, grid_lsb=GRID_LSB):
    """A case whose exact D + V is the dyadic rational `exact`, for the given D bits.

    V = exact - D is written as sum · 2^(scale + grid_lsb); with `rng`, the sum's leading bit is
    placed at a random height of the sum's width. None if V cannot be written so.
    """
    v = exact - fp32_value(d)[1]
    if v == 0:
        return case(0, rng.randrange(-254, 255) if rng else 0, d)
    n, k = v.numerator, 1 - v.denominator.bit_length()  # v = n · 2^k, the denominator a power of 2
    while n % 2 == 0:
        n, k = n // 2, k + 1
    room = sum_width - 1 - abs(n).bit_length()  # places the sum can still move left
    if room < 0:
        return None
    weight = min(k - (rng.randrange(room + 1) if rng else 0), 254 + grid_lsb)
    if weight < -254 + grid_lsb or k - weight > room:
        return None
    return case(n << (k - weight), weight - grid_lsb, d)


def neighbour_of(bits, rng):
    """A random finite binary32 within a few binades of `bits` (same or either sign)."""
    field = (bits >> 23) & 0xFF
    field = min(254, max(0, field + rng.randrange(-3, 4)))
    return (rng.randrange(2) << 31) | (field << 23) | rng.getrandbits(23)


def random_finite_magnitude(rng, lo=0, hi=MAX_FINITE):
    """Random finite positive binary32 bits in lo..hi: uniform exponent field, then fraction."""
    field = rng.randrange(lo >> 23, (hi >> 23) + 1)
    bits = (field << 23) | rng.getrandbits(23)
    return min(hi, max(lo, bits))


def cases_from(exacts, rng, count):
    """`count` cases, each an exact value from the iterator split against a D chosen near it."""
    cases = []
    for exact, near in exacts:
        choice = rng.randrange(4)
        if choice == 0:
            d = rng.choice([0, SIGN])
        elif choice == 1:
            d = near if rng.randrange(2) else near ^ SIGN
        else:
            d = neighbour_of(near, rng)
        c = split(exact, d, rng)
        if c is not None:
            c["d_flags"] = random_flags(rng)
            cases.append(c)
        if len(cases) == count:
            return cases
    raise AssertionError("stimulus generator ran dry")


def midpoints(rng):
    """(midpoint between two adjacent finite binary32 values, one of them), forever."""
    while True:
        low = random_finite_magnitude(rng, hi=MAX_FINITE - 1)
        sign = rng.choice([1, -1])
        yield sign * (fp32_value(low)[1] + fp32_value(low + 1)[1]) / 2, low


# -- the reference checked against the host's float32 conversion -----------------------------------

def test_reference_rounding_matches_numpy_float32():
    rng = random.Random(7)
    values = [rng.uniform(-1, 1) * 2.0 ** rng.randrange(-160, 140) for _ in range(5000)]
    values += [2.0 ** -150, -(2.0 ** -150), 2.0 ** -150 * 3, 2.0 ** 128 - 2.0 ** 103,
               2.0 ** 128 - 2.0 ** 103 - 2.0 ** 80, 2.0 ** -126 - 2.0 ** -150]
    with np.errstate(over="ignore", under="ignore"):
        host = np.array(values, dtype=np.float64).astype(np.float32).view(np.uint32)
    checked = 0
    for value, want in zip(values, host, strict=True):
        assert round_to_fp32(Fraction(value))[0] == int(want), value
        checked += 1
    assert checked == len(values)


def test_reference_agrees_with_the_golden_model():
    # the same cases through verif.golden.accumulate: two independent models of SPEC §2
    rng = random.Random(13)
    cases = [case(random_sum(rng), random_scale(rng), random_d(rng), nan=rng.randrange(8) == 0,
                  invalid=rng.randrange(8) == 0, pos_inf=rng.randrange(8) == 0,
                  neg_inf=rng.randrange(8) == 0) for _ in range(2000)]
    cases += cases_from(midpoints(rng), rng, 2000)

    def column(name, dtype=np.int64):
        return np.array([int(c[name]) for c in cases], dtype=dtype)

    fits = [-(1 << 62) <= c["sum"] < 1 << 62 for c in cases]
    bits, flags = golden.accumulate(
        column("d"), np.array([c["sum"] if ok else 0 for c, ok in zip(cases, fits)], np.int64),
        column("scale") + GRID_LSB, column("nan", bool), column("invalid", bool),
        column("pos_inf", bool), column("neg_inf", bool),
        wide={i: c["sum"] for i, (c, ok) in enumerate(zip(cases, fits)) if not ok})
    checked = 0
    for c, got in zip(cases, zip(bits.tolist(), flags.tolist()), strict=True):
        assert got == reference(**{**c, "d_flags": 0}), c  # golden gives this step's flags
        checked += 1
    assert checked == len(cases)


def run_clocked(dut, testbench, clock=True):
    """Simulate `dut` with a clock (none for a combinational one) until `testbench` returns."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


# -- tests -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("stages, prepare_stages",
                         [(0, 0), (1, 1), (2, 0), (3, 2), (4, 3), (5, 4), (6, 1), (7, 4), (8, 4),
                          (9, 5), (10, 6), (11, 6), (12, 6)])
def test_random_sums_scales_and_accumulators(stages, prepare_stages):
    rng = random.Random(1000 + stages)
    cases = [case(random_sum(rng), random_scale(rng), random_d(rng), d_flags=random_flags(rng))
             for _ in range(1500)]
    check(cases, stages=stages, prepare_stages=prepare_stages)


@pytest.mark.parametrize("stages, prepare_stages", [(1, 0), (3, 0), (0, 2), (8, 4), (12, 6)])
def test_result_appears_exactly_latency_cycles_later(stages, prepare_stages):
    # the block at cycle 0, D at the slot read prepare_stages later: the result appears exactly
    # stages cycles after the read, and not a cycle earlier
    first, second = case(3, 0, 0x3F80_0000), case(-5, 40, 0xC000_0000)
    want = [reference(**first), reference(**second)]
    dut = Accumulate(sum_width=SUM_WIDTH, grid_lsb=GRID_LSB, stages=stages,
                     prepare_stages=prepare_stages)
    assert (dut.prepare_latency, dut.loop_latency) == (prepare_stages, stages)
    latency = stages + prepare_stages
    seen = []

    async def testbench(ctx):
        for cycle in range(3 * latency):
            current = first if cycle < latency else second
            for name in BLOCK_INPUTS:
                ctx.set(getattr(dut, name), current[name])
            d_case = first if cycle - prepare_stages < latency else second
            for name in SLOT_INPUTS:
                ctx.set(getattr(dut, name), d_case[name])
            seen.append((ctx.get(dut.result), ctx.get(dut.flags)))
            await ctx.tick()

    run_clocked(dut, testbench)
    assert want[0] != want[1]
    assert seen[latency] == want[0] and seen[2 * latency] == want[1]
    assert seen[latency - 1] != want[0] and seen[2 * latency - 1] == want[0]


def test_sum_alone_every_magnitude_and_extreme_scales():
    rng = random.Random(1)
    cases = []
    for scale in (-254, -253, -200, -118, -117, -94, 0, 100, 190, 222, 223, 253, 254):
        for bits in range(1, SUM_WIDTH):
            top = 1 << (bits - 1)
            for value in (top, (1 << bits) - 1, rng.getrandbits(bits) | top):
                cases += [case(value, scale), case(-value, scale)]
        cases += [case(-(1 << (SUM_WIDTH - 1)), scale), case(0, scale)]
    check(cases)


def test_tie_rounds_to_even_at_every_bit_position_of_the_sum():
    # D = ±0 and V a midpoint (2m + 1) · 2^j with a 25-bit odd multiplier, for every j that fits,
    # scaled to lead anywhere in the normal range 2^-126 .. 2^127
    rng = random.Random(2)
    cases = []
    for shift in range(SUM_WIDTH - 25):
        for _ in range(8):
            odd = (1 << 24) | rng.getrandbits(24) | 1
            sign = rng.choice([1, -1])
            lead = rng.randrange(-126, 128)  # exponent of V's leading bit
            scale = lead - 24 - shift - GRID_LSB
            cases.append(case(sign * (odd << shift), scale, rng.choice([0, SIGN])))
    wanted = check(cases)
    assert all(flags == INEXACT or flags == INEXACT | OVERFLOW for _, flags in wanted)
    assert {result & 1 for result, _ in wanted} == {0}


def test_tie_in_the_subnormal_range_rounds_to_even():
    rng = random.Random(14)

    def subnormal_midpoints():
        while True:
            low = rng.randrange(MIN_NORMAL)
            yield rng.choice([1, -1]) * (fp32_value(low)[1] + fp32_value(low + 1)[1]) / 2, low

    cases = cases_from(subnormal_midpoints(), rng, 1500)
    wanted = check(cases)
    assert all(flags & (UNDERFLOW | INEXACT) == UNDERFLOW | INEXACT for _, flags in wanted)
    assert {result & 1 for result, _ in wanted} == {0}


def test_widest_sum_one_unit_from_a_tie_with_sticky_d_is_not_a_tie():
    # V has every one of its sum_width - 1 significant bits and lies one unit of its last place
    # off a rounding midpoint; D, below that unit, moves the exact sum towards the midpoint but
    # not onto it. Kept only as a sticky bit in the window's lowest place, D must not make a tie:
    # this needs the spare place below the widest sum.
    rng = random.Random(16)
    lead = SUM_WIDTH - 2  # leading place of the widest ordinary |sum|
    cases = []
    for _ in range(400):
        toward_up = rng.randrange(2)  # D of V's sign: V just below the midpoint, else just above
        k = rng.randrange(1 << 22) * 2 + toward_up  # the lower neighbour is odd exactly when up
        midpoint = (1 << lead) + (2 * k + 1) * (1 << (lead - 24))
        magnitude = midpoint - 1 if toward_up else midpoint + 1
        weight = rng.randrange(-120, 128 - lead)  # V's last place 2^weight, V finite
        d_exp = rng.randrange(max(-149, weight - 60), weight - 1)
        d_bits = round_to_fp32((1 + Fraction(rng.getrandbits(23), 1 << 23)) * Fraction(2) ** d_exp)[0]
        sign = rng.choice([0, SIGN])
        d = d_bits | (sign if toward_up else sign ^ SIGN)
        cases.append(case(-magnitude if sign else magnitude, weight - GRID_LSB, d))
    wanted = check(cases)
    assert all(flags == INEXACT for _, flags in wanted)
    assert {result & 1 for result, _ in wanted} == {1}  # rounded to the odd side: no tie


def test_tie_rounds_to_even_between_d_and_sum():
    rng = random.Random(3)
    wanted = check(cases_from(midpoints(rng), rng, 3000))
    assert all(flags & INEXACT for _, flags in wanted)
    assert {result & 1 for result, _ in wanted} == {0}


def test_cancellation_to_exact_zero_is_plus_zero():
    rng = random.Random(4)
    cases = []
    while len(cases) < 2000:
        d = random_d(rng)
        if (d & 0x7F80_0000) == INF:
            continue
        c = split(Fraction(0), d, rng)
        if c is not None:
            c["d_flags"] = random_flags(rng)
            cases.append(c)
    wanted = check(cases)
    assert {(result, flags & ~15) for result, flags in wanted} == {(0, 0)}


def test_near_total_cancellation():
    # D + V is a few units of V's last place: the result keeps every low bit of the sum
    rng = random.Random(5)
    cases = []
    while len(cases) < 3000:
        sum = random_sum(rng)
        scale = rng.randrange(-254, 255)
        v = sum * Fraction(2) ** (scale + GRID_LSB)
        if abs(v) >= Fraction(2) ** 128 or sum == 0:
            continue
        nearest = round_to_fp32(-v)[0]
        d = (nearest + rng.choice([-2, -1, 0, 0, 1, 2])) & 0xFFFF_FFFF
        if (d & 0x7F80_0000) == INF or d == SIGN - 1:
            continue
        cases.append(case(sum, scale, d))
    check(cases)


def test_nonzero_result_rounding_to_zero_keeps_its_sign():
    rng = random.Random(6)
    cases = []
    for _ in range(500):
        # below half the least subnormal: rounds to ±0, inexact and underflow
        tiny = rng.randrange(1, 1 << 40)
        cases.append(case(rng.choice([tiny, -tiny]), -254))
        # D = ±least subnormal cancelled down to less than half of it
        exact = rng.choice([1, -1]) * Fraction(rng.randrange(1, 1 << 20), 1 << 170)
        cases.append(split(exact, rng.choice([1, SIGN | 1, 2, SIGN | 2]), rng))
    cases = [c for c in cases if c is not None]
    wanted = check(cases)
    assert len(cases) > 900
    assert {result for result, _ in wanted} == {0, SIGN}
    assert all(flags & (UNDERFLOW | INEXACT) == UNDERFLOW | INEXACT for _, flags in wanted)


def test_results_at_the_least_normal_boundary():
    # exact values around 2^-126: exactly on it, a tie below it (rounds up to the least normal),
    # just above and below that tie, and one unit of the subnormal grid either side
    rng = random.Random(8)
    least_normal = Fraction(2) ** -126
    grid = Fraction(2) ** -149
    offsets = [0, -grid / 2, -grid / 2 + grid / 1024, -grid / 2 - grid / 1024, grid, -grid,
               grid / 2, grid / 4, -grid / 4, -grid + Fraction(2) ** -170]

    def around():
        while True:
            exact = rng.choice([1, -1]) * (least_normal + rng.choice(offsets))
            yield exact, rng.choice([MIN_NORMAL, MIN_NORMAL - 1, 0x7F_0000, 0x0100_0000])

    cases = cases_from(around(), rng, 2000)
    wanted = check(cases)
    # some tiny exact values round up to the least normal, raising underflow by themselves
    assert any(result & ~SIGN == MIN_NORMAL and flags & UNDERFLOW and not c["d_flags"] & UNDERFLOW
               for c, (result, flags) in zip(cases, wanted))


def test_largest_finite_or_overflow():
    # around 2^128 - 2^103 (the tie between the largest finite value and 2^128): below it rounds
    # to the largest finite value, on and above it overflows to Inf with overflow and inexact
    rng = random.Random(9)
    tie = Fraction(2) ** 128 - Fraction(2) ** 103
    unit = Fraction(2) ** 104
    offsets = [0, Fraction(-1, 1 << 40), Fraction(1, 1 << 40), Fraction(-1, 2), Fraction(1, 2),
               Fraction(-1), 1, 2, Fraction(1 << 60)]

    def around():
        while True:
            exact = rng.choice([1, -1]) * (tie + rng.choice(offsets) * unit)
            yield exact, rng.choice([MAX_FINITE, MAX_FINITE - 1, 0x7F00_0000])

    cases = cases_from(around(), rng, 1500)
    # and V alone, beyond any binary32 (up to 2^291)
    for _ in range(300):
        cases.append(case(random_sum(rng), rng.randrange(150, 255), random_d(rng) & ~INF))
    wanted = check(cases)
    magnitudes = {result & ~SIGN for result, _ in wanted}
    assert {MAX_FINITE, INF} <= magnitudes
    assert all(flags & (OVERFLOW | INEXACT) == OVERFLOW | INEXACT
               for result, flags in wanted if result & ~SIGN == INF)


def test_sum_far_below_the_last_place_of_d_is_sticky_only():
    rng = random.Random(10)
    cases = []
    while len(cases) < 2000:
        d = random_finite_magnitude(rng, lo=1) | rng.choice([0, SIGN])
        e = max(((d >> 23) & 0xFF) - 127, -126)
        # |V| below 2^(e - 23 - gap): gap >= 1 keeps it under half a unit in D's last place
        gap = rng.choice([1, 2, 3, 10, 40, 100, 300])
        top = e - 23 - gap  # V's leading bit below this exponent
        sum = random_sum(rng)
        if sum == 0:
            continue
        scale = top - (abs(sum).bit_length() - 1) - GRID_LSB - 1
        if -254 <= scale <= 254:
            cases.append(case(sum, scale, d))
    wanted = check(cases)
    assert [result for result, _ in wanted] == [c["d"] for c in cases]
    assert all(flags & INEXACT for _, flags in wanted)


def test_subnormal_d_plus_tiny_sums():
    rng = random.Random(11)
    cases = []
    for _ in range(2000):
        d = rng.choice([0, 1, 0x7F_FFFF, rng.getrandbits(23), MIN_NORMAL]) | rng.choice([0, SIGN])
        sum = random_sum(rng)
        scale = rng.randrange(-254, -60)
        cases.append(case(sum, scale, d, d_flags=random_flags(rng)))
    check(cases)


def test_chain_of_steps_fed_back_like_a_slot():
    # each result is the next step's D, as in the slot store; sums of mixed signs around one scale
    rng = random.Random(15)
    dut = Accumulate(sum_width=SUM_WIDTH, grid_lsb=GRID_LSB)
    sim = Simulator(dut)
    checked = []

    async def testbench(ctx):
        for chain in range(40):
            d, d_flags = 0, 0
            scale = rng.randrange(-254, 255)
            for _ in range(40):
                c = case(random_sum(rng), scale + rng.randrange(-8, 9), d, d_flags=d_flags)
                c["scale"] = max(-254, min(254, c["scale"]))
                for name in INPUTS:
                    ctx.set(getattr(dut, name), c[name])
                got = (ctx.get(dut.result), ctx.get(dut.flags))
                assert got == reference(**c), c
                checked.append(c)
                d, d_flags = got

    sim.add_testbench(testbench)
    sim.run()
    assert len(checked) == 40 * 40


D_SPECIALS = (INF, SIGN | INF, NAN, SIGN | NAN, 0x7F80_0001, 0xFFBF_FFFF, 0x7FFF_FFFF, 0x3F80_0000,
              0, SIGN, 1, MAX_FINITE | SIGN)


def test_special_precedence_every_combination():
    # every block flag combination × special and ordinary D × sticky flags in
    rng = random.Random(12)
    cases = []
    for block in range(16):
        nan, invalid, pos_inf, neg_inf = (block >> i & 1 for i in range(4))
        for d in D_SPECIALS:
            for d_flags in (0, 15, rng.randrange(16)):
                cases.append(case(random_sum(rng), random_scale(rng), d, nan=nan,
                                  invalid=invalid, pos_inf=pos_inf, neg_inf=neg_inf,
                                  d_flags=d_flags))
    check(cases)
    for stages, prepare_stages in ((1, 0), (3, 1), (8, 4), (11, 6)):
        check(cases, stages=stages, prepare_stages=prepare_stages)


def test_nan_results_are_canonical():
    cases = [case(5, 0, d) for d in (0x7F80_0001, 0xFFFF_FFFF, 0x7FA0_0000, 0xFFC0_0000)]
    cases += [case(1, 0, 0, nan=1), case(1, 0, INF, neg_inf=1), case(0, 0, 0, invalid=1)]
    results = simulate(cases)
    assert [r for r, _ in results] == [NAN] * len(cases)
    check(cases)


@pytest.mark.parametrize("sum_width, grid_lsb",
                         [(37, -18), (72, -32), (20, -12), (8, 0), (2, 0), (160, -64)])
def test_other_sum_widths_and_grids(sum_width, grid_lsb):
    rng = random.Random(sum_width)
    cases = [case(random_sum(rng, sum_width), random_scale(rng), random_d(rng),
                  d_flags=random_flags(rng)) for _ in range(600)]
    # ties: D one of the two neighbours of the midpoint (V is half a unit), or any D near it
    for exact, near in midpoints(rng):
        d = rng.choice([near, near + 1, neighbour_of(near, rng)]) | (SIGN if exact < 0 else 0)
        c = split(exact, d, rng, sum_width, grid_lsb)
        if c is not None:
            cases.append(c)
        if len(cases) == 1000:
            break
    check(cases, stages=2, sum_width=sum_width, grid_lsb=grid_lsb)


@pytest.mark.parametrize("sum_width, grid_lsb", [(20, -12), (8, 0), (2, 0), (160, -64)])
def test_other_sum_widths_with_every_cut(sum_width, grid_lsb):
    # the trees cut in the middle (prepare's zero flag, the loop's picked count after the cut)
    # at widths whose padding ends inside a node, fills whole nodes, or is none
    rng = random.Random(sum_width + 1)
    cases = [case(random_sum(rng, sum_width), random_scale(rng), random_d(rng),
                  d_flags=random_flags(rng)) for _ in range(400)]
    cases += [case(0, 0, random_d(rng)), case(1, 0, 0), case(-1, 0, 0)]
    check(cases, stages=12, prepare_stages=6, sum_width=sum_width, grid_lsb=grid_lsb)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 13, 27, 70, 71])
@pytest.mark.parametrize("cut", [False, True])
def test_count_leading_zeros_and_zero_flag(width, cut):
    # zero, all ones, one bit at every place, random values
    rng = random.Random(width)
    values = [0, (1 << width) - 1] + [1 << place for place in range(width)]
    values += [rng.getrandbits(width) >> rng.randrange(width) for _ in range(60)]
    dut = CountLeadingZeros(width, cut=cut)
    seen = []

    async def testbench(ctx):
        for value in values + [0] * dut.latency:
            ctx.set(dut.i, value)  # read before the tick: the count of the value `latency` before
            seen.append((ctx.get(dut.count), ctx.get(dut.zero)))
            await (ctx.tick() if cut else ctx.delay(1e-6))

    run_clocked(dut, testbench, clock=cut)
    assert seen[dut.latency:] == [(width - value.bit_length(), int(value == 0)) for value in values]


@pytest.mark.parametrize("kwargs, message", [
    (dict(sum_width=1, grid_lsb=-32), "Sum width must be an integer from 2 to 512, not 1"),
    (dict(sum_width=70, grid_lsb=3), "Grid LSB must be an integer from -512 to 0, not 3"),
    (dict(sum_width=70, grid_lsb=-32, stages=13), "Stages must be an integer from 0 to 12, not 13"),
    (dict(sum_width=70, grid_lsb=-32, prepare_stages=7),
     "Prepare stages must be an integer from 0 to 6, not 7"),
    (dict(sum_width="70", grid_lsb=-32), "Sum width must be an integer from 2 to 512, not '70'"),
])
def test_bad_parameters_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        Accumulate(**kwargs)


def test_converts_to_verilog_for_sum_width_72():
    text = verilog.convert(Accumulate(sum_width=72, grid_lsb=-32, stages=11, prepare_stages=6),
                           name="accumulate")
    assert "module accumulate" in text
