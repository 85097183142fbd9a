"""`mxdpu golden FILE.jsonl [-o OUT] [--check]`: known answers through the golden model.

Without --check, writes every case with the model's `d` and `flags` (stdout or OUT). With --check,
compares them against the file's own `d` and `flags` and exits 1 on any mismatch.
"""

import sys

from mxdpu.hw.config import MODE_CODES, REQUIRED_FORMATS, Config
from mxdpu.scripts.errors import UsageError
from mxdpu.verif.golden import GoldenTile
from mxdpu.verif.kat import KatError, case_steps, read_kat, write_kat

#: Mismatches printed in full by --check.
SHOWN_MISMATCHES = 5


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE.jsonl", help="known-answer cases, one JSON object a line")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the cases with computed d and flags here (default: stdout)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the file's d and flags; exit 1 on any mismatch")
    parser.add_argument("--formats", default=",".join(REQUIRED_FORMATS),
                        help="comma-separated enabled element formats (default: %(default)s)")


def compute(cases, formats):
    """[(d, flags)] of the cases, each on a 1 × 1 tile with k = case['k'], the enabled formats and
    every accumulation mode (each step runs in its own `mode`).

    The cases with one k run as one stream on one slot: each case starts with `first`, so none
    sees another's accumulator.
    """
    answers = [None] * len(cases)
    for k in sorted({case["k"] for case in cases}):
        numbers = [n for n, case in enumerate(cases) if case["k"] == k]
        tile = GoldenTile(Config(block=k, lanes=k, depth=1, formats=formats, modes=tuple(MODE_CODES)))
        results = tile.run(step for n in numbers for step in case_steps(cases[n]))
        for n, result in zip(numbers, results, strict=True):
            answers[n] = result["d"][0][0], result["flags"][0][0]
    return answers


def run(args):
    try:
        cases = read_kat(args.file)
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror or error}") from None
    except KatError as error:
        raise UsageError(f"{args.file}: {error}") from None
    if not cases:
        raise UsageError(f"{args.file}: no cases")
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    computed = compute(cases, formats)

    if args.check:
        mismatches = []
        for number, (case, (d, flags)) in enumerate(zip(cases, computed), 1):
            if "d" not in case and "flags" not in case:
                raise UsageError(f"{args.file}: case {number} ({case['name']}) has no d or flags to check")
            if case.get("d", d) != d or case.get("flags", flags) != flags:
                mismatches.append((case, d, flags))
        print(f"{len(cases)} cases, {len(mismatches)} mismatches")
        for case, d, flags in mismatches[:SHOWN_MISMATCHES]:
            expected = f"d={case['d']:#010x}" if "d" in case else "d=?"
            print(f"  {case['name']}: expected {expected} flags={case.get('flags', '?')}, "
                  f"got d={d:#010x} flags={flags}")
        return 1 if mismatches else 0

    out_cases = [dict(case, d=d, flags=flags) for case, (d, flags) in zip(cases, computed)]
    if args.output is None:
        write_kat(out_cases, sys.stdout)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            write_kat(out_cases, file)
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    return 0
