"""`mxdpu report`: sweep configurations through `mxdpu synth` into a Markdown report with PNG plots.

Sweeps start from a base configuration (the config options; default the `dpu` preset):
lanes (area per MAC against lanes), block (k), tile (rows × cols), formats (the two FP8 formats
against all six), pipeline (Fmax on ECP5 against the pipeline registers). A configuration that
several sweeps share is measured once. Everything lands in the output directory: `report.md`,
`results.json` (every figure), the plots, and each configuration's tool logs under `runs/`.
"""

import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from mxdpu.hw.config import (ACC_STAGES, FORMAT_CODES, PIPE_MULTIPLY, PIPE_UNPACK, PIPELINE,
                             PREP_STAGES)

from . import flow
from .errors import UsageError
from .options import add_config_arguments, config_from_args, output_dir
from .synth import STAGE_METRIC, config_slug, measure, parse_targets

__all__ = ["add_arguments", "run", "plan", "write_report"]

SWEEPS = ("lanes", "block", "tile", "formats", "pipeline")
#: pipeline settings of the pipeline sweep, in `PIPELINE` order (pipe_unpack, pipe_multiply,
#: pipe_place, pipe_tree, sum_slices, pipe_sum, prep_stages, acc_stages): none; the old default;
#: the first eight and four Accumulate registers; those with the front end's; and every register
#: (the count's tree and the shifts cut too, the registers before Unpack and inside Multiply: the
#: dpu preset's)
PIPELINES = [(0, 0, 0, 0, 1, 0, 0, 0), (0, 1, 0, 0, 1, 1, 0, 2), (0, 1, 0, 0, 1, 1, 4, 8),
             (1, 1, 1, 1, 3, 1, 4, 8),
             (PIPE_UNPACK[-1], PIPE_MULTIPLY[-1], 1, 1, 3, 1, PREP_STAGES[-1], ACC_STAGES[-1])]
PIPELINES_WIDE = PIPELINES + [(0, 1, 0, 0, 1, 1, 2, 4), (1, 1, 1, 2, 2, 1, 4, 8),
                              (1, 1, 1, 1, 4, 1, 4, 8)]
PIPELINE_FIELDS = PIPELINE


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UsageError(f"Lanes values must be a comma-separated list of positive integers, not {text!r}")
    return values


def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", default="build/report", metavar="DIR",
                        help="directory of the report (default: %(default)s)")
    parser.add_argument("--sweep", default=",".join(SWEEPS), metavar="LIST",
                        help="comma-separated sweeps out of %(default)s (default: all)")
    parser.add_argument("--lanes-values", default="2,4,8,16,32", metavar="LIST",
                        help="lanes of the lanes sweep; those that do not divide k are left out "
                             "(default: %(default)s)")
    parser.add_argument("--at-lanes", type=int, default=8, metavar="L",
                        help="lanes of the block, tile and formats sweeps (default: %(default)s)")
    parser.add_argument("--fmax-lanes", type=int, default=4, metavar="L",
                        help="lanes of the pipeline sweep, placed on ECP5 (default: %(default)s)")
    parser.add_argument("--wide", action="store_true",
                        help="widen the sweeps: 4x4 tile, every pipeline setting listed in the report")
    parser.add_argument("--target", default="generic,cmos,ecp5", metavar="LIST",
                        help=f"area targets out of {','.join(flow.TARGETS)} (default: %(default)s)")
    parser.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                        help="clock constraint nextpnr optimises for (default: %(default)s)")
    parser.add_argument("-j", "--jobs", type=int, default=2,
                        help="configurations measured at once (default: %(default)s)")


