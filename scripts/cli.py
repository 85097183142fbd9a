"""The `mxdpu` command: argparse verbs, each in its own module with `add_arguments` and `run`.

Errors a user can cause (bad parameters, malformed files, missing tools) end in one line on
standard error and exit status 2, never a traceback.
"""

import argparse
import importlib
import sys

from mxdpu.hw.config import ACC_STAGES, PRESETS, ConfigError, preset

__all__ = ["main", "UsageError", "add_config_arguments", "config_from_args"]

#: verb -> (module, one-line help)
VERBS = {
    "golden": ("mxdpu.scripts.golden", "compute or check known answers with the golden model"),
    "bench": ("mxdpu.scripts.bench", "measure golden-model throughput in steps per second"),
    "generate": ("mxdpu.scripts.generate", "write the Verilog of a configuration and its JSON manifest"),
    "regress": ("mxdpu.scripts.regress", "bit-exact cocotb regression of the Verilog on Icarus and Verilator"),
    "synth": ("mxdpu.scripts.synth", "area by target and stage with Yosys, Fmax with nextpnr"),
    "report": ("mxdpu.scripts.report", "sweep configurations through synthesis into a Markdown report with plots"),
    "formal": ("mxdpu.scripts.formal", "prove Accumulate's fast stages equal to their references with Yosys"),
}


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def add_config_arguments(parser, default_preset="dpu"):
    """Options that choose a configuration: a preset, overridden by explicit parameters."""
    group = parser.add_argument_group("configuration")
    group.add_argument("--preset", default=default_preset, choices=sorted(PRESETS),
                       help="named configuration (default: %(default)s)")
    group.add_argument("--rows", type=int, help="PE rows R (default: the preset's)")
    group.add_argument("--cols", type=int, help="PE columns C (default: the preset's)")
    group.add_argument("--block", type=int, help="block size k: 16, 32, 64 or 128 (default: the preset's)")
    group.add_argument("--lanes", type=int, help="products per cycle per PE, divides k (default: the preset's)")
    group.add_argument("--depth", type=int, help="accumulator slots per PE (default: the preset's)")
    group.add_argument("--formats", help="comma-separated element formats; e4m3,e5m2 always "
                                         "included (default: the preset's)")
    for name, help_text in (("pipe_unpack", "register after the operand decode"),
                            ("pipe_multiply", "register after the products"),
                            ("pipe_sum", "register after the block sum")):
        group.add_argument("--" + name.replace("_", "-"), type=int,
                           help=f"{help_text}, 0 or 1 (default: the preset's)")
    group.add_argument("--acc-stages", type=int,
                       help=f"pipeline registers in the accumulator, {ACC_STAGES[0]} to "
                            f"{ACC_STAGES[-1]} (default: the preset's)")


def config_from_args(args):
    """The Config named by `add_config_arguments` options; ConfigError on bad values."""
    overrides = {name: getattr(args, name) for name in ("rows", "cols", "block", "lanes", "depth",
                                                        "pipe_unpack", "pipe_multiply", "pipe_sum",
                                                        "acc_stages")}
    if args.formats is not None:
        overrides["formats"] = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    return preset(args.preset, **overrides)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mxdpu", description="MX-FP8 dot-product unit: generator, golden model, regression, synthesis")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module_name, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        sub.set_defaults(module_name=module_name)
        importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = importlib.import_module(args.module_name).run(args)
    except (UsageError, ConfigError) as error:
        print(f"mxdpu {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mxdpu {args.verb}: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    # `python -m scripts.cli`: run the imported module's main, so that the verbs' UsageError is
    # the class main catches (this file would otherwise be loaded twice, as __main__ and scripts.cli)
    from mxdpu.scripts.cli import main as imported_main
    sys.exit(imported_main())
