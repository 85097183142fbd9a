"""`mxdpu generate`: the Verilog of one configuration and its manifest (SPEC §4)."""

from sim.export import export_verilog

from .cli import add_config_arguments, config_from_args


def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--top", default="mxdpu", help="Verilog module name (default: %(default)s)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory for <top>.v and <top>.json")


def run(args):
    config = config_from_args(args)
    verilog_path, manifest_path = export_verilog(config, args.output, args.top)
    print(f"wrote {verilog_path} and {manifest_path} (latency {config.latency}, "
          f"acc_latency {config.acc_latency}, cycles_per_step {config.cycles_per_step})")
    return 0
