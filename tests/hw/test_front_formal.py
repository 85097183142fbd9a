"""Formal equivalence of the PE front end with plain references (sim/front_formal.py): every
input, YoWASP Yosys `sat`; each check also fails on a planted difference."""

import pytest

from mxdpu.hw.config import Config
from mxdpu.sim.front_formal import LaneMiter, SumMiter, prove


@pytest.mark.parametrize("plant", [False, True], ids=["proved", "planted_difference_found"])
def test_multiply_place_on_grid_equal_plain_product_every_operand(plant, tmp_path):
    proved, log = prove(LaneMiter(Config(), plant), tmp_path)
    assert proved == (not plant), log[-2000:]
    assert ("proof did fail" in log) == plant


@pytest.mark.parametrize("config", [
    Config(block=16, lanes=16, pipe_tree=1, sum_slices=3),
    Config(block=16, lanes=8, pipe_tree=2, sum_slices=2),
], ids=["one_chunk_tree_registers_three_slices", "two_chunks_two_slices"])
def test_sum_equals_plain_signed_sum_every_row(config, tmp_path):
    proved, log = prove(SumMiter(config), tmp_path)
    assert proved, log[-2000:]


def test_sum_planted_difference_found(tmp_path):
    proved, log = prove(SumMiter(Config(block=16, lanes=16, sum_slices=2), plant=True), tmp_path)
    assert not proved and "proof did fail" in log, log[-2000:]
