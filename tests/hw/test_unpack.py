"""Unpack against the golden model's decode tables: every code of every format code."""

from fractions import Fraction

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from tests.common import ALL_FORMATS
from mxdpu.hw.config import FORMAT_CODES, Config
from mxdpu.hw.formats import Grid
from mxdpu.hw.unpack import Unpack
from mxdpu.verif.formats import FORMATS, INF, KIND, LSB_EXP, NAN, SIGN, VALUE


def decode_all(config):
    """{(format code, byte): (sign, value in 2^elem_lsb units, nan, inf, zero)} from the hardware."""
    grid = Grid(config)
    m = Module()
    m.submodules.unpack = unpack = Unpack(grid)
    decoded = {}

    async def testbench(ctx):
        for fmt in range(8):
            ctx.set(unpack.format, fmt)
            for code in range(256):
                ctx.set(unpack.code, code)
                out = ctx.get(unpack.out)
                value = int(out.sig) << int(out.exp)
                decoded[fmt, code] = (int(out.sign), value, int(out.nan), int(out.inf), int(out.zero))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return grid, decoded


@pytest.mark.parametrize("formats", [ALL_FORMATS, ("e4m3", "e5m2"), ("e4m3", "e5m2", "hif8")],
                         ids=["all_formats", "fp8_only", "fp8_hif8"])
def test_unpack_every_code_of_every_format(formats):
    config = Config(formats=formats)
    grid, decoded = decode_all(config)
    for fmt in range(8):
        for code in range(256):
            sign, value, nan, inf, zero = decoded[fmt, code]
            if fmt not in config.format_codes:
                # disabled or reserved: NaN (the rest of the record means nothing)
                assert nan == 1, (fmt, code)
            else:
                kind = KIND[fmt, code]
                expect = abs(int(VALUE[fmt, code])) << (int(LSB_EXP[fmt]) - grid.elem_lsb)
                assert (nan, inf) == (int(kind == NAN), int(kind == INF)), (fmt, code)
                if kind not in (NAN, INF):  # a NaN's or Inf's sig and exp mean nothing
                    assert value == expect, (fmt, code)
                assert zero == int(kind not in (NAN, INF) and expect == 0), (fmt, code)
                assert sign == int(SIGN[fmt, code]), (fmt, code)


def test_grid_of_fp8_spans_2_pow_minus_32_to_2_pow_31():
    # DESIGN.md: with E5M2 enabled the products sit on 2^-32 .. 2^31, 64 bits
    grid = Grid(Config())
    assert (grid.lsb, grid.width) == (-32, 64)
    assert grid.sum_width == 64 + 1 + 5  # sign, and log2 32 for the block sum


def test_grid_bounds_every_product_of_all_formats():
    grid = Grid(Config(formats=ALL_FORMATS, block=128))
    assert grid.lsb == 2 * min(f.lsb_exp for f in FORMATS.values())
    largest = max(f.max_finite for f in FORMATS.values())
    assert largest * largest < 2 ** (grid.lsb + grid.width)


def test_grid_with_hif8_spans_2_pow_minus_44_to_2_pow_32():
    # HiF8's denormal 2^-22 squared is the least product; E5M2's 57344^2 < 2^32 still the largest
    grid = Grid(Config(formats=("e4m3", "e5m2", "hif8")))
    assert (grid.elem_lsb, grid.lsb, grid.width, grid.sig_width) == (-22, -44, 76, 4)
    hif8 = FORMATS[FORMAT_CODES["hif8"]]
    assert hif8.max_finite ** 2 < 2 ** 31 and Fraction(2) ** (2 * hif8.lsb_exp) == Fraction(2) ** grid.lsb


def test_hif8_code_without_hif8_is_nan():
    grid, decoded = decode_all(Config())
    assert grid.lsb == -32          # the grid does not widen for a format the build lacks
    assert {decoded[FORMAT_CODES["hif8"], code][2] for code in range(256)} == {1}
