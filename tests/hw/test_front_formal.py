"""Formal equivalence of the PE front end with plain references (sim/front_formal.py): every
input, YoWASP Yosys `sat`; each check also fails on a planted difference."""

import pytest

from mxdpu.hw.config import Config
from mxdpu.sim.formal import FormalError
from mxdpu.sim.front_formal import LaneMiter, SpecialsMiter, SumMiter, prove


def test_multiply_place_on_grid_equal_plain_product_every_operand(tmp_path):
    assert prove(LaneMiter(Config()), tmp_path) > 0


def test_multiply_place_on_grid_planted_difference_found(tmp_path):
    with pytest.raises(FormalError, match="proof LaneMiter failed"):
        prove(LaneMiter(Config(), plant=True), tmp_path)


def test_multiply_place_on_grid_cut_equal_plain_product_two_cycles_earlier(tmp_path):
    assert prove(LaneMiter(Config(), cut=True), tmp_path) > 0


def test_multiply_cut_planted_difference_found(tmp_path):
    with pytest.raises(FormalError, match="proof LaneMiter failed"):
        prove(LaneMiter(Config(), plant=True, cut=True), tmp_path)


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
