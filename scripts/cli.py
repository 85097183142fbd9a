"""The `mxdpu` command: argparse verbs, each in its own module with `add_arguments` and `run`.

Errors a user can cause (bad parameters, malformed files, missing tools) end in one line on
standard error and exit status 2, never a traceback.
"""

import argparse
import importlib
import re
import sys

from mxdpu.hw.config import ConfigError

from .errors import UsageError

__all__ = ["main"]

#: verb -> (module, one-line help)
VERBS = {
    "golden": ("mxdpu.scripts.golden", "compute or check known answers with the golden model"),
    "bench": ("mxdpu.scripts.bench", "measure golden-model throughput in steps per second"),
    "generate": ("mxdpu.scripts.generate", "write the Verilog of a configuration and its JSON manifest"),
    "regress": ("mxdpu.scripts.regress", "bit-exact cocotb regression of the Verilog on Icarus and Verilator"),
    "synth": ("mxdpu.scripts.synth", "area by target and stage with Yosys, Fmax with nextpnr"),
    "report": ("mxdpu.scripts.report", "sweep configurations through synthesis into a Markdown report with plots"),
    "crosscheck": ("mxdpu.scripts.crosscheck", "vendor accumulation modes of the golden model against MMA-Sim"),
    "fidelity": ("mxdpu.scripts.fidelity", "dot-product error of each accumulation mode against K, table and plot"),
    "quant-error": ("mxdpu.scripts.quant_error", "quantisation error of HiF8 against MXFP8 with UE8M0 scales"),
    "formal": ("mxdpu.scripts.formal", "prove Accumulate's fast stages equal to their references with Yosys"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming the option, the value and what is allowed
    (not the whole usage block), exit status 2 like every other user error."""

    _TYPES = {"int": "an integer", "float": "a number"}

    def error(self, message):
        match = re.fullmatch(r"(argument \S+): invalid (int|float) value: (.*)", message)
        if match:
            message = f"{match[1]}: must be {self._TYPES[match[2]]}, not {match[3]}"
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = OneLineParser(
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
    sys.exit(main())
