"""`mxdpu fidelity`: the exact reference, DeepSeek's promotion, and the command's outputs."""

from fractions import Fraction

import numpy as np
import pytest

from mxdpu.scripts.cli import main
from mxdpu.scripts.fidelity import BLOCK, dot_products, exact_prefixes, relative_errors
from mxdpu.verif.formats import decode
from mxdpu.verif.quantise import quantise


def _quantised(rng, fmt, rows, k, scale=1.0):
    qa, sa = quantise((rng.standard_normal((rows, k)) * scale).astype(np.float32), fmt, "rceil", block=BLOCK)
    qb, sb = quantise(rng.random((rows, k)).astype(np.float32), fmt, "rceil", block=BLOCK)
    return (np.asarray(x, np.int64) for x in (qa, sa, qb, sb))


def _value(fmt, code):
    d = decode({"e4m3": 0, "e5m2": 1}[fmt], int(code))
    return (-1 if d.sign else 1) * Fraction(d.mag) * Fraction(2) ** d.exp


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_exact_prefixes_equal_elementwise_fraction_sums(fmt):
    rng = np.random.default_rng(3)
    qa, sa, qb, sb = _quantised(rng, fmt, 3, 2 * BLOCK)
    got = exact_prefixes(fmt, qa, sa, qb, sb, (BLOCK, 2 * BLOCK))
    for k in (BLOCK, 2 * BLOCK):
        for r in range(3):
            want = sum(_value(fmt, qa[r, i]) * _value(fmt, qb[r, i])
                       * Fraction(2) ** (int(sa[r, i // BLOCK]) + int(sb[r, i // BLOCK]) - 254) for i in range(k))
            assert got[k][r] == want


def test_promoted_hopper_equals_hopper_with_scales_inside_for_one_block_in_normal_range():
    rng = np.random.default_rng(4)
    qa, sa, qb, sb = _quantised(rng, "e4m3", 64, BLOCK)
    hopper = dot_products("hopper", "e4m3", qa, sa, qb, sb, (BLOCK,))[BLOCK]
    promoted = dot_products("hopper+promote", "e4m3", qa, sa, qb, sb, (BLOCK,))[BLOCK]
    assert (hopper == promoted).all()


def test_relative_error_of_exact_results_is_zero_and_of_halved_results_one_half():
    exact = [Fraction(3, 4), Fraction(-5), Fraction(0)]
    bits = np.array([0.75, -5.0, 1.0], np.float32).view(np.uint32)
    assert relative_errors(bits, exact).tolist() == [0.0, 0.0]          # a zero exact value is skipped
    halved = np.array([0.375, -2.5, 1.0], np.float32).view(np.uint32)
    assert relative_errors(halved, exact).tolist() == [0.5, 0.5]
    assert relative_errors(halved, exact, [Fraction(3, 2), Fraction(10), Fraction(4)]).tolist() == [0.25, 0.25, 0.25]


def test_magnitude_sums_bound_the_exact_sums():
    rng = np.random.default_rng(5)
    qa, sa, qb, sb = _quantised(rng, "e5m2", 8, BLOCK)
    exact = exact_prefixes("e5m2", qa, sa, qb, sb, (BLOCK,))[BLOCK]
    norm = exact_prefixes("e5m2", qa, sa, qb, sb, (BLOCK,), magnitudes=True)[BLOCK]
    assert all(abs(e) <= n for e, n in zip(exact, norm)) and any(abs(e) < n for e, n in zip(exact, norm))


def test_small_run_writes_table_and_plot(tmp_path, capsys):
    assert main(["fidelity", "--rows", "4", "--max-k", "256", "-o", str(tmp_path)]) == 0
    table = (tmp_path / "fidelity.md").read_text().splitlines()
    # per metric: title, blank, header, rule, data x format x K rows; a blank line between
    assert len(table) == 2 * (4 + 3 * 2 * 2) + 1
    assert (tmp_path / "fidelity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"wrote {tmp_path / 'fidelity.md'}")


@pytest.mark.parametrize("argv", [["--rows", "0"], ["--max-k", "100"], ["--seed", "-1"]])
def test_bad_arguments_are_one_line_and_exit_2(argv, error_line):
    assert main(["fidelity", *argv]) == 2
    assert error_line().startswith("mxdpu fidelity: error: --rows must be at least 1")
