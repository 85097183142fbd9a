"""Run the top level in the Amaranth simulator: a cycle-accurate driver and monitor for tests.

`run_stream` feeds a `verif.stimulus.Stream` (or any object with `step_kwargs(n)`, `last`,
`resets` and a length) with random idle cycles and random output backpressure, resets the unit
where the stream says, and returns what came out and when.
"""

import random
from dataclasses import dataclass, field

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

__all__ = ["Run", "run_stream"]


@dataclass
class Run:
    """What a simulation saw. Cycle numbers count rising edges from the start."""

    accepted: list = field(default_factory=list)       # cycle of each accepted step, in order
    results: list = field(default_factory=list)        # Config.unpack_result dicts, in order
    epochs: list = field(default_factory=list)         # resets before each result was taken
    result_cycles: list = field(default_factory=list)  # cycle each result was taken
    valid_cycles: list = field(default_factory=list)   # cycles on which `result.valid` rose
    cycles: int = 0


def run_stream(config, stream, *, idle=0.0, backpressure=0.0, seed=0, max_cycles=None):
    """Drive every step of `stream` through `config.create()` until every result is out.

    idle         -- probability of holding `step.valid` low on a cycle while steps remain.
    backpressure -- probability of holding `result.ready` low on a cycle.
    Before step n for n in `stream.resets`, `rst` is high for one cycle (once every earlier step
    was accepted; results still in flight are then lost, as SPEC §4 says).
    The run ends `latency + 2` cycles after as many results came out since the last reset as
    `last` steps were accepted since it (so a duplicate would be seen), or at `max_cycles`.
    """
    rng = random.Random(seed)
    dut = config.create()
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.dut = dut
    count = len(stream)
    payloads = [config.pack_step(**stream.step_kwargs(n)) for n in range(count)]
    lasts = [int(x) for x in stream.last]
    resets = sorted(set(stream.resets))
    limit = max_cycles or (count + 4) * (config.latency + config.cycles_per_step) * 8 + 200
    run = Run()

    async def testbench(ctx):
        cycle, epoch, expected, tail, was_valid = 0, 0, 0, None, False
        while cycle < limit and (tail is None or tail > 0):
            offered = len(run.accepted)
            if epoch < len(resets) and offered == resets[epoch]:
                ctx.set(dut.step.valid, 0)
                ctx.set(domain.rst, 1)
                await ctx.tick()
                ctx.set(domain.rst, 0)
                cycle, epoch, expected, was_valid = cycle + 1, epoch + 1, 0, False
                continue
            valid = offered < count and rng.random() >= idle
            ctx.set(dut.step.valid, valid)
            if offered < count:
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
                run.epochs.append(epoch)
                run.result_cycles.append(cycle)
            was_valid = result_valid and not ready
            cycle += 1
            if tail is not None:
                tail -= 1
            elif len(run.accepted) == count and run.epochs.count(epoch) >= expected:
                tail = config.latency + 2
        run.cycles = cycle

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return run
