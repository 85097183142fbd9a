"""verif/kat.py: reading, writing and refusing known-answer lines; the public known answers."""

import io
import json
from pathlib import Path

import pytest

from mxdpu.hw.config import Config
from mxdpu.verif.golden import GoldenTile
from mxdpu.verif.kat import PUBLIC_KAT, KatError, case_steps, format_case, parse_case, read_kat, write_kat

#: The project's shared folder, where the known answers come from (beside the clone, if at all).
SHARED_KAT = Path(__file__).resolve().parents[2] / ".." / "shared" / "kat"


def test_public_known_answers_through_golden_tile():
    cases = read_kat(PUBLIC_KAT)
    assert len(cases) == 30             # verif/kat/k32_public.jsonl, 30 lines
    for case in cases:
        result = GoldenTile(Config(block=case["k"], lanes=case["k"], depth=1)).run(case_steps(case))
        assert len(result) == 1, case["name"]
        assert (result[0]["d"][0][0], result[0]["flags"][0][0]) == (case["d"], case["flags"]), case["name"]


def _line(**changes):
    case = {"name": "x", "k": 16, "steps": [{"a_format": 0, "b_format": 1, "a": [0] * 16, "b": [0] * 16,
                                             "a_scale": 127, "b_scale": 127}], "d": "0x00000000", "flags": 0}
    for key, value in changes.items():
        if key in case["steps"][0]:
            case["steps"][0][key] = value
        elif value is None:
            del case[key]
        else:
            case[key] = value
    return json.dumps(case)


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 7: not valid JSON"),
    ("[1, 2]", "line 7: a case must be a JSON object, not list"),
    (_line(k=None), "line 7: missing key 'k'"),
    (_line(k=24), "line 7: k must be one of 16, 32, 64, 128, not 24"),
    (_line(steps=[]), "line 7: steps must be a non-empty list"),
    (_line(a=[0] * 15), "line 7: step 0: a must be a list of k=16 element codes, not 15"),
    (_line(b=[0] * 15 + [256]), r"line 7: step 0: b\[15\] must be an integer 0..255, not 256"),
    (_line(a_format=7), "line 7: step 0: a_format \\(a format code\\) must be an integer 0..6, not 7"),
    (_line(b_scale=-1), "line 7: step 0: b_scale must be an integer 0..255, not -1"),
    (_line(d="3f800000"), "line 7: d must be binary32 bits as a hex string"),
    (_line(d="0xfffffffff"), "line 7: d must be binary32 bits"),
    (_line(flags=16), "line 7: flags must be an integer 0..15, not 16"),
])
def test_malformed_line_names_line_and_defect(line, message):
    with pytest.raises(KatError, match=message):
        parse_case(line, 7)


def test_missing_step_key_is_named():
    case = json.loads(_line())
    del case["steps"][0]["b_scale"]
    with pytest.raises(KatError, match="line 3: step 0: missing key 'b_scale'"):
        parse_case(json.dumps(case), 3)


def test_write_then_read_round_trips_and_d_flags_may_be_absent(tmp_path):
    cases = read_kat(PUBLIC_KAT)
    stripped = [{key: value for key, value in case.items() if key not in ("d", "flags")} for case in cases]
    buffer = io.StringIO()
    write_kat(cases[:3] + stripped[3:], buffer)
    path = tmp_path / "out.jsonl"
    path.write_text(buffer.getvalue())
    again = read_kat(path)
    assert again[:3] == cases[:3] and again[3:] == stripped[3:]
    assert format_case(cases[0]).count('"d": "0x3f800000"') == 1


@pytest.mark.skipif(not SHARED_KAT.is_dir(), reason="no shared/kat beside this clone to compare with")
def test_shipped_known_answers_equal_the_shared_ones():
    shared = sorted(p.name for p in SHARED_KAT.glob("*.jsonl"))
    assert "k32_public.jsonl" in shared
    for name in shared:  # the project ships every shared answer file unchanged (and adds its own)
        assert (PUBLIC_KAT.parent / name).read_bytes() == (SHARED_KAT / name).read_bytes(), name


def test_hif8_known_answers_match_fraction_reference_and_golden_model():
    """verif/kat/k32_hif8.jsonl (format code 6): every answer equals the Fraction reference's,
    step after step on one slot with sticky flags, and the golden model's."""
    from mxdpu.scripts.golden import compute
    from mxdpu.verif.kat import HIF8_KAT
    from tests.verif.exact_reference import reference_step

    enabled = ("e4m3", "e5m2", "hif8")
    cases = read_kat(HIF8_KAT)
    assert len(cases) == 25             # verif/kat/k32_hif8.jsonl, 25 lines
    for case, golden in zip(cases, compute(cases, enabled), strict=True):
        d, flags = 0, 0
        for s in case["steps"]:
            d, step_flags = reference_step(s["a_format"], s["b_format"], s["a"], s["b"], s["a_scale"],
                                           s["b_scale"], d, enabled)
            flags |= step_flags
        assert (case["d"], case["flags"]) == (d, flags) == golden, case["name"]
    assert any(6 in (s["a_format"], s["b_format"]) for case in cases for s in case["steps"])


@pytest.mark.parametrize("mode", ["turbo", 1, None])
def test_unknown_mode_names_line_and_allowed_modes(mode):
    case = json.loads(_line())
    case["steps"][0]["mode"] = mode
    with pytest.raises(KatError, match=f"line 4: step 0: mode must be one of exact, blackwell, hopper, not {mode!r}"):
        parse_case(json.dumps(case), 4)


def test_mode_key_round_trips_and_reaches_the_step():
    case = json.loads(_line())
    case["steps"][0]["mode"] = "hopper"
    parsed = parse_case(json.dumps(case), 1)
    assert parsed["steps"][0]["mode"] == "hopper"
    assert parse_case(format_case(parsed), 1) == parsed
    assert case_steps(parsed)[0]["mode"] == 2
    assert case_steps(parse_case(_line(), 1))[0]["mode"] == 0      # absent: exact
