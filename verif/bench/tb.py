"""The cocotb test bench of the mxdpu top level, driven from its manifest and a job file.

`TB` reads the manifest JSON beside the Verilog (ports, field layout, latency, cycles_per_step),
rebuilds the `Config` from its `parameters` for packing and unpacking, and runs one loop per
clock cycle in which the `StepDriver` (idle cycles at a chosen rate) and the `ResultMonitor`
(random backpressure) act in a fixed order, so a reset lands between two known cycles. The
in-order `Scoreboard` compares every bit of every result's `d`, `flags` and `slot`.
"""

import json
import random
import time

import cocotb
from cocotb.clock import Clock

from mxdpu.hw.config import Config

__all__ = ["TB", "StepDriver", "ResultMonitor", "Scoreboard", "Mismatch", "config_from_manifest"]

CLOCK_NS = 10


def config_from_manifest(manifest):
    """The Config the manifest was generated from; its field table must match what it declares."""
    params = manifest["parameters"]
    config = Config(**{name: params[name] for name in Config.parameter_names() if name in params})
    for key, table in (("step_fields", config.step_fields), ("result_fields", config.result_fields)):
        if manifest[key] != table:
            raise ValueError(f"manifest {key} {manifest[key]} differ from its parameters' layout {table}")
    return config


class Mismatch(dict):
    """One wrong result: what was expected, what arrived, where in the stream."""

    def describe(self):
        return (f"result #{self['index']} (slot {self['expected_slot']}, last step #{self['step']}): "
                f"{self['what']}")


class Scoreboard:
    """In-order comparison of received results with the expected ones.

    A reset starts a new epoch: the expected results of earlier epochs that have not arrived are
    dropped (counted, not checked). Anything that arrives with nothing left to expect is a
    mismatch too."""

    def __init__(self, config, expected):
        self.config = config
        self.expected = expected
        self.next = 0
        self.epoch = 0
        self.checked = 0
        self.dropped = 0
        self.mismatches = 0
        self.first_mismatch = None

    @property
    def outstanding(self):
        """Expected results of the current epoch not yet received."""
        return sum(1 for e in self.expected.epoch[self.next:] if e == self.epoch)

    def new_epoch(self):
        self.epoch += 1
        while self.next < len(self.expected) and self.expected.epoch[self.next] < self.epoch:
            self.next += 1
            self.dropped += 1

    def receive(self, bits):
        got = self.config.unpack_result(bits)
        n = self.next
        if n >= len(self.expected) or self.expected.epoch[n] != self.epoch:
            self._mismatch({"index": n, "expected_slot": None, "step": None,
                            "what": f"unexpected result {self._show(got)}"})
            return
        want = {"d": self.expected.d[n].tolist(), "flags": self.expected.flags[n].tolist(),
                "slot": int(self.expected.slot[n])}
        self.next += 1
        self.checked += 1
        if got != want:
            self._mismatch({"index": n, "expected_slot": want["slot"], "step": int(self.expected.step[n]),
                            "what": self._difference(want, got)})

    def _mismatch(self, record):
        self.mismatches += 1
        if self.first_mismatch is None:
            self.first_mismatch = Mismatch(record)
            cocotb.log.error("first mismatch: %s", self.first_mismatch.describe())

    def _difference(self, want, got):
        if want["slot"] != got["slot"]:
            return f"slot expected {want['slot']} got {got['slot']}"
        for r in range(self.config.rows):
            for c in range(self.config.cols):
                wd, gd = want["d"][r][c], got["d"][r][c]
                wf, gf = want["flags"][r][c], got["flags"][r][c]
                if (wd, wf) != (gd, gf):
                    return (f"PE ({r},{c}) d expected 0x{wd:08x} got 0x{gd:08x}, "
                            f"flags expected 0b{wf:04b} got 0b{gf:04b}")
        raise AssertionError("results differ but no field does")

    @staticmethod
    def _show(result):
        return ("d=" + ",".join(f"0x{v:08x}" for row in result["d"] for v in row)
                + f" slot={result['slot']}")


class StepDriver:
    """Presents steps on `step__*`, inserting an idle cycle before a step with probability
    `idle`; holds the payload while `step__ready` is low. Records the cycle of every acceptance."""

    def __init__(self, dut, payloads, rng, idle):
        self.valid, self.ready, self.payload = dut.step__valid, dut.step__ready, dut.step__payload
        self.payloads = payloads
        self.rng = rng
        self.idle = idle
        self.sent = 0
        self.presenting = False
        self.accepted = {}  # step index -> cycle of its acceptance (only `last` steps kept)
        self.first_cycle = self.last_cycle = None
        self.valid.value = 0

    @property
    def done(self):
        return self.sent == len(self.payloads)

    def drive(self, stop_before):
        """Choose this cycle's valid/payload; no new step at index `stop_before` (a reset)."""
        if self.presenting or self.done or self.sent == stop_before:
            if not self.presenting:
                self.valid.value = 0
            return
        if self.idle and self.rng.random() < self.idle:
            self.valid.value = 0
            return
        self.payload.value = self.payloads[self.sent]
        self.valid.value = 1
        self.presenting = True

    def sample(self, cycle, keep):
        """After a rising edge: did the presented step transfer at that edge?"""
        if self.presenting and self.ready.value:
            if keep[self.sent]:
                self.accepted[self.sent] = cycle
            if self.first_cycle is None:
                self.first_cycle = cycle
            self.last_cycle = cycle
            self.sent += 1
            self.presenting = False
            return True
        return False


