"""`mxdpu bench`: a short run prints one row per preset; bad numbers exit 2."""

import re

from mxdpu.scripts.cli import main


def test_bench_prints_steps_per_second_for_dpu_and_tile4x4(capsys):
    assert main(["bench", "--steps", "40", "--single-steps", "4", "--chain", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[2:]}
    assert sorted(rows) == ["dpu", "tile4x4"]
    for line in rows.values():
        assert re.fullmatch(r"\S+ +\d+x\d+ k\d+ +[\d,]+ +[\d,]+ +[\d,]+", line), line


def test_bench_one_preset(capsys):
    assert main(["bench", "--preset", "tile2x2", "--steps", "10", "--single-steps", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[2:]] == ["tile2x2"]


def test_bench_refuses_zero_steps(capsys):
    assert main(["bench", "--steps", "0"]) == 2
    assert capsys.readouterr().err == "mxdpu bench: error: --steps must be at least 1, not 0\n"


def test_bench_refuses_negative_seed(capsys):
    assert main(["bench", "--seed", "-1"]) == 2
    assert capsys.readouterr().err == "mxdpu bench: error: --seed must be at least 0, not -1\n"
