"""Command-line options shared by the verbs: a preset and its overrides; output paths checked
before any work starts."""

import tempfile
from pathlib import Path

from mxdpu.hw.config import ACC_STAGES, PIPE_TREE, PREP_STAGES, PRESETS, SUM_SLICES, Config, preset

from .errors import UsageError

__all__ = ["add_config_arguments", "config_from_args", "output_file", "output_dir"]


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
    group.add_argument("--modes", help="comma-separated accumulation modes built, of "
                                       "exact,blackwell,hopper (default: the preset's)")
    for name, help_text in (("pipe_unpack", "register after the operand decode, 0 or 1; 2: "
                                            "also one before it"),
                            ("pipe_multiply", "register after the products, 0 or 1; 2: one "
                                              "on the product, one after its first shift and "
                                              "negation; 3: also one "
                                              "after their first adds"),
                            ("pipe_place", "register after the products are placed on the grid, "
                                           "0 or 1"),
                            ("pipe_sum", "register after the block sum, 0 or 1")):
        group.add_argument("--" + name.replace("_", "-"), type=int,
                           help=f"{help_text} (default: the preset's)")
    group.add_argument("--pipe-tree", type=int,
                       help=f"a register after every N-th level of the block-sum adder tree, "
                            f"{PIPE_TREE[0]} (none) to {PIPE_TREE[-1]} (default: the preset's)")
    group.add_argument("--sum-slices", type=int,
                       help=f"bit slices of the block sum, joined one a cycle, {SUM_SLICES[0]} to "
                            f"{SUM_SLICES[-1]} (default: the preset's)")
    group.add_argument("--prep-stages", type=int,
                       help=f"pipeline registers in the accumulator's prepare part, before the slot "
                            f"read, {PREP_STAGES[0]} to {PREP_STAGES[-1]} (default: the preset's)")
    group.add_argument("--acc-stages", type=int,
                       help=f"pipeline registers in the accumulation loop, {ACC_STAGES[0]} to "
                            f"{ACC_STAGES[-1]} (default: the preset's)")
    group.add_argument("--acc-share", type=int,
                       help="PEs per accumulator, 1 (none shared) to block/lanes, dividing "
                            "rows*cols; latency grows by N-1 (default: the preset's)")


def config_from_args(args):
    """The Config named by `add_config_arguments` options; ConfigError on bad values."""
    # every generator parameter has an option of the same name (formats and modes are lists)
    lists = ("formats", "modes")
    overrides = {name: getattr(args, name) for name in Config.parameter_names() if name not in lists}
    for name in lists:
        if getattr(args, name) is not None:
            overrides[name] = tuple(f.strip() for f in getattr(args, name).split(",") if f.strip())
    return preset(args.preset, **overrides)


def output_file(path, option):
    """Make sure a file the verb writes at the end can be written, before any work starts: its
    folder is created, the file opened once; a UsageError naming the option if that fails."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot create its folder: {error.strerror or error}") from None
    existed = path.exists()
    try:
        with open(path, "a"):  # a probe: opens as the final write will, changes nothing
            pass
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write the file: {error.strerror or error}") from None
    if not existed:
        path.unlink()
    return path


def output_dir(path, option):
    """Create a folder the verb writes into, before any work starts; a UsageError if it cannot."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot create the folder: {error.strerror or error}") from None
    try:
        with tempfile.TemporaryFile(dir=path):  # a probe: a file in the folder, removed again
            pass
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write into the folder: {error.strerror or error}") from None
    return path
