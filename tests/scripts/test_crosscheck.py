"""`mxdpu crosscheck`: bad input, and a small run against mmasim where the crosscheck extra is installed."""

import pytest

from mxdpu.scripts.cli import main


@pytest.mark.parametrize("argv, given", [(["--chunks", "0"], "0, 400, 1"), (["--vector-cases", "-1"], "100000, -1, 1"),
                                         (["--seed", "-2"], "100000, 400, -2")])
def test_bad_counts_are_one_line_and_exit_2(argv, given, capsys):
    assert main(["crosscheck", *argv]) == 2
    assert capsys.readouterr().err == ("mxdpu crosscheck: error: --chunks must be at least 1, "
                                       f"--vector-cases and --seed at least 0, not {given}\n")


def test_small_run_matches_mmasim_and_writes_vectors(tmp_path, capsys):
    pytest.importorskip("mmasim", reason="the crosscheck extra is not installed (make crosscheck installs it)")
    out = tmp_path / "v.jsonl"
    assert main(["crosscheck", "--chunks", "200", "--vector-cases", "5", "--vectors", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("6380 chunks, 0 mismatches")
    assert "whole steps chained through mmasim: 5 cases, 0 mismatches" in lines
    assert len(out.read_text().splitlines()) == 5
