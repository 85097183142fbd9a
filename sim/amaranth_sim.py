"""Run the top level in the Amaranth simulator: a cycle-accurate driver and monitor for tests.

`run_steps` feeds steps (dicts of `Config.pack_step` keyword arguments) with random idle cycles
and random output backpressure, optionally pulses reset, and returns what came out and when.
"""

import random
from dataclasses import dataclass, field

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

__all__ = ["Run", "run_steps"]


@dataclass
class Run:
    """What a simulation saw. Cycle numbers count rising edges from the start."""

    accepted: list = field(default_factory=list)       # cycle of each accepted step, in order
    results: list = field(default_factory=list)        # Config.unpack_result dicts, in order
    result_cycles: list = field(default_factory=list)  # cycle each result was taken
    valid_cycles: list = field(default_factory=list)   # cycles `result.valid` rose
    reset_cycle: int = None                            # the cycle `rst` was high, if any
    cycles: int = 0

    def after_reset(self):
        """The results taken after the reset (all of them without one)."""
        if self.reset_cycle is None:
            return self.results
        return [r for r, c in zip(self.results, self.result_cycles) if c > self.reset_cycle]


def run_steps(config, steps, *, idle=0.0, backpressure=0.0, seed=0, reset_after=None,
              max_cycles=None):
    """Drive `steps` through `config.create()` until every expected result is out.

    idle         -- probability of holding `step.valid` low on a cycle while steps remain.
    backpressure -- probability of holding `result.ready` low on a cycle.
    reset_after  -- pulse `rst` for one cycle once this many steps were accepted, then go on
                    offering the steps not yet accepted.
    The run ends a few cycles after as many results came out (since any reset) as `last` steps
    were accepted (since it), so a duplicate would be seen; or at `max_cycles`.
    """
    rng = random.Random(seed)
    dut = config.create()
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.dut = dut
    payloads = [config.pack_step(**step) for step in steps]
    lasts = [int(step.get("last", 1)) for step in steps]
    limit = max_cycles or (len(steps) + 4) * (config.latency + config.cycles_per_step) * 8 + 200
    run = Run()

    async def testbench(ctx):
        cycle, expected, tail, was_valid = 0, 0, None, False
        while cycle < limit and (tail is None or tail > 0):
            if reset_after is not None and run.reset_cycle is None and len(run.accepted) == reset_after:
                ctx.set(domain.rst, 1)
                ctx.set(dut.step.valid, 0)
                await ctx.tick()
                ctx.set(domain.rst, 0)
                run.reset_cycle, cycle, expected, was_valid = cycle, cycle + 1, 0, False
                continue
            offered = len(run.accepted)
            valid = offered < len(payloads) and rng.random() >= idle
            ctx.set(dut.step.valid, valid)
            if offered < len(payloads):
                ctx.set(dut.step.payload.as_value(), payloads[offered])
            ready = tail is not None or rng.random() >= backpressure
            ctx.set(dut.result.ready, ready)
            step_ready = ctx.get(dut.step.ready)
            result_valid = ctx.get(dut.result.valid)
            result_bits = ctx.get(dut.result.payload.as_value())
            if result_valid and not was_valid:
                run.valid_cycles.append(cycle)
            await ctx.tick()
            if valid and step_ready:
                run.accepted.append(cycle)
                expected += lasts[offered]
            if result_valid and ready:
                run.results.append(config.unpack_result(result_bits))
                run.result_cycles.append(cycle)
            was_valid = result_valid and not ready
            cycle += 1
            if tail is not None:
                tail -= 1
            elif len(run.accepted) == len(payloads) and len(run.after_reset()) >= expected:
                tail = config.latency + 2
        run.cycles = cycle

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return run
