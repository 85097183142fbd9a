"""The file that carries one bench run from the runner process into the simulator process.

The runner generates the stream and its expected results (golden model or known answers) and
saves them with the bench options as one `.npz`; the cocotb test loads it and only drives and
compares. Nothing here imports cocotb, so both sides can use it.
"""

import json
from dataclasses import asdict, dataclass

import numpy as np

from mxdpu.verif.stimulus import STEP_FIELDS, Expected, Stream

__all__ = ["BenchOptions", "save_job", "load_job", "check_summary"]


@dataclass
class BenchOptions:
    """How the bench drives a stream.

    test, seed     -- names a failure prints so it can be rerun.
    idle           -- probability of an idle cycle before each step (driver).
    backpressure   -- probability that `result__ready` is low in a cycle (monitor).
    throughput     -- assert accepted steps per cycle == 1 / cycles_per_step within 1 % and the
                      first result's latency == the manifest's (needs idle = backpressure = 0).
    flip           -- (result index, bit) to invert in the received payload: a broken design
                      that the scoreboard must catch (None: off).
    manifest       -- path of the manifest JSON of the design under test.
    summary        -- path where the bench writes its summary JSON (even when it fails).
    """
    test: str
    seed: int
    manifest: str
    summary: str
    idle: float = 0.0
    backpressure: float = 0.0
    throughput: bool = False
    flip: tuple | None = None


def save_job(path, stream, expected, options):
    arrays = {f"step_{name}": array for name, array in stream.arrays().items()}
    arrays.update({f"exp_{name}": getattr(expected, name) for name in ("d", "flags", "slot", "step", "epoch")})
    arrays["resets"] = np.asarray(stream.resets, np.int64)
    arrays["options"] = np.array(json.dumps(asdict(options)))
    np.savez(path, **arrays)


def load_job(path):
    """(Stream, Expected, BenchOptions) saved by `save_job`."""
    with np.load(path) as f:
        stream = Stream(**{name: f[f"step_{name}"] for name in STEP_FIELDS},
                        resets=tuple(int(n) for n in f["resets"]))
        expected = Expected(**{name: f[f"exp_{name}"] for name in ("d", "flags", "slot", "step", "epoch")})
        options = json.loads(str(f["options"]))
    if options["flip"] is not None:
        options["flip"] = tuple(options["flip"])
    return stream, expected, BenchOptions(**options)


def check_summary(summary, options):
    """The closing assertions of a run; every check names the test and seed."""
    where = f"test {summary['test']} seed {summary['seed']}"
    assert not summary["stalled"], (
        f"{where}: the design stalled after {summary['steps_accepted']} of {summary['steps']} steps "
        f"and {summary['results_checked']} results")
    assert summary["mismatches"] == 0, (
        f"{where}: {summary['mismatches']} mismatching results, first {summary['first_mismatch']}")
    assert summary["steps_accepted"] == summary["steps"], f"{where}: not every step was accepted"
    assert summary["results_expected"] > 0, f"{where}: the stream has no last step; nothing was compared"
    assert summary["results_checked"] + summary["results_dropped_by_reset"] == summary["results_expected"], (
        f"{where}: {summary['results_checked']} results checked, "
        f"{summary['results_dropped_by_reset']} dropped by reset, {summary['results_expected']} expected")
    if options.throughput:
        # exactly one step every cycles_per_step cycles from the first acceptance to the last
        span, want = summary["span_cycles"], (summary["steps_accepted"] - 1) * summary["cycles_per_step"]
        assert span == want, (
            f"{where}: {summary['steps_accepted']} steps accepted over {span} cycles, "
            f"cycles_per_step {summary['cycles_per_step']} promises {want}")
        assert summary["first_latency"] == summary["manifest_latency"], (
            f"{where}: first result after {summary['first_latency']} cycles, the manifest says "
            f"{summary['manifest_latency']}")
