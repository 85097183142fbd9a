"""`mxdpu generate`: the Verilog of one configuration and its manifest (SPEC §4)."""

from mxdpu.hw.axis import check_data_width
from mxdpu.sim.axis_export import export_axis_verilog
from mxdpu.sim.export import check_top_name, export_verilog

from .errors import UsageError
from .options import add_config_arguments, config_from_args, output_dir
from .fusesoc import write_core


def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--top", default="mxdpu", help="Verilog module name (default: %(default)s)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory for <top>.v, <top>.json and the FuseSoC core <top>.core")
    parser.add_argument("--axis", action="store_true",
                        help="also write the AXI4-Stream FPGA top <top>_axis.v, .json and .core")
    parser.add_argument("--axis-width", type=int, default=64, metavar="BITS",
                        help="TDATA width of the AXI4-Stream top, a multiple of 8 (default: %(default)s)")


def run(args):
    config = config_from_args(args)
    if args.axis:
        check_data_width(args.axis_width)  # refused before anything is written
    check_top_name(args.top)  # refused before anything is written
    output_dir(args.output, "--output")  # before the design is built
    try:
        verilog_path, manifest_path = export_verilog(config, args.output, args.top)
        core_path = write_core(verilog_path, manifest_path)
        print(f"wrote {verilog_path}, {manifest_path} and {core_path} (latency {config.latency}, "
              f"acc_latency {config.acc_latency}, cycles_per_step {config.cycles_per_step})")
        if args.axis:
            paths = export_axis_verilog(config, args.output, f"{args.top}_axis", args.axis_width)
            print(f"wrote {paths[0]}, {paths[1]} and {write_core(*paths)} (AXI4-Stream top, "
                  f"{args.axis_width}-bit TDATA)")
    except OSError as e:  # -o under a file, or an existing file: one line, not a traceback
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    return 0
