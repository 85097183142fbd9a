"""The PE stages against the golden model: Multiply + PlaceOnGrid + Specials on every FP8 operand
pair, Sum on random blocks with every pipeline setting."""

import random

import numpy as np
import pytest
from amaranth.hdl import Cat, ClockDomain, Module, Signal
from amaranth.sim import Simulator

from mxdpu.hw.config import FORMAT_CODES, Config
from mxdpu.hw.formats import Grid
from mxdpu.hw.pe import Multiply, PlaceOnGrid, SlotStore, Specials, Sum
from mxdpu.hw.unpack import Unpack
from mxdpu.verif.formats import INF, KIND, LSB_EXP, NAN, VALUE
from mxdpu.verif.golden import block_terms

E4M3, E5M2 = FORMAT_CODES["e4m3"], FORMAT_CODES["e5m2"]
GROUP = 32


def products_harness(grid, b_codes):
    """One A operand against a row of fixed B codes: every product on the grid, and its specials."""
    m = Module()
    a_code, a_format, b_format = Signal(8), Signal(3), Signal(3)
    m.submodules.unpack_a = unpack_a = Unpack(grid)
    m.d.comb += [unpack_a.code.eq(a_code), unpack_a.format.eq(a_format)]
    values, flags = [], []
    for i, code in enumerate(b_codes):
        m.submodules[f"unpack_b{i}"] = unpack_b = Unpack(grid)
        m.submodules[f"multiply{i}"] = multiply = Multiply(grid)
        m.submodules[f"place{i}"] = place = PlaceOnGrid(grid)
        m.submodules[f"specials{i}"] = specials = Specials(grid, 1)
        m.d.comb += [
            unpack_b.code.eq(code), unpack_b.format.eq(b_format),
            multiply.a.eq(unpack_a.out), multiply.b.eq(unpack_b.out),
            place.product.eq(multiply.product),
            specials.a[0].eq(unpack_a.out), specials.b[0].eq(unpack_b.out),
        ]
        values.append(place.row)
        flags.append(Cat(specials.nan, specials.invalid, specials.pos_inf, specials.neg_inf))
    # a few wide signals, each read at once (the simulator limits a signal's decimal digits)
    groups = [slice(i, i + GROUP) for i in range(0, len(values), GROUP)]
    all_values = [Signal(GROUP * grid.product_width, name=f"values{g.start}") for g in groups]
    all_flags = [Signal(4 * GROUP, name=f"flags{g.start}") for g in groups]
    for g, v, f in zip(groups, all_values, all_flags):
        m.d.comb += [v.eq(Cat(*values[g])), f.eq(Cat(*flags[g]))]
    return m, (a_code, a_format, b_format), all_values, all_flags


