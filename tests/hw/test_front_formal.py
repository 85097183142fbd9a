"""Formal equivalence of the PE front end with plain references (sim/front_formal.py): every
input, YoWASP Yosys `sat`; each check also fails on a planted difference."""

import pytest

from mxdpu.hw.config import Config
from mxdpu.sim.formal import FormalError
from mxdpu.sim.front_formal import LaneMiter, SpecialsMiter, SumMiter, prove


@pytest.mark.parametrize("pipe_multiply, latency", [(1, 0), (2, 2), (3, 3)],
                         ids=["combinational", "two_registers", "three_registers"])
def test_multiply_place_on_grid_equal_plain_product_every_operand(pipe_multiply, latency, tmp_path):
    miter = LaneMiter(Config(pipe_multiply=pipe_multiply))
    assert miter.latency == latency
    assert prove(miter, tmp_path) > 0


@pytest.mark.parametrize("pipe_multiply", [1, 3], ids=["combinational", "three_registers"])
def test_multiply_place_on_grid_planted_difference_found(pipe_multiply, tmp_path):
    with pytest.raises(FormalError, match="proof LaneMiter failed"):
        prove(LaneMiter(Config(pipe_multiply=pipe_multiply), plant=True), tmp_path)


@pytest.mark.parametrize("config", [
    Config(block=16, lanes=16, pipe_tree=1, sum_slices=3),
    Config(block=16, lanes=8, pipe_tree=2, sum_slices=2),
], ids=["one_chunk_tree_registers_three_slices", "two_chunks_two_slices"])
def test_sum_equals_plain_signed_sum_every_row(config, tmp_path):
    assert prove(SumMiter(config), tmp_path) > 0


def test_sum_planted_difference_found(tmp_path):
    with pytest.raises(FormalError, match="proof SumMiter failed"):
        prove(SumMiter(Config(block=16, lanes=16, sum_slices=2), plant=True), tmp_path)


def test_specials_cut_equal_plain_or_one_cycle_earlier_every_lane(tmp_path):
    assert prove(SpecialsMiter(Config()), tmp_path) > 0


def test_specials_cut_planted_difference_found(tmp_path):
    with pytest.raises(FormalError, match="proof SpecialsMiter failed"):
        prove(SpecialsMiter(Config(), plant=True), tmp_path)