def plan(base, sweeps, lanes_values, at_lanes, fmax_lanes, wide):
    """{sweep: [config, ...]} for the chosen sweeps around `base`; ConfigError on a bad value."""
    at = base.replace(lanes=at_lanes)
    chosen = {}
    if "lanes" in sweeps:
        chosen["lanes"] = [base.replace(lanes=lanes) for lanes in lanes_values if base.block % lanes == 0]
        if not chosen["lanes"]:
            raise UsageError(f"Lanes values must include a divisor of the block size {base.block}, "
                             f"not {','.join(map(str, lanes_values))}")
    if "block" in sweeps:
        chosen["block"] = [at.replace(block=block) for block in (16, 32, 64, 128) if block % at_lanes == 0]
    if "tile" in sweeps:
        shapes = [(1, 1), (2, 2)] + ([(4, 4)] if wide else [])
        chosen["tile"] = [at.replace(rows=rows, cols=cols) for rows, cols in shapes]
    if "formats" in sweeps:
        chosen["formats"] = [at.replace(formats=base.formats), at.replace(formats=tuple(FORMAT_CODES))]
    if "pipeline" in sweeps:
        fast = base.replace(lanes=fmax_lanes)
        chosen["pipeline"] = [fast.replace(**dict(zip(PIPELINE_FIELDS, p, strict=True)))
                              for p in (PIPELINES_WIDE if wide else PIPELINES)]
    return chosen


def measure_all(chosen, targets, output, freq, jobs, progress=True):
    """Measure every distinct configuration once, `jobs` at a time (each in its own process:
    elaboration is not shared between threads): {config: result of `synth.measure`}."""
    from tqdm import tqdm

    needs_fmax = set(chosen.get("pipeline", ()))
    configs = list(dict.fromkeys(config for configs in chosen.values() for config in configs))
    work = {config: dict(targets=list(dict.fromkeys([*targets, *(["ecp5"] if config in needs_fmax else [])])),
                         build_dir=Path(output) / "runs" / config_slug(config),
                         fmax=config in needs_fmax, freq=freq)
            for config in configs}
    results = {}
    with tqdm(total=len(configs), desc="mxdpu report", unit="config", disable=not progress) as bar:
        if jobs == 1:
            for config, kwargs in work.items():
                results[config] = measure(config, **kwargs)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(measure, config, **kwargs): config for config, kwargs in work.items()}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(1)
    return results


def figure(result, target, metric, per_mac=False):
    """One figure of a result, or None when that target was not run."""
    figures = result["targets"].get(target)
    if figures is None:
        return None
    return figures["per_mac" if per_mac else "total"][metric]


def columns(targets):
    """The area columns of the tables: (heading, target, metric, per MAC)."""
    out = []
    for target in targets:
        if target not in flow.FAMILIES:
            metric = STAGE_METRIC[target]
            out += [(f"{target} {metric}", target, metric, False), ("per MAC", target, metric, True)]
        else:
            out += [(f"{target} LUT4", target, "LUT4", False), ("per MAC", target, "LUT4", True),
                    (f"{target} FF", target, "flip-flops", False), (f"{target} DSP", target, "DSP", False)]
    return out


