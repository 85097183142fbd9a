"""Command-line options shared by the verbs that build hardware: a preset and its overrides."""

from mxdpu.hw.config import ACC_STAGES, PIPE_TREE, PIPELINE, PRESETS, SUM_SLICES, preset

__all__ = ["add_config_arguments", "config_from_args"]


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
                            ("pipe_place", "register after the products are placed on the grid"),
                            ("pipe_sum", "register after the block sum")):
        group.add_argument("--" + name.replace("_", "-"), type=int,
                           help=f"{help_text}, 0 or 1 (default: the preset's)")
    group.add_argument("--pipe-tree", type=int,
                       help=f"a register after every N-th level of the block-sum adder tree, "
                            f"{PIPE_TREE[0]} (none) to {PIPE_TREE[-1]} (default: the preset's)")
    group.add_argument("--sum-slices", type=int,
                       help=f"bit slices of the block sum, joined one a cycle, {SUM_SLICES[0]} to "
                            f"{SUM_SLICES[-1]} (default: the preset's)")
    group.add_argument("--acc-stages", type=int,
                       help=f"pipeline registers in the accumulator, {ACC_STAGES[0]} to "
                            f"{ACC_STAGES[-1]} (default: the preset's)")


def config_from_args(args):
    """The Config named by `add_config_arguments` options; ConfigError on bad values."""
    overrides = {name: getattr(args, name)
                 for name in ("rows", "cols", "block", "lanes", "depth", *PIPELINE)}
    if args.formats is not None:
        overrides["formats"] = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    return preset(args.preset, **overrides)
