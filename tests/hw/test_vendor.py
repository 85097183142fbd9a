"""VendorChunk (hw/vendor.py) in Amaranth's simulator against the golden model's vendor modes
(verif/modes.py, itself cross-checked against MMA-Sim), every bit of d and flags."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from mxdpu.hw.config import Config
from mxdpu.hw.vendor import VendorChunk
from mxdpu.verif.stimulus import random_chunks
from mxdpu.verif.modes import MODE_CODES, vendor_steps

ALL_MODE_FORMATS = ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")


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

    sim = Simulator(dut)
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
    config = Config(block=block, lanes=block, formats=ALL_MODE_FORMATS)
    dut = VendorChunk(config)
    cases = _random_cases(np.random.default_rng(block), ["blackwell", "hopper"], dut.length, 300)
    got = simulate(dut, cases)
    want = _golden(cases, config.formats, ("exact", "blackwell", "hopper"))
    mismatches = [(case, g, w) for case, g, w in zip(cases, got, want) if g != w]
    assert not mismatches[:3]
    assert len(got) == len(want) == len(cases)


def test_format_outside_mode_or_not_enabled_and_mode_not_built():
    config = Config(block=16, lanes=16)                       # e4m3, e5m2 only
    dut = VendorChunk(config, modes=("hopper",))
    zeros = [0] * 16
    cases = [(MODE_CODES["hopper"], 4, 0, zeros, zeros, 127, 127, 0),      # FP4 not enabled
             (MODE_CODES["blackwell"], 0, 0, zeros, zeros, 127, 127, 0),   # blackwell not built
             (3, 0, 0, zeros, zeros, 127, 127, 0),                         # reserved
             (MODE_CODES["hopper"], 0, 0, [0x38] + zeros[1:], [0x38] + zeros[1:], 127, 127, 0x3F800001)]
    got = simulate(dut, cases)
    assert got == _golden(cases, config.formats, ("exact", "hopper"))
    assert got == [(0x7FFFFFFF, 1), (0x7FC00000, 1), (0x7FC00000, 1), (0x40000000, 0)]


def test_unknown_vendor_mode_is_refused():
    with pytest.raises(ValueError, match="Vendor modes must be one or more of blackwell, hopper, not 'exact'"):
        VendorChunk(Config(), modes=("exact",))