class ResultMonitor:
    """Takes results from `result__*`, holding `result__ready` low in a cycle with probability
    `backpressure`. `flip` = (result index, bit) inverts that bit of that received payload."""

    def __init__(self, dut, scoreboard, rng, backpressure, flip=None):
        self.valid, self.ready, self.payload = dut.result__valid, dut.result__ready, dut.result__payload
        self.scoreboard = scoreboard
        self.rng = rng
        self.backpressure = backpressure
        self.flip = flip
        self.received = 0
        self.ready_now = 0
        self.seen_valid = {}  # result index -> first cycle its valid was seen
        self.ready.value = 0

    def drive(self, hold=False):
        ready = 0 if hold or (self.backpressure and self.rng.random() < self.backpressure) else 1
        if ready != self.ready_now:
            self.ready.value = ready
            self.ready_now = ready

    def sample(self, cycle):
        if not self.valid.value:
            return False
        self.seen_valid.setdefault(self.received, cycle)
        if not self.ready_now:
            return False
        bits = self.payload.value.to_unsigned()
        if self.flip is not None and self.flip[0] == self.received:
            bits ^= 1 << self.flip[1]
        self.received += 1
        self.scoreboard.receive(bits)
        return True


class TB:
    """One DUT, one stream: clock, reset, the per-cycle loop, the summary."""

    def __init__(self, dut, manifest_path):
        self.dut = dut
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        self.config = config_from_manifest(self.manifest)
        for port, spec in self.manifest["ports"].items():
            width = len(getattr(dut, port))
            if width != spec["width"]:
                raise ValueError(f"port {port} is {width} bits wide, the manifest says {spec['width']}")
        self.latency = self.manifest["latency"]
        self.cycles_per_step = self.manifest["cycles_per_step"]
        self.cycle = 0
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())

    async def reset(self):
        """`rst` high for one cycle with valid and ready low."""
        self.dut.rst.value = 1
        self.dut.step__valid.value = 0
        self.dut.result__ready.value = 0
        await self.dut.clk.rising_edge
        self.cycle += 1
        self.dut.rst.value = 0

    async def run(self, stream, expected, options):
        """Drive the stream to the end and collect every expected result; returns the summary."""
        rng = random.Random(options.seed)
        config = self.config
        payloads = [config.pack_step(**stream.step_kwargs(n)) for n in range(len(stream))]
        keep = stream.last.astype(bool).tolist()
        scoreboard = Scoreboard(config, expected)
        driver = StepDriver(self.dut, payloads, rng, options.idle)
        monitor = ResultMonitor(self.dut, scoreboard, rng, options.backpressure, options.flip)
        resets = list(stream.resets)
        # a stall is declared when nothing moves for this many cycles
        patience = 200 + 20 * self.cycles_per_step * (self.latency + config.depth + 4)
        # cycles of ready-high listening after the last expected result, to catch extra ones
        tail = self.latency + 2 * self.cycles_per_step + 2
        edge = self.dut.clk.rising_edge
        await self.reset()
        started = time.perf_counter()
        quiet = 0
        stalled = False
        listening = None
        while True:
            if resets and driver.sent == resets[0] and not driver.presenting:
                resets.pop(0)
                await self.reset()
                scoreboard.new_epoch()
                monitor.seen_valid.clear()
                monitor.ready_now = 0
                continue
            driver.drive(resets[0] if resets else None)
            monitor.drive()
            await edge
            self.cycle += 1
            moved = driver.sample(self.cycle, keep)
            moved = monitor.sample(self.cycle) or moved
            quiet = 0 if moved else quiet + 1
            if driver.done and not resets and scoreboard.outstanding == 0:
                listening = tail if listening is None else listening - 1
                monitor.backpressure = 0.0
                if listening == 0:
                    break
            elif quiet > patience:
                stalled = True
                break
        wall = time.perf_counter() - started
        return self._summary(stream, expected, options, driver, monitor, scoreboard, stalled, wall)

    def _summary(self, stream, expected, options, driver, monitor, scoreboard, stalled, wall):
        span = (driver.last_cycle - driver.first_cycle) if driver.sent > 1 else 0
        latencies = [monitor.seen_valid[i] - driver.accepted[int(expected.step[i])]
                     for i in sorted(monitor.seen_valid)
                     if i < len(expected) and expected.epoch[i] == expected.epoch[-1]
                     and int(expected.step[i]) in driver.accepted]
        first = scoreboard.first_mismatch
        return {
            "test": options.test, "seed": options.seed,
            "steps": len(stream), "steps_accepted": driver.sent,
            "results_expected": len(expected), "results_checked": scoreboard.checked,
            "results_received": monitor.received, "results_dropped_by_reset": scoreboard.dropped,
            "mismatches": scoreboard.mismatches,
            "first_mismatch": None if first is None else first.describe(),
            "stalled": stalled, "cycles": self.cycle, "wall_seconds": wall,
            "steps_per_second": driver.sent / wall if wall else 0.0,
            "steps_per_cycle": (driver.sent - 1) / span if span else 0.0,
            "span_cycles": span, "cycles_per_step": self.cycles_per_step,
            "first_latency": latencies[0] if latencies else None,
            "manifest_latency": self.latency,
        }