def fmt(value):
    if value is None:
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def describe(config, sweep):
    """What a row of a sweep's table varies."""
    if sweep == "lanes":
        return config.lanes
    if sweep == "block":
        return config.block
    if sweep == "tile":
        return f"{config.rows}×{config.cols}"
    if sweep == "formats":
        return ",".join(config.formats)
    return "/".join(str(getattr(config, name)) for name in PIPELINE_FIELDS)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_lanes(path, configs, results, targets):
    """Area per MAC against lanes, one line per target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    lanes = [config.lanes for config in configs]
    for heading, target, metric, per_mac in columns(targets):
        if per_mac:
            ax.plot(lanes, [figure(results[c], target, metric, True) for c in configs], "o-",
                    label=f"{target} {metric} per MAC")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(lanes, [str(v) for v in lanes])
    ax.set_xlabel("lanes (products per cycle per PE)")
    ax.set_ylabel("area per MAC")
    ax.set_title(f"area per MAC against lanes (1 PE, k {configs[0].block})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pipeline(path, configs, results):
    """ECP5 Fmax against the pipeline registers of the datapath, annotated with the latency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    depth = [c.latency - c.cycles_per_step - 1 for c in configs]  # the pipeline registers
    fmax = [results[c]["fmax"]["ecp5"]["fmax"] for c in configs]
    ax.plot(depth, fmax, "o-")
    for c, x, y in zip(configs, depth, fmax):
        if y is not None:
            ax.annotate(f"{describe(c, 'pipeline')}\nlatency {c.latency}", (x, y), fontsize=7,
                        textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("pipeline registers from the operands to the result (latency - cycles per step - 1)")
    ax.set_ylabel("ECP5 Fmax (MHz)")
    ax.set_title(f"Fmax against pipeline depth (1 PE, k {configs[0].block}, lanes {configs[0].lanes})")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(output, base, chosen, results, targets):
    """`report.md`, the plots and `results.json` in `output`; the path of the report."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    text = ["# mxdpu synthesis report", "",
            "Base configuration: " + ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}"
                                               for k, v in base.parameters().items()) + ".",
            "",
            "How to read it: *generic* counts Yosys' internal gates (hierarchy kept, so each "
            "Amaranth submodule is counted on its own); *cmos* is a transistor estimate after mapping "
            "to NAND/NOR/NOT and plain flip-flops; *ecp5*/*ice40* are LUT4s, flip-flops and DSPs "
            "after flat synthesis for that FPGA. Per MAC divides by rows × cols × lanes. Fmax is "
            "nextpnr's, for the design placed with the 64-bit AXI4-Stream top, seed 1. Tool logs of "
            "every configuration are under `runs/`.", ""]
    for sweep, configs in chosen.items():
        header = [sweep, "MACs", "cycles/step", "latency", *(h for h, *_ in columns(targets))]
        if sweep == "pipeline":
            header += ["ECP5 device", "ECP5 Fmax (MHz)"]
        rows = []
        for config in configs:
            result = results[config]
            row = [describe(config, sweep), result["macs"], config.cycles_per_step, config.latency]
            row += [figure(result, t, m, per) for _, t, m, per in columns(targets)]
            if sweep == "pipeline":
                placed = result["fmax"]["ecp5"]
                row += [placed["device"], placed["fmax"] if placed["fits"] else "does not fit"]
            rows.append(row)
        text += [f"## {sweep}", ""]
        if sweep == "pipeline":
            text += ["Pipeline settings are " + "/".join(PIPELINE_FIELDS) + ".", ""]
        text += [markdown_table(header, rows), ""]
        if sweep == "lanes" and len(configs) > 1 and any(t in STAGE_METRIC or t in flow.FAMILIES for t in targets):
            plot_lanes(output / "area_per_mac_vs_lanes.png", configs, results, targets)
            text += ["![area per MAC against lanes](area_per_mac_vs_lanes.png)", ""]
        if sweep == "pipeline":
            plot_pipeline(output / "fmax_vs_pipeline.png", configs, results)
            text += ["![ECP5 Fmax against pipeline depth](fmax_vs_pipeline.png)", ""]

    staged = [t for t in targets if t in STAGE_METRIC]
    if staged and "lanes" in chosen:
        target = staged[0]
        metric = STAGE_METRIC[target]
        stages = [s for s in flow.STAGES if any(s in results[c]["targets"][target]["stages"]
                                                for c in chosen["lanes"])]
        rows = []
        for config in chosen["lanes"]:
            figures = results[config]["targets"][target]
            total = figures["total"][metric]
            rows.append([describe(config, "lanes"),
                         *(f"{100 * figures['stages'].get(s, {}).get(metric, 0) / total:.1f}" for s in stages)])
        text += [f"## where the area goes ({target} {metric}, % by stage)", "",
                 "Stages follow the Amaranth submodules; *control* is the glue and the pipeline "
                 "registers between stages.", "", markdown_table(["lanes", *stages], rows), ""]

    (output / "results.json").write_text(json.dumps(
        {sweep: [results[c] for c in configs] for sweep, configs in chosen.items()}, indent=1) + "\n")
    path = output / "report.md"
    path.write_text("\n".join(text))
    return path


def run(args):
    base = config_from_args(args)
    sweeps = [s.strip() for s in args.sweep.split(",") if s.strip()]
    if not sweeps or any(s not in SWEEPS for s in sweeps):
        raise UsageError(f"Sweep must be a comma-separated list out of {', '.join(SWEEPS)}, not {args.sweep!r}")
    if args.jobs < 1:
        raise UsageError(f"Jobs must be a positive integer, not {args.jobs}")
    targets = parse_targets(args.target)
    chosen = plan(base, sweeps, int_list(args.lanes_values), args.at_lanes, args.fmax_lanes, args.wide)
    output_dir(args.output, "--output")
    results = measure_all(chosen, targets, args.output, args.freq, args.jobs)
    path = write_report(args.output, base, chosen, results, targets)
    print(f"wrote {path} ({sum(len(c) for c in chosen.values())} rows, {len(results)} configurations)")
    return 0
