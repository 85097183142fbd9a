"""verif/kat.py: reading, writing and refusing known-answer lines; the public known answers."""

import io
from pathlib import Path

import pytest

from hw.config import Config
from verif.golden import GoldenTile
from verif.kat import KatError, case_steps, format_case, parse_case, read_kat, write_kat

KAT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "kat"
PUBLIC = KAT_DIR / "k32_public.jsonl"


def test_public_known_answers_through_golden_tile():
    cases = read_kat(PUBLIC)
    checked = 0
    for case in cases:
        result = GoldenTile(Config(depth=1)).run(case_steps(case))
        assert len(result) == 1, case["name"]
        assert (result[0]["d"][0][0], result[0]["flags"][0][0]) == (case["d"], case["flags"]), case["name"]
        checked += 1
    assert checked == len(cases) > 0
