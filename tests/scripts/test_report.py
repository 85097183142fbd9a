"""`mxdpu report`: the sweep plan, one real small sweep, the tables and plots, bad arguments."""

import json

import pytest

from mxdpu.hw.config import FORMAT_CODES, Config
from mxdpu.scripts import report
from mxdpu.scripts.cli import main

BASE_ARGS = ["--block", "16", "--lanes", "2", "--depth", "1"]
PNG = b"\x89PNG\r\n\x1a\n"


def test_plan_measures_shared_configurations_once_and_skips_non_divisors():
    base = Config(block=32, lanes=32, depth=4)
    chosen = report.plan(base, report.SWEEPS, [2, 3, 8], at_lanes=8, fmax_lanes=4, wide=False)
    assert [c.lanes for c in chosen["lanes"]] == [2, 8]
    assert [c.block for c in chosen["block"]] == [16, 32, 64, 128]
    assert [(c.rows, c.cols) for c in chosen["tile"]] == [(1, 1), (2, 2)]
    assert [len(c.formats) for c in chosen["formats"]] == [2, len(FORMAT_CODES)]
    assert [tuple(getattr(c, f) for f in report.PIPELINE_FIELDS) for c in chosen["pipeline"]] == report.PIPELINES
    # lanes 8 at k 32 is in the lanes, block, tile and formats sweeps: one configuration
    distinct = set(c for configs in chosen.values() for c in configs)
    assert sum(len(c) for c in chosen.values()) - len(distinct) == 3
    wide = report.plan(base, ["tile", "pipeline"], [8], 8, 4, wide=True)
    assert (4, 4) in [(c.rows, c.cols) for c in wide["tile"]]
    assert len(wide["pipeline"]) == len(report.PIPELINES_WIDE)


@pytest.mark.slow  # Yosys on two configurations
def test_small_lanes_sweep_writes_tables_plot_and_json(tmp_path):
    out = tmp_path / "report"
    assert main(["report", *BASE_ARGS, "--sweep", "lanes", "--lanes-values", "1,2,3",
                 "--target", "generic", "-o", str(out), "-j", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["parameters"]["lanes"] for r in results["lanes"]] == [1, 2]  # 3 does not divide 16
    text = (out / "report.md").read_text()
    for result in results["lanes"]:
        cells = result["targets"]["generic"]["total"]["cells"]
        lanes = result["parameters"]["lanes"]
        assert f"| {lanes} | {lanes} | {16 // lanes} | " in text
        assert f" | {cells} | {cells / lanes:.1f} |" in text
    assert "![area per MAC against lanes](area_per_mac_vs_lanes.png)" in text
    assert (out / "area_per_mac_vs_lanes.png").read_bytes().startswith(PNG)
    # the stage table: one row per lanes value, percentages of the generic cells adding up to 100
    stage_table = text.split("## where the area goes (generic cells, % by stage)")[1]
    rows = [line.strip("| ").split(" | ") for line in stage_table.splitlines() if line.startswith("| ")][1:]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(abs(sum(float(v) for v in row[1:]) - 100) < 0.1 * len(row) for row in rows)


def test_pipeline_sweep_plots_fmax_and_says_does_not_fit(tmp_path, monkeypatch):
    # the tools are stood in for here: this test is about the report, test_synth runs them
    calls = []

    def fake_measure(config, targets, build_dir, fmax=False, freq=100.0):
        calls.append((config, tuple(targets), fmax))
        depth = config.latency - config.cycles_per_step - 1  # the pipeline registers
        placed = {"device": "25k", "constraint": freq, "fits": depth < 8, "fmax": 20.0 + depth if depth < 8 else None,
                  "error": None if depth < 8 else "TRELLIS_COMB 30000/24288 (123%) -- nextpnr: ERROR: x"}
        return {"parameters": config.parameters(), "macs": config.lanes, "build_dir": str(build_dir),
                "targets": {"ecp5": {"total": {"LUT4": 100, "flip-flops": 10, "DSP": 1},
                                     "per_mac": {"LUT4": 100 / config.lanes}, "cells": {}}},
                "fmax": {"axis_width": 64, "ecp5": placed}}

    monkeypatch.setattr(report, "measure", fake_measure)
    out = tmp_path / "report"
    assert main(["report", *BASE_ARGS, "--sweep", "pipeline", "--fmax-lanes", "2", "--target", "ecp5",
                 "-o", str(out), "-j", "1"]) == 0
    assert [(targets, fmax) for _, targets, fmax in calls] == [(("ecp5",), True)] * len(report.PIPELINES)
    text = (out / "report.md").read_text()
    assert "| 0/0/0/0/1/0/0/0 | 2 | 8 | " in text and " | 25k | 20.0 |" in text
    assert " | 25k | does not fit |" in text  # 0/1/0/0/1/1/4/8: 14 registers
    assert (out / "fmax_vs_pipeline.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize("argv,message", [
    (["--sweep", "lanes,area"], "Sweep must be a comma-separated list out of lanes, block, tile, formats, "
                                "pipeline, not 'lanes,area'"),
    (["--lanes-values", "4,x"], "Lanes values must be a comma-separated list of positive integers, not '4,x'"),
    (["--lanes-values", "5,7"], "Lanes values must include a divisor of the block size 32, not 5,7"),
    (["--at-lanes", "3"], "Lanes must divide the block size 32"),
    (["--jobs", "0"], "Jobs must be a positive integer, not 0"),
    (["--target", "fpga"], "Target must be a comma-separated list out of generic, cmos, ice40, ecp5, not 'fpga'"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(argv, message, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("mxdpu report: error: ")
    assert not out.exists()
