"""scripts/quant_error.py: exact dequantisation, every combination in the table, bad input."""

import numpy as np

from mxdpu.scripts.cli import main
from mxdpu.scripts.quant_error import BLOCKS, DATA, FORMATS, RULES, dequantise, measure
from mxdpu.verif.formats import FINITE, KIND, LSB_EXP, VALUE
from mxdpu.verif.quantise import quantise


def test_representable_blocks_come_back_exactly():
    """A block holding max_F and other codes of F under RCEIL (scale 2^0) is quantised without error."""
    for name in ("e4m3", "e5m2", "hif8"):
        f = FORMATS[name]
        finite = np.flatnonzero(KIND[f.code] == FINITE)
        values = (VALUE[f.code][finite] * 2.0 ** int(LSB_EXP[f.code])).astype(np.float32)
        block = np.resize(values, 128)
        block[0] = float(f.max_finite)
        codes, scales = quantise(block, f, "rceil", 128)
        assert scales.tolist() == [127]
        assert np.array_equal(dequantise(codes, scales, f, 128), block.astype(np.float64)), name
        assert measure(block, f, "rceil", 128) == (float("inf"), 0.0)


def test_table_covers_every_combination(capsys):
    assert main(["quant-error", "--elements", "256"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "SQNR" not in line]
    assert len(rows) == len(DATA) * len(BLOCKS) * len(RULES)
    assert all(row.count("dB") == 0 and row.count("%") == len(FORMATS) for row in rows)


def test_bad_element_count_is_one_line(capsys):
    assert main(["quant-error", "--elements", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mxdpu quant-error: error: Elements must be a positive multiple of 128, not 100"


def test_plot_is_written(tmp_path, capsys):
    assert main(["quant-error", "--elements", "256", "--plot", str(tmp_path / "sqnr.png")]) == 0
    assert (tmp_path / "sqnr.png").stat().st_size > 1000
