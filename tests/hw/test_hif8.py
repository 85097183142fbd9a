"""HiFloat8 in the hardware: every product of HiF8 with HiF8, E4M3 and E5M2 through Unpack,
Multiply, Align and Specials, and the top level with hif8 against the golden model and the HiF8
known answers, in the Amaranth simulator."""

import pytest

from mxdpu.hw.config import FORMAT_CODES, Config
from mxdpu.sim.amaranth_sim import run_stream
from mxdpu.verif.stimulus import expected_results, make_stream
from tests.common import E4M3, E5M2
from tests.hw.test_pe import check_pairs, run_pairs
from tests.hw.test_top import check

HIF8 = FORMAT_CODES["hif8"]
FP8_HIF8 = ("e4m3", "e5m2", "hif8")


@pytest.mark.slow     # the 256-PE harness, 5 × 65,536 products: 10–17 s; the top tests below cover HiF8 quickly
def test_every_product_of_hif8_with_hif8_e4m3_e5m2():
    pairs = [(HIF8, HIF8), (HIF8, E4M3), (E4M3, HIF8), (HIF8, E5M2), (E5M2, HIF8)]
    grid, out = run_pairs(Config(formats=FP8_HIF8), pairs, range(256))
    assert list(out) == pairs
    check_pairs(grid, out, range(256))


CONFIGS = {
    "dpu_hif8": Config(formats=FP8_HIF8),
    "r2c2_k16_lanes4_hif8": Config(rows=2, cols=2, block=16, lanes=4, depth=2, formats=FP8_HIF8,
                                   pipe_unpack=1, acc_stages=3),
}


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("stimulus, limit", [("kat_hif8", None), ("corners_hif8", 120),
                                             ("pairs_hif8_hif8_normal", 60), ("pairs_e5m2_hif8_overflow", 30),
                                             ("pairs_hif8_e4m3_subnormal", 30), ("heavy_hif8_even", 48)])
def test_top_with_hif8_matches_golden_model(config, stimulus, limit):
    stream = make_stream(config, stimulus, 5, limit)
    assert len(expected_results(config, stream)) > 0
    check(config, stream, run_stream(config, stream, idle=0.2, backpressure=0.3, seed=4))


def test_hif8_code_in_a_build_without_hif8_is_nan_invalid():
    config = Config(rows=1, cols=2, block=16, lanes=16, depth=2)
    stream = make_stream(config, "corners_hif8", 1, 12)
    expected = expected_results(config, stream)
    assert (expected.d == 0x7FC00000).all() and (expected.flags & 1).all()
    assert len(expected) > 0
    check(config, stream, run_stream(config, stream, idle=0.1, backpressure=0.1, seed=1))