def run_pairs(config, pairs, a_codes):
    """{(fa, fb): (values [a, b] as Python ints, flags [a, b, 4])} for every A code in a_codes."""
    grid = Grid(config)
    b_codes = range(256)
    m, (a_code, a_format, b_format), all_values, all_flags = products_harness(grid, b_codes)
    width = grid.product_width
    out = {}

    async def testbench(ctx):
        for fa, fb in pairs:
            ctx.set(a_format, fa)
            ctx.set(b_format, fb)
            values, flags = [], []
            for a in a_codes:
                ctx.set(a_code, a)
                v = [ctx.get(x) for x in all_values]
                f = [ctx.get(x) for x in all_flags]
                row = [(v[i // GROUP] >> (i % GROUP * width)) & ((1 << width) - 1) for i in b_codes]
                # offset binary: the row is the product plus 2^(width - 1)
                values.append([x - (1 << (width - 1)) for x in row])
                flags.append([(f[i // GROUP] >> (4 * (i % GROUP))) & 0xF for i in b_codes])
            out[fa, fb] = values, np.array(flags)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return grid, out


def check_pairs(grid, out, a_codes):
    checked = 0
    for (fa, fb), (values, flags) in out.items():
        a = np.repeat(np.asarray(a_codes), 256)
        b = np.tile(np.arange(256), len(a_codes))
        n = len(a)
        terms = block_terms(np.full(n, fa), np.full(n, fb), a.reshape(n, 1, 1), b.reshape(n, 1, 1),
                            np.full((n, 1), 127), np.full((n, 1), 127), enabled=tuple(FORMAT_CODES))
        shift = int(LSB_EXP[fa]) + int(LSB_EXP[fb]) - grid.lsb
        for j, a_code in enumerate(a_codes):
            for b_code in range(256):
                if KIND[fa, a_code] in (NAN, INF) or KIND[fb, b_code] in (NAN, INF):
                    continue  # the row means nothing: the specials below override the sum
                expect = (int(VALUE[fa, a_code]) * int(VALUE[fb, b_code])) << shift
                assert values[j][b_code] == expect, (fa, fb, a_code, b_code)
        got = flags.reshape(n)
        for bit, name in enumerate(("nan", "invalid", "pinf", "ninf")):
            assert np.array_equal((got >> bit) & 1 == 1, terms[name].reshape(n)), (fa, fb, name)
        checked += n
    return checked


@pytest.mark.slow
def test_multiply_align_specials_every_fp8_pair():
    pairs = [(E4M3, E4M3), (E4M3, E5M2), (E5M2, E4M3), (E5M2, E5M2)]
    grid, out = run_pairs(Config(), pairs, range(256))
    assert check_pairs(grid, out, range(256)) == 4 * 65536


@pytest.mark.slow
def test_multiply_align_specials_all_formats_sampled():
    # every pair of the seven formats on the widest grid; A codes sampled, B codes all
    config = Config(formats=tuple(FORMAT_CODES))
    codes = sorted(FORMAT_CODES.values())
    pairs = [(fa, fb) for fa in codes for fb in codes]
    a_codes = sorted(random.Random(3).sample(range(256), 8) + [0, 0x80, 0x7F, 0xFF])
    grid, out = run_pairs(config, pairs, a_codes)
    assert check_pairs(grid, out, a_codes) == len(pairs) * len(a_codes) * 256


@pytest.mark.parametrize("lanes, chunks, pipe_tree, slices", [
    (32, 1, 0, 1), (32, 1, 1, 3), (32, 1, 2, 2), (4, 4, 0, 1), (4, 4, 1, 4), (8, 16, 3, 2),
    (1, 16, 1, 2),
])
def test_sum_random_blocks_exact(lanes, chunks, pipe_tree, slices):
    config = Config(block=lanes * chunks, lanes=lanes, pipe_tree=pipe_tree, sum_slices=slices)
    grid = Grid(config)
    m = Module()
    m.domains.sync = ClockDomain()  # the clock of the testbench, also when Sum has no register
    m.submodules.sum = block_sum = Sum(config, grid)
    rng = random.Random(lanes * 100 + chunks)
    bound = 1 << grid.width  # every grid value is above -bound and below bound
    blocks = []
    for _ in range(60):
        kind = rng.choice(("extreme", "random", "small"))
        if kind == "extreme":
            blocks.append([rng.choice((bound - 1, -(bound - 1))) for _ in range(lanes * chunks)])
        elif kind == "random":
            blocks.append([rng.randrange(-bound + 1, bound) for _ in range(lanes * chunks)])
        else:
            blocks.append([rng.randrange(-8, 9) for _ in range(lanes * chunks)])
    values = [v for block in blocks for v in block]
    got = []

    async def testbench(ctx):
        # one chunk a cycle, back to back; a block's sum is read sum_latency cycles after its
        # last chunk
        for t in range(len(blocks) * chunks + config.sum_latency):
            if t < len(blocks) * chunks:
                ctx.set(block_sum.start, t % chunks == 0)
                for i in range(lanes):
                    # offset binary, as PlaceOnGrid gives it
                    ctx.set(block_sum.rows[i], values[t * lanes + i] + bound)
            done = t - config.sum_latency
            if done >= 0 and done % chunks == chunks - 1:
                got.append(ctx.get(block_sum.sum))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert got == [sum(block) for block in blocks]
    assert len(got) == len(blocks)


@pytest.mark.parametrize("ahead", [False, True], ids=["select_decoded_at_read", "select_ahead"])
def test_slot_store_reset_first_last_and_slots_beyond_depth(ahead):
    config = Config(depth=3)  # a 2-bit slot field names a slot 3 that does not exist
    m = Module()
    m.domains.sync = ClockDomain()
    m.submodules.store = store = SlotStore(config, ahead=ahead)
    reads = []

    async def testbench(ctx):
        async def write(slot, d, flags, last=0):
            ctx.set(store.write, 1)
            ctx.set(store.write_slot, slot)
            ctx.set(store.write_d, d)
            ctx.set(store.write_flags, flags)
            ctx.set(store.write_last, last)
            await ctx.tick()
            ctx.set(store.write, 0)

        async def read(slot, first=0):
            ctx.set(store.read_slot, slot)
            ctx.set(store.read_first, first)
            if ahead:  # named a cycle before the read: what the inputs say now does not count
                await ctx.tick()
                ctx.set(store.read_slot, (slot + 1) % 4)
                ctx.set(store.read_first, 1 - first)
            reads.append((ctx.get(store.d), ctx.get(store.d_flags)))

        await read(0)                              # after reset: +0, flags clear
        for slot in range(4):
            await write(slot, 0x3F800000 + slot, 8 | slot)
        for slot in range(4):
            await read(slot)
        await read(1, first=1)                     # first: taken as +0
        await write(2, 0x40000000, 1, last=1)      # last: the slot returns to +0
        await read(2)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert reads == [(0, 0), (0x3F800000, 8), (0x3F800001, 9), (0x3F800002, 10), (0, 0), (0, 0), (0, 0)]
