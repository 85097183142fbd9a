"""`mxdpu golden`: check, write, and refuse bad input (through scripts.cli.main)."""

import json
import struct

import pytest

from mxdpu.scripts.cli import main
from mxdpu.verif.kat import PUBLIC_KAT


def test_check_passes_on_public_known_answers(capsys):
    assert main(["golden", "--check", str(PUBLIC_KAT)]) == 0
    lines = PUBLIC_KAT.read_text().splitlines()
    assert capsys.readouterr().out == f"{len(lines)} cases, 0 mismatches\n"


def _tampered(tmp_path, name="e4m3_max_squared", d=None, flags=None):
    """The public file with one case's expected d/flags changed."""
    out = []
    for line in PUBLIC_KAT.read_text().splitlines():
        case = json.loads(line)
        if case["name"] == name:
            case["d"] = d if d is not None else case["d"]
            case["flags"] = flags if flags is not None else case["flags"]
        out.append(json.dumps(case))
    path = tmp_path / "tampered.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path, len(out)


def test_check_of_tampered_file_exits_1_with_summary_and_mismatch(tmp_path, capsys):
    path, count = _tampered(tmp_path, d="0x48440001")
    assert main(["golden", "--check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{count} cases, 1 mismatches"
    assert out[1] == "  e4m3_max_squared: expected d=0x48440001 flags=0, got d=0x48440000 flags=0"
    assert len(out) == 2


def test_check_of_tampered_flags_exits_1(tmp_path, capsys):
    path, count = _tampered(tmp_path, name="scales_max_max_overflow", flags=2)
    assert main(["golden", "--check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"{count} cases, 1 mismatches"


def test_output_file_holds_computed_answers_and_checks_clean(tmp_path, capsys):
    stripped = tmp_path / "in.jsonl"
    cases = [json.loads(line) for line in PUBLIC_KAT.read_text().splitlines()]
    stripped.write_text("".join(json.dumps({k: v for k, v in c.items() if k not in ("d", "flags")}) + "\n"
                                for c in cases))
    out = tmp_path / "out.jsonl"
    assert main(["golden", str(stripped), "-o", str(out)]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(c["name"], c["d"], c["flags"]) for c in written] == [(c["name"], c["d"], c["flags"]) for c in cases]
    assert main(["golden", "--check", str(out)]) == 0
    assert capsys.readouterr().out == f"{len(cases)} cases, 0 mismatches\n"


def test_default_output_is_stdout(capsys):
    assert main(["golden", str(PUBLIC_KAT)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(line) for line in PUBLIC_KAT.read_text().splitlines()]


def test_enabling_a_format_changes_the_not_enabled_case(capsys):
    assert main(["golden", "--check", "--formats", "e4m3,e5m2,e3m2", str(PUBLIC_KAT)]) == 1
    assert "format_not_enabled: expected d=0x7fc00000 flags=1" in capsys.readouterr().out


@pytest.mark.parametrize("text, line, message", [
    ('{"name": "a", "k": 32, "steps": []}\n', 2, "steps must be a non-empty list"),
    ("\n{broken\n", 3, "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ('{"name": "a", "k": 32.0, "steps": []}\n', 2, "k must be one of 16, 32, 64, 128, not 32.0"),
    ("[" * 100000 + "\n", 2, "not valid JSON (nested too deeply)"),
])
def test_malformed_line_exits_2_with_line_number(tmp_path, capsys, text, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(PUBLIC_KAT.read_text().splitlines()[0] + "\n" + text)
    assert main(["golden", "--check", str(path)]) == 2
    assert capsys.readouterr().err == f"mxdpu golden: error: {path}: line {line}: {message}\n"


def test_non_utf8_file_exits_2_naming_the_line(tmp_path, capsys):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(PUBLIC_KAT.read_bytes().splitlines(True)[0] + b'{"name": "caf\xe9"}\n')
    assert main(["golden", "--check", str(path)]) == 2
    assert capsys.readouterr().err == f"mxdpu golden: error: {path}: line 2: not UTF-8 text\n"


def test_missing_file_exits_2_in_one_line(tmp_path, error_line):
    missing = tmp_path / "nope.jsonl"
    assert main(["golden", str(missing)]) == 2
    assert error_line().startswith(f"mxdpu golden: error: cannot read {missing}")


def test_unknown_format_exits_2(capsys):
    assert main(["golden", "--formats", "e4m3,fp16", str(PUBLIC_KAT)]) == 2
    assert "Format must be one of" in capsys.readouterr().err


def test_check_without_expected_values_exits_2(tmp_path, capsys):
    case = json.loads(PUBLIC_KAT.read_text().splitlines()[0])
    del case["d"], case["flags"]
    path = tmp_path / "bare.jsonl"
    path.write_text(json.dumps(case) + "\n")
    assert main(["golden", "--check", str(path)]) == 2
    assert "case 1 (one_times_one) has no d or flags to check" in capsys.readouterr().err


def test_cases_of_several_block_sizes_keep_their_order(tmp_path):
    """Cases run grouped by k; each answer must land on its own line: k ones squared sum to k."""
    path, out = tmp_path / "mixed.jsonl", tmp_path / "out.jsonl"
    lines = []
    for n, k in enumerate((16, 64, 16, 128, 32)):
        ones = [0x38] * k
        lines.append(json.dumps({"name": f"ones_{n}", "k": k, "steps": [
            {"a_format": 0, "b_format": 0, "a": ones, "b": ones, "a_scale": 127, "b_scale": 127}] * (n + 1)}))
    path.write_text("\n".join(lines) + "\n")
    assert main(["golden", str(path), "-o", str(out)]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [struct.unpack("<I", struct.pack("<f", float(k * (n + 1))))[0]
                for n, k in enumerate((16, 64, 16, 128, 32))]
    assert [(c["name"], int(c["d"], 16), c["flags"]) for c in written] == \
        [(f"ones_{n}", d, 0) for n, d in enumerate(expected)]


def test_empty_file_exits_2(tmp_path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    assert main(["golden", "--check", str(path)]) == 2
    assert capsys.readouterr().err == f"mxdpu golden: error: {path}: no cases\n"


def test_check_passes_the_hif8_known_answers_with_hif8_enabled(capsys):
    from mxdpu.verif.kat import HIF8_KAT
    assert main(["golden", "--check", str(HIF8_KAT), "--formats", "e4m3,e5m2,hif8"]) == 0
    assert capsys.readouterr().out.startswith("25 cases, 0 mismatches")
    assert main(["golden", "--check", str(HIF8_KAT)]) == 1     # without hif8: NaN with invalid


def test_check_passes_on_mmasim_vendor_mode_answers(capsys):
    from mxdpu.verif.kat import MMASIM_KAT
    assert main(["golden", "--check", str(MMASIM_KAT), "--formats", "e4m3,e5m2,e3m2,e2m3,e2m1"]) == 0
    count = len(MMASIM_KAT.read_text().splitlines())
    assert capsys.readouterr().out == f"{count} cases, 0 mismatches\n"


def test_unknown_mode_in_file_is_one_line_and_exit_2(tmp_path, capsys):
    case = json.loads(PUBLIC_KAT.read_text().splitlines()[0])
    case["steps"][0]["mode"] = "ampere"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(case) + "\n")
    assert main(["golden", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"mxdpu golden: error: {path}: line 1: step 0: mode must be one of exact, blackwell, "
                   f"hopper, not 'ampere'\n")
