"""Known-answer files (JSON lines, format in verif/kat/README.md): read, check, write.

A case is a dict: name, k, steps (each a_format, b_format, a, b, a_scale, b_scale, and optionally
mode: "exact", "blackwell" or "hopper", SPEC §6) and optionally d (binary32 bits, an int here,
"0x%08x" in the file) and flags. `case_steps` turns a case into
the step dicts of a 1 × 1 tile (`Config.pack_step` / `GoldenTile.step` keywords).
"""

import json
from pathlib import Path

from mxdpu.hw.config import BLOCK_SIZES

from .formats import FORMATS
from .modes import EXACT, MODE_CODES, MODES

__all__ = ["PUBLIC_KAT", "HIF8_KAT", "MMASIM_KAT", "KatError", "read_kat", "parse_case", "write_kat",
           "format_case", "case_steps"]

#: The public known answers, shipped with the package (a copy of the project's shared/kat/).
PUBLIC_KAT = Path(__file__).resolve().parent / "kat" / "k32_public.jsonl"
#: The project's own HiF8 known answers (answers from the golden model, checked against a
#: Fraction reference in the tests).
HIF8_KAT = PUBLIC_KAT.parent / "k32_hif8.jsonl"
#: Known answers of the vendor modes (SPEC §6) whose `d` is MMA-Sim's, written by `mxdpu crosscheck`
#: (no flags: mmasim computes none). They enable every format up to FP4.
MMASIM_KAT = Path(__file__).resolve().parent / "vectors" / "mmasim_modes.jsonl"

_STEP_KEYS = ("a_format", "b_format", "a", "b", "a_scale", "b_scale")


class KatError(ValueError):
    """A malformed known-answer line; the message names the line and what is wrong."""


def _int(value, low, high, what):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer {low}..{high}, not {value!r}")
    return value


def _check_case(case):
    if not isinstance(case, dict):
        raise ValueError(f"a case must be a JSON object, not {type(case).__name__}")
    for key in ("name", "k", "steps"):
        if key not in case:
            raise ValueError(f"missing key {key!r}")
    if not isinstance(case["name"], str):
        raise ValueError(f"name must be a string, not {case['name']!r}")
    k = case["k"]
    if not isinstance(k, int) or isinstance(k, bool) or k not in BLOCK_SIZES:
        raise ValueError(f"k must be one of {', '.join(map(str, BLOCK_SIZES))}, not {k!r}")
    steps = case["steps"]
    if not isinstance(steps, list) or not steps:
        raise ValueError("steps must be a non-empty list")
    checked = []
    for number, step in enumerate(steps):
        where = f"step {number}"
        if not isinstance(step, dict):
            raise ValueError(f"{where} must be a JSON object")
        for key in _STEP_KEYS:
            if key not in step:
                raise ValueError(f"{where}: missing key {key!r}")
        out = {}
        for key in ("a_format", "b_format"):
            out[key] = _int(step[key], 0, max(FORMATS), f"{where}: {key} (a format code)")
        for key in ("a_scale", "b_scale"):
            out[key] = _int(step[key], 0, 255, f"{where}: {key}")
        for key in ("a", "b"):
            codes = step[key]
            if not isinstance(codes, list) or len(codes) != k:
                got = len(codes) if isinstance(codes, list) else repr(codes)
                raise ValueError(f"{where}: {key} must be a list of k={k} element codes, not {got}")
            out[key] = [_int(c, 0, 255, f"{where}: {key}[{i}]") for i, c in enumerate(codes)]
        if "mode" in step:
            if not isinstance(step["mode"], str) or step["mode"] not in MODE_CODES:
                raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, not {step['mode']!r}")
            out["mode"] = step["mode"]
        checked.append(out)
    result = {"name": case["name"], "k": k, "steps": checked}
    if "d" in case:
        d = case["d"]
        try:
            result["d"] = int(d, 16) if isinstance(d, str) and d.lower().startswith("0x") else None
        except ValueError:
            result["d"] = None
        if result["d"] is None or not 0 <= result["d"] <= 0xFFFFFFFF:
            raise ValueError(f"d must be binary32 bits as a hex string like \"0x3f800000\", not {d!r}")
    if "flags" in case:
        result["flags"] = _int(case["flags"], 0, 15, "flags")
    return result


def parse_case(line, line_number=None):
    """One case from one JSON line; KatError naming the line number on any defect."""
    prefix = f"line {line_number}: " if line_number is not None else ""
    try:
        case = json.loads(line)
    except json.JSONDecodeError as error:
        raise KatError(f"{prefix}not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise KatError(f"{prefix}not valid JSON (nested too deeply)") from None
    try:
        return _check_case(case)
    except ValueError as error:
        raise KatError(f"{prefix}{error}") from None


def read_kat(path):
    """All cases of a known-answer file (blank lines skipped). OSError if it cannot be read."""
    cases = []
    with open(path, "rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise KatError(f"line {number}: not UTF-8 text") from None
            if line.strip():
                cases.append(parse_case(line, number))
    return cases


def format_case(case):
    """One JSON line for a case, `d` as "0x%08x" when present."""
    out = {"name": case["name"], "k": case["k"], "steps": case["steps"]}
    if case.get("d") is not None:
        out["d"] = f"0x{case['d']:08x}"
    if case.get("flags") is not None:
        out["flags"] = case["flags"]
    return json.dumps(out)


def write_kat(cases, file):
    """Write cases to an open text file, one JSON line each."""
    for case in cases:
        file.write(format_case(case) + "\n")


def case_steps(case):
    """The case as step dicts for a 1 × 1 tile on slot 0: first on the first step, last on the last."""
    steps = case["steps"]
    return [dict(a=[s["a"]], a_scale=[s["a_scale"]], b=[s["b"]], b_scale=[s["b_scale"]],
                 a_format=s["a_format"], b_format=s["b_format"], slot=0,
                 first=int(n == 0), last=int(n == len(steps) - 1), mode=MODE_CODES.get(s.get("mode"), EXACT))
            for n, s in enumerate(steps)]
