"""cocotb bench of the FPGA prototyping top (`hw.axis.AXISTop`) with cocotbext-axi.

An `AxiStreamSource` sends each step as one frame (the step payload, little-endian, padded to
whole beats) and an `AxiStreamSink` takes the result frames; the in-order `Scoreboard` of the
top-level bench compares every bit of every result against the golden model. `run_test_stream`
is parametrised over a TVALID idle inserter (the source's pause generator) and a TREADY
backpressure inserter (the sink's). Each run sends the `SETS` stimulus sets in turn, each after
a reset and after a frame one beat short, which the top must drop.

Environment (set by tests/sim/test_axis.py): MXDPU_AXIS_MANIFEST (the manifest of the Verilog
under test), MXDPU_AXIS_OUT (a directory for one summary JSON per run), MXDPU_AXIS_STEPS and
MXDPU_AXIS_SEED (steps per stimulus set, and its seed).
"""

import itertools
import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

from mxdpu.verif.bench.tb import Scoreboard, config_from_manifest
from mxdpu.verif.stimulus import expected_results, make_stream

CLOCK_NS = 10
#: stimulus sets each run sends, a reset before each: every slot reuse distance with specials,
#: then long finite accumulations rotating the slots
SETS = ("hazards", "throughput")


def pauses(rng, rate):
    """A pause generator: True (pause this cycle) with probability `rate`."""
    return (rng.random() < rate for _ in itertools.count())


class TB:
    """The AXIS top between a cocotbext-axi source and sink, driven from its manifest."""

    def __init__(self, dut, manifest_path):
        self.dut = dut
        self.manifest = json.loads(Path(manifest_path).read_text())
        self.config = config_from_manifest(self.manifest)
        axis = self.manifest["axis"]
        self.frame_bytes = axis["step_beats"] * axis["data_width"] // 8
        self.result_bytes = axis["result_beats"] * axis["data_width"] // 8
        self.result_bits = self.config.result_layout.size
        for port, spec in self.manifest["ports"].items():
            if len(getattr(dut, port)) != spec["width"]:
                raise ValueError(f"port {port} is {len(getattr(dut, port))} bits, the manifest says {spec['width']}")
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)

    def set_idle_generator(self, generator=None):
        self.source.set_pause_generator(generator)

    def set_backpressure_generator(self, generator=None):
        self.sink.set_pause_generator(generator)

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def frame(self, payload):
        """The bytes of one step frame: payload bits 0..7 in byte 0, zero-padded to whole beats."""
        return payload.to_bytes(self.frame_bytes, "little")


async def run_set(tb, name, seed, steps):
    """Reset, send one stimulus set as frames, take and check its results; a summary dict."""
    config, axis = tb.config, tb.manifest["axis"]
    await tb.reset()
    stream = make_stream(config, name, seed, steps)
    expected = expected_results(config, stream)
    scoreboard = Scoreboard(config, expected)

    # a malformed frame (TLAST one beat early; all ones, so a first+last step if it got through)
    # is dropped whole
    if axis["step_beats"] > 1:
        await tb.source.send(b"\xff" * (tb.frame_bytes - axis["data_width"] // 8))
    for n in range(len(stream)):
        await tb.source.send(tb.frame(config.pack_step(**stream.step_kwargs(n))))

    # every result within a generous bound of the stream's own duration
    timeout = 100 * (len(stream) * axis["step_beats"] + axis["latency"])
    frame_errors = 0
    for _ in range(len(expected)):
        frame = await with_timeout(tb.sink.recv(), timeout * CLOCK_NS, "ns")
        bits = int.from_bytes(frame.tdata, "little")
        # whole beats, and the padding past the result's last bit is zero
        frame_errors += len(frame.tdata) != tb.result_bytes or bits >> tb.result_bits != 0
        scoreboard.receive(bits & ((1 << tb.result_bits) - 1))
    await tb.source.wait()
    await ClockCycles(tb.dut.clk, 4 * axis["latency"] + 20)
    return {"set": name, "steps": len(stream), "results_expected": len(expected),
            "last_steps": int(stream.last.sum()), "results_checked": scoreboard.checked,
            "mismatches": scoreboard.mismatches,
            "first_mismatch": None if scoreboard.first_mismatch is None else scoreboard.first_mismatch.describe(),
            "frame_errors": frame_errors, "extra_results": tb.sink.count()}


@cocotb.test()
@cocotb.parametrize(idle_inserter=[None, 0.4], backpressure_inserter=[None, 0.5])
async def run_test_stream(dut, idle_inserter, backpressure_inserter):
    tb = TB(dut, os.environ["MXDPU_AXIS_MANIFEST"])
    seed = int(os.environ.get("MXDPU_AXIS_SEED", "1"))
    steps = int(os.environ.get("MXDPU_AXIS_STEPS", "32"))
    rng = random.Random(seed)
    tb.set_idle_generator(idle_inserter and pauses(rng, idle_inserter))
    tb.set_backpressure_generator(backpressure_inserter and pauses(rng, backpressure_inserter))

    summaries = [await run_set(tb, name, seed, steps) for name in SETS]
    out = Path(os.environ["MXDPU_AXIS_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"idle{idle_inserter}_bp{backpressure_inserter}.json").write_text(json.dumps(
        {"idle": idle_inserter, "backpressure": backpressure_inserter, "seed": seed, "sets": summaries}, indent=1))

    for summary in summaries:
        where = f"set {summary['set']} seed {seed}"
        assert summary["mismatches"] == 0, f"{where}: {summary['mismatches']} mismatches, first {summary['first_mismatch']}"
        assert summary["frame_errors"] == 0, f"{where}: result frames of the wrong length or with nonzero padding"
        assert summary["extra_results"] == 0, f"{where}: {summary['extra_results']} results beyond those expected"
        assert summary["results_checked"] == summary["results_expected"] == summary["last_steps"], (
            f"{where}: {summary['results_checked']} results checked, {summary['results_expected']} expected")
