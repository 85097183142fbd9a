"""`mxdpu regress`: the bit-exact cocotb regression of the generated Verilog on Icarus and Verilator.

Prints a summary table (configuration × simulator × test: steps, results, mismatches, simulated
steps per second, accepted steps per cycle); exit status 1 on any mismatch, naming the test, its
seed and the first mismatching result, with the command that reruns it.
"""

import sys
import xml.etree.ElementTree as ET

from mxdpu.hw.config import MODE_CODES, PRESETS, REQUIRED_FORMATS, Config
from mxdpu.scripts.errors import UsageError
from mxdpu.scripts.options import add_config_arguments, config_from_args, output_file
from mxdpu.sim.regress import failures, plan, run_regression, shard, summary_table
from mxdpu.sim.runner import SIMULATORS
from mxdpu.verif.stimulus import NEEDS, SETS, missing_modes

#: Formats of the mode builds: every format blackwell takes (SPEC §6), so all of MMA-Sim's
#: answers of their block size run.
_MODE_FORMATS = REQUIRED_FORMATS + ("e3m2", "e2m3", "e2m1")
#: What `--full` adds to the presets: the dpu with HiFloat8, where the HiF8 sets run; a 1×1 and a
#: 2×2 with every accumulation mode, where the mode sets run.
FULL_EXTRA = {
    "dpu_hif8": PRESETS["dpu"].replace(formats=REQUIRED_FORMATS + ("hif8",)),
    "dpu_modes": PRESETS["dpu"].replace(modes=tuple(MODE_CODES), formats=_MODE_FORMATS),
    "tile2x2_modes": PRESETS["tile2x2"].replace(modes=tuple(MODE_CODES), formats=_MODE_FORMATS),
}

def add_arguments(parser):
    parser.add_argument("--sim", default=",".join(SIMULATORS),
                        help="comma-separated simulators: icarus, verilator (default: %(default)s)")
    add_config_arguments(parser, default_preset=None)
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--quick", dest="level", action="store_const", const="quick",
                       help="a slice of every stimulus set, a few minutes (make demo)")
    level.add_argument("--full", dest="level", action="store_const", const="full",
                       help="every stimulus set whole, on every preset, dpu_hif8, dpu_modes and "
                            "tile2x2_modes unless a configuration is given")
    parser.set_defaults(level="standard")
    parser.add_argument("--test", help=f"comma-separated stimulus sets (default: all of "
                                       f"{', '.join(SETS)})")
    parser.add_argument("--seed", type=int, default=1, help="regression seed (default: %(default)s)")
    parser.add_argument("--waves", action="store_true", help="record FST waves in each run directory")
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--shard", metavar="I/N", help="run only shard I of N (1 <= I <= N)")
    parser.add_argument("--flip-result", metavar="N:BIT",
                        help="invert BIT of received result N in every test: a deliberately broken "
                             "design, which must fail")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _list(text, allowed, what):
    items = [item.strip() for item in text.split(",") if item.strip()]
    wrong = [item for item in items if item not in allowed]
    if wrong or not items:
        raise UsageError(f"{what} must be a comma-separated list of {', '.join(allowed)}, not {text!r}")
    return items


def _pair(text, separator, option, what):
    try:
        first, second = (int(part) for part in text.split(separator))
    except ValueError:
        raise UsageError(f"{option} must be {what}, not {text!r}") from None
    return first, second


def configurations(args):
    """{name: Config} chosen by the options: --full with no configuration option means every
    preset and FULL_EXTRA."""
    explicit = any(getattr(args, name) is not None for name in Config.parameter_names())
    if args.preset is None and args.level == "full" and not explicit:
        return {**PRESETS, **FULL_EXTRA}
    if args.preset is None:
        args.preset = "dpu"
    config = config_from_args(args)
    name = next((name for name, known in {**PRESETS, **FULL_EXTRA}.items() if known == config), "custom")
    return {name: config}


def run(args):
    sims = _list(args.sim, SIMULATORS, "Simulator")
    if args.junit:
        output_file(args.junit, "--junit")
    tests = _list(args.test, tuple(SETS), "Test") if args.test else None
    configs = configurations(args)
    for test in tests or ():
        for name, config in configs.items():
            missing = [f for f in NEEDS.get(test, ()) if f not in config.formats]
            if missing:
                raise UsageError(f"Test {test} needs formats {','.join(missing)}, which {name} does not "
                                 f"enable (add them to --formats)")
            lacking = missing_modes(test, config)
            if lacking:
                raise UsageError(f"Test {test} needs {lacking}, which {name} does not build (see --modes)")
    jobs = plan(configs, sims, args.level, args.seed, tests)
    if args.shard:
        index, count = _pair(args.shard, "/", "Shard", "I/N with 1 <= I <= N")
        if not 1 <= index <= count:
            raise UsageError(f"Shard must be I/N with 1 <= I <= N, not {args.shard!r}")
        jobs = shard(jobs, index, count)
    flip = _pair(args.flip_result, ":", "Flip result", "N:BIT with two non-negative integers") \
        if args.flip_result else None
    if flip is not None and min(flip) < 0:
        raise UsageError(f"Flip result must be N:BIT with two non-negative integers, not {args.flip_result!r}")
    try:
        summaries = run_regression(jobs, waves=args.waves, flip=flip, progress=not args.no_progress)
    except RuntimeError as error:  # a simulator build that failed: one line, like a missing tool
        raise UsageError(str(error)) from None
    print(summary_table(summaries))
    if args.junit:
        write_junit(args.junit, summaries)
    failed = failures(summaries)
    for line in failed:
        print(f"FAIL {line}", file=sys.stderr)
    passed = len(summaries) - len(failed)
    print(f"{passed} of {len(summaries)} tests passed", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def write_junit(path, summaries):
    suite = ET.Element("testsuite", name="mxdpu regress", tests=str(len(summaries)),
                       failures=str(sum(not s["passed"] for s in summaries)))
    for s in summaries:
        case = ET.SubElement(suite, "testcase", classname=f"{s['config']}.{s['sim']}", name=s["test"],
                             time=f"{s.get('wall_seconds', 0.0):.3f}")
        if not s["passed"]:
            ET.SubElement(case, "failure", message=s["failure"]).text = s["rerun"]
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
