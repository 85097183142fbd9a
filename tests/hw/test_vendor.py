"""The vendor-mode chunk (hw/vendor.py: Unpack, VendorTerms, VendorAccumulate) in Amaranth's
simulator against the golden model's vendor modes (verif/modes.py, itself cross-checked against
MMA-Sim), every bit of d and flags."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from mxdpu.hw.config import MODE_CODES, Config
from mxdpu.hw.formats import Grid
from mxdpu.hw.unpack import Unpack
from mxdpu.hw.vendor import VendorAccumulate, VendorTerms, formats_invalid
from mxdpu.verif.modes import vendor_steps
from mxdpu.verif.stimulus import random_chunks

ALL_MODE_FORMATS = ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")


class Chunk:
    """One chunk from raw codes: Unpack, VendorTerms, VendorAccumulate and the mode's format
    check, as the tile and VendorPath wire them."""

    def __init__(self, config):
        self.config = config
        self.length = config.chunk_length
        self.a, self.b = (Signal(data.ArrayLayout(8, self.length), name=n) for n in "ab")
        self.a_format, self.b_format, self.mode = Signal(3), Signal(3), Signal(2)
        self.a_scale, self.b_scale, self.c = Signal(8), Signal(8), Signal(32)
        self.d, self.flags = Signal(32), Signal(4)

    def elaborate(self, platform):
        m = Module()
        grid = Grid(self.config)
        m.submodules.terms = terms = VendorTerms(grid, self.length)
        m.submodules.acc = acc = VendorAccumulate(grid, self.length)
        for side in "ab":
            for i in range(self.length):
                m.submodules[f"unpack_{side}{i}"] = unpack = Unpack(grid)
                m.d.comb += [unpack.code.eq(getattr(self, side)[i]),
                             unpack.format.eq(getattr(self, f"{side}_format")),
                             getattr(terms, side)[i].eq(unpack.out)]
        m.d.comb += [
            terms.a_format.eq(self.a_format), terms.b_format.eq(self.b_format),
            acc.terms.eq(terms.terms),
            acc.scale.eq(self.a_scale + self.b_scale - 254),
            acc.nan.eq((self.a_scale == 0xFF) | (self.b_scale == 0xFF)),
            acc.invalid.eq(formats_invalid(self.config, grid, self.mode, self.a_format, self.b_format)),
            acc.hopper.eq(self.mode == MODE_CODES["hopper"]),
            acc.c.eq(self.c),
            self.d.eq(acc.d), self.flags.eq(acc.flags),
        ]
        return m


def simulate(dut, cases):
    """[(d, flags)] of the chunk for each case (mode, a_format, b_format, a, b, sa, sb, c)."""
    out = []

    async def testbench(ctx):
        for mode, fa, fb, a, b, sa, sb, c in cases:
            for port, value in ((dut.a, [int(x) for x in a]), (dut.b, [int(x) for x in b]), (dut.mode, mode),
                                (dut.a_format, fa), (dut.b_format, fb), (dut.a_scale, sa), (dut.b_scale, sb),
                                (dut.c, c)):
                ctx.set(port, value if isinstance(value, list) else int(value))
            out.append((ctx.get(dut.d), ctx.get(dut.flags)))

    sim = Simulator(dut.elaborate(None))
    sim.add_testbench(testbench)
    sim.run()
    return out


def _random_cases(rng, modes, length, count):
    cases = []
    for _ in range(count):
        mode = str(rng.choice(modes))
        codes = (0, 1) if mode == "hopper" else (0, 1, 2, 3, 4)
        fa, fb = (int(x) for x in rng.choice(codes, 2))
        ch = random_chunks(rng, fa, fb, 1, length)
        cases.append((MODE_CODES[mode], fa, fb, ch["a"][0], ch["b"][0], int(ch["sa"][0]), int(ch["sb"][0]),
                      int(ch["c"][0])))
    return cases


def _golden(cases, formats, built):
    mode, fa, fb, a, b, sa, sb, c = (np.array(x) for x in zip(*cases))
    bits, flags = vendor_steps(mode, fa, fb, a[:, None], b[:, None], sa[:, None], sb[:, None], c[:, None, None],
                               formats, built)
    return [(int(x), int(y)) for x, y in zip(bits[:, 0, 0], flags[:, 0, 0])]


@pytest.mark.parametrize("block", [16, 32])
def test_random_chunks_both_modes_every_format_match_golden(block):
    config = Config(block=block, lanes=block, formats=ALL_MODE_FORMATS, modes=("blackwell", "hopper"))
    dut = Chunk(config)
    cases = _random_cases(np.random.default_rng(block), ["blackwell", "hopper"], dut.length, 300)
    got = simulate(dut, cases)
    want = _golden(cases, config.formats, config.modes)
    mismatches = [(case, g, w) for case, g, w in zip(cases, got, want) if g != w]
    assert not mismatches[:3]
    assert len(got) == len(want) == len(cases)


def test_format_outside_mode_or_not_enabled():
    config = Config(block=16, lanes=16, formats=("e2m1",), modes=("blackwell", "hopper"))
    dut = Chunk(config)
    zeros = [0] * 16
    one = [0x38] + zeros[1:]                                                 # E4M3 1.0
    cases = [(MODE_CODES["hopper"], 4, 0, zeros, zeros, 127, 127, 0),        # FP4: not hopper's
             (MODE_CODES["blackwell"], 2, 0, zeros, zeros, 127, 127, 0),     # E3M2 not enabled
             (MODE_CODES["blackwell"], 4, 4, zeros, zeros, 127, 127, 0x3F800001),
             (MODE_CODES["hopper"], 0, 0, one, one, 127, 127, 0x3F800001)]   # 14 bits kept
    got = simulate(dut, cases)
    assert got == _golden(cases, config.formats, config.modes)
    assert got == [(0x7FFFFFFF, 1), (0x7FFFFFFF, 1), (0x3F800001, 0), (0x40000000, 0)]
