"""Regression orchestration: which stimulus sets run where, how big, and the summary.

A plan is a list of `Job`s (configuration × simulator × stimulus set) in a fixed order; `--shard
I/N` keeps every N-th. Jobs of one configuration and simulator run in one simulator process
(`sim.runner.run_batch`). Each set's size depends on the level (`quick`, `standard`, `full`)
and on the simulator: Icarus runs the `dpu` bench at 180–1,300 steps/s against Verilator's
~8,600, and a build with every mode at 11–16 (2×2: about 2) against ~3,000 (README), so its slices
are smaller; `full` runs every set whole on both.
"""

import zlib
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from mxdpu.sim.runner import SIMULATORS, prepare, run_batch
from mxdpu.verif.bench.job import BenchOptions
from mxdpu.verif.stimulus import expected_results, make_stream, sets_for

__all__ = ["LEVELS", "Job", "plan", "shard", "run_regression", "rerun_command", "summary_table", "failures"]

#: Steps per set at each level and simulator (None: the whole set). A set unlisted by name takes
#: the entry of its longest listed prefix (`mode_corners_hopper`: `mode_corners`, then `mode`),
#: else "*".
LEVELS = {
    "quick": {
        "verilator": {"kat": None, "corners": None, "scales": 128, "hazards": 256, "reset": 256,
                      "random": 256, "throughput": 512, "mode_corners": None, "mode_specials": None,
                      "mode": 128, "*": 64},
        "icarus": {"kat": None, "corners": None, "scales": 16, "hazards": 48, "reset": 48,
                   "random": 48, "throughput": 96, "gauss": 8, "heavy": 8, "mode_corners": 32,
                   "mode_specials": 32, "mode": 16, "*": 8},
    },
    "standard": {
        "verilator": {"kat": None, "corners": None, "scales": 512, "hazards": 1024, "reset": 512,
                      "random": 1024, "throughput": 1024, "mode_corners": None, "mode_specials": None,
                      "mode": 1024, "*": 256},
        "icarus": {"kat": None, "corners": None, "scales": 64, "hazards": 192, "reset": 192,
                   "random": 192, "throughput": 256, "gauss": 32, "heavy": 32, "mode_corners": 96,
                   "mode_specials": 96, "mode": 64, "*": 32},
    },
    "full": {sim: {"*": None} for sim in SIMULATORS},
}


def _limit(level, sim, test):
    table = LEVELS[level][sim]
    parts = test.split("_")
    for key in ["_".join(parts[:n]) for n in range(len(parts), 0, -1)] + ["*"]:
        if key in table:
            return table[key]
    raise KeyError(test)


@dataclass(frozen=True)
class Job:
    config: object
    config_name: str
    sim: str
    test: str
    seed: int
    level: str
    limit: int | None

    @property
    def test_seed(self):
        """The stream's seed: a fixed function of the regression seed and the test name."""
        return zlib.crc32(f"{self.seed}:{self.test}".encode()) & 0x7FFFFFFF


def plan(configs, sims, level="standard", seed=1, tests=None):
    """Jobs for named configurations {name: Config} × simulators × stimulus sets, in order; a
    configuration runs only the sets whose formats it enables and whose modes it builds
    (`verif.stimulus.sets_for`)."""
    return [Job(config, name, sim, test, seed, level, _limit(level, sim, test))
            for name, config in configs.items() for sim in sims
            for test in sets_for(config) if tests is None or test in tests]


def shard(jobs, index, count):
    """Shard `index` (1-based) of `count`: every count-th job, so shards get similar mixes."""
    return [job for n, job in enumerate(jobs) if n % count == index - 1]


def _options(job, flip):
    """Bench options: idle and backpressure rates drawn from the test seed; none for throughput."""
    if job.test == "throughput":
        return BenchOptions(job.test, job.test_seed, "", "", throughput=True, flip=flip)
    rng = np.random.default_rng(job.test_seed)
    return BenchOptions(job.test, job.test_seed, "", "", idle=float(rng.choice([0.0, 0.1, 0.3])),
                        backpressure=float(rng.choice([0.0, 0.2, 0.5])), flip=flip)


def run_regression(jobs, waves=False, flip=None, progress=True):
    """Run jobs; returns one summary dict per job (keys of the bench summary plus `config`,
    `sim`, `passed`, `failure`, `rerun`). `flip` = (result, bit) corrupts that received bit in
    every job (a deliberately broken design)."""
    groups = {}
    for job in jobs:
        groups.setdefault((job.config_name, job.sim), []).append(job)
    bar = tqdm(total=len(jobs), unit="test", disable=not progress, leave=False)
    summaries = []
    try:
        for (config_name, sim), group in groups.items():
            bar.set_description(f"{config_name} {sim}")
            design = prepare(group[0].config)
            work = []
            for job in group:
                stream = make_stream(job.config, job.test, job.test_seed, job.limit)
                work.append((stream, expected_results(job.config, stream), _options(job, flip)))
            # the run directory's name: same jobs, same directory (reruns replace their last run)
            batch = f"{group[0].seed}-{zlib.crc32(repr(([(j.test, j.limit) for j in group], flip)).encode()):08x}"
            for job, summary in zip(group, run_batch(design, sim, work, waves, batch, bar.update)):
                summary["config"] = config_name
                summary["rerun"] = rerun_command(job, flip)
                summaries.append(summary)
    finally:
        bar.close()
    return summaries


def rerun_command(job, flip=None):
    """The `mxdpu regress` command that runs this job's stream again on the same design: every
    generator parameter, the level (it sizes the stream), the simulator, the test, the seed (and
    the deliberately flipped result bit, if any)."""
    params = " ".join(f"--{name.replace('_', '-')} {','.join(value) if isinstance(value, list) else value}"
                      for name, value in job.config.parameters().items())
    level = "" if job.level == "standard" else f" --{job.level}"
    broken = f" --flip-result {flip[0]}:{flip[1]}" if flip else ""
    return f"mxdpu regress {params}{level} --sim {job.sim} --test {job.test} --seed {job.seed}{broken}"


def failures(summaries):
    """One line per failed job: configuration, simulator, the failure, how to rerun it."""
    return [f"{s['config']} {s['sim']}: {s['failure']} (rerun: {s['rerun']})"
            for s in summaries if not s["passed"]]


def summary_table(summaries):
    """The end-of-run table: configuration × simulator × test with the measured figures."""
    head = ("config", "sim", "test", "steps", "results", "mismatches", "steps/s", "steps/cycle", "status")
    rows = []
    for s in summaries:
        rows.append((s["config"], s["sim"], s["test"], str(s.get("steps", "")),
                     str(s.get("results_checked", "-")), str(s.get("mismatches", "-")),
                     f"{s['steps_per_second']:.0f}" if "steps_per_second" in s else "-",
                     f"{s['steps_per_cycle']:.3f}" if "steps_per_cycle" in s else "-",
                     "ok" if s["passed"] else "FAIL"))
    totals = {}
    for s in summaries:
        t = totals.setdefault((s["config"], s["sim"]), [0, 0, 0.0])
        t[0] += s.get("steps_accepted", 0)
        t[1] += s.get("results_checked", 0)
        t[2] += s.get("wall_seconds", 0.0)
    for (config, sim), (steps, results, wall) in totals.items():
        rows.append((config, sim, "(all)", str(steps), str(results), "", f"{steps / wall:.0f}" if wall else "-",
                     "", ""))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    right = {3, 4, 5, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])
