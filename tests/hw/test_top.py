"""The top level in the Amaranth simulator, bit-exact against the golden model and the known answers.

Every run ends by checking that the results compared are all the results expected.
"""

from dataclasses import replace

import numpy as np
import pytest

from mxdpu.hw.config import Config
from mxdpu.sim.amaranth_sim import run_stream
from mxdpu.verif.stimulus import StreamBuilder, expected_results, make_stream
from tests import common
from tests.common import TOP_CONFIGS

#: tile shapes whose PEs share an Accumulate (`acc_share`): two PEs on one, four on one with
#: the presets' Accumulate registers
SHARED_CONFIGS = {
    "r1c2_k16_lanes4_share2": Config(rows=1, cols=2, block=16, lanes=4, depth=1, acc_share=2),
    "r2c2_k32_lanes8_share4": Config(rows=2, cols=2, block=32, lanes=8, depth=3, prep_stages=4,
                                     acc_stages=8, acc_share=4),
}
CONFIGS = {**TOP_CONFIGS, **SHARED_CONFIGS}
#: the pipeline settings at both ends, on a step of one cycle and of several
PIPELINES = {
    "no_registers": dict(pipe_unpack=0, pipe_multiply=0, pipe_place=0, pipe_tree=0, sum_slices=1,
                         pipe_sum=0, prep_stages=0, acc_stages=0),
    "all_registers": dict(pipe_unpack=2, pipe_multiply=3, pipe_place=1, pipe_tree=1, sum_slices=4,
                          pipe_sum=1, prep_stages=6, acc_stages=12),
    "front_registers": dict(pipe_multiply=2, pipe_place=1, pipe_tree=2, sum_slices=2),
}
#: every configuration of CONFIGS; `make check` keeps the small ones, the others are slow
config_params = common.config_params(CONFIGS, quick=(common.QUICK_TOP_CONFIG, *SHARED_CONFIGS))


def check(config, stream, run):
    """Compare every result with the expected one; results of an epoch ended by a reset may stop
    early (they were in flight), the last epoch's must all be there. Returns the count checked."""
    expected = expected_results(config, stream)
    final = len(stream.resets)
    checked = 0
    for epoch in range(final + 1):
        got = [r for r, e in zip(run.results, run.epochs) if e == epoch]
        want = np.flatnonzero(expected.epoch == epoch)
        assert len(got) == len(want) if epoch == final else len(got) <= len(want)
        for result, i in zip(got, want):
            assert result == {"d": expected.d[i].tolist(), "flags": expected.flags[i].tolist(),
                              "slot": int(expected.slot[i])}, f"result {checked} (step {expected.step[i]})"
            checked += 1
    assert checked == len(run.results)
    return checked


@config_params
def test_known_answers(config):
    stream = make_stream(config, "kat", 0, None)
    run = run_stream(config, stream, idle=0.2, backpressure=0.3, seed=1)
    assert check(config, stream, run) == len(expected_results(config, stream)) >= 28


@config_params
@pytest.mark.parametrize("stimulus", ["hazards", "random", "corners"])
def test_random_slots_idle_backpressure(config, stimulus):
    stream = make_stream(config, stimulus, 7, 120)
    run = run_stream(config, stream, idle=0.25, backpressure=0.4, seed=2)
    assert check(config, stream, run) == len(expected_results(config, stream)) > 0


@config_params
def test_reset_in_the_middle_of_accumulations(config):
    stream = make_stream(config, "reset", 11, 120)
    assert stream.resets
    run = run_stream(config, stream, idle=0.2, backpressure=0.3, seed=3)
    assert check(config, stream, run) > 0


def fixed_slots(stream, slots, first, last):
    """The stream's blocks with another slot sequence."""
    return replace(stream, slot=np.asarray(slots, np.int64), first=np.asarray(first, np.bool_),
                   last=np.asarray(last, np.bool_), resets=(), expected=None)


@config_params
def test_same_slot_back_to_back(config):
    blocks = make_stream(config, "throughput", 5, 24)
    count = len(blocks)
    stream = fixed_slots(blocks, [0] * count, [n % 12 == 0 for n in range(count)],
                         [n % 12 == 11 for n in range(count)])
    run = run_stream(config, stream)
    assert check(config, stream, run) == 2


def rotation(config, distance, count=24):
    """Steps rotating over `distance` slots: each slot starts once, accumulates, ends once."""
    blocks = make_stream(config, "throughput", 9, count)
    n = np.arange(len(blocks))
    return fixed_slots(blocks, n % distance, n < distance, n >= len(blocks) - distance)


@config_params
def test_throughput_one_step_per_cycles_per_step_at_acc_latency(config):
    assert config.depth >= config.acc_latency  # else full rate is not promised
    stream = rotation(config, config.acc_latency)
    run = run_stream(config, stream)
    check(config, stream, run)
    assert np.diff(run.accepted).tolist() == [config.cycles_per_step] * (len(stream) - 1)


def measured_acc_latency(config):
    """The smallest slot rotation that runs at full rate, from simulation."""
    for distance in range(1, config.depth + 1):
        stream = rotation(config, distance, count=4 * distance + 8)
        run = run_stream(config, stream)
        check(config, stream, run)
        if max(np.diff(run.accepted)) == config.cycles_per_step:
            return distance
    return None


def measured_latency(config):
    """Cycles from a lone last step's acceptance to its result's valid, from simulation."""
    stream = make_stream(config, "kat", 0, 1)
    run = run_stream(config, stream)
    check(config, stream, run)
    return run.valid_cycles[0] - run.accepted[0]


@config_params
def test_latency_and_acc_latency_measured_equal_config(config):
    assert measured_latency(config) == config.latency
    if config.depth >= config.acc_latency:
        assert measured_acc_latency(config) == config.acc_latency


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [32, 8])
@pytest.mark.parametrize("pipeline", list(PIPELINES.values()), ids=list(PIPELINES))
def test_pipeline_settings(pipeline, lanes):
    config = Config(lanes=lanes, depth=16, **pipeline)  # depth >= acc_latency: full rate reachable
    assert config.depth >= config.acc_latency
    assert measured_latency(config) == config.latency
    assert measured_acc_latency(config) == config.acc_latency
    stream = make_stream(config, "hazards", 13, 80)
    run = run_stream(config, stream, idle=0.2, backpressure=0.3, seed=4)
    assert check(config, stream, run) == len(expected_results(config, stream)) > 0


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", list(PIPELINES.values()), ids=list(PIPELINES))
def test_pipeline_settings_with_four_pes_on_one_accumulate(pipeline):
    config = Config(rows=2, cols=2, block=32, lanes=8, depth=16, acc_share=4, **pipeline)
    assert measured_latency(config) == config.latency
    assert measured_acc_latency(config) == config.acc_latency
    stream = make_stream(config, "hazards", 13, 60)
    run = run_stream(config, stream, idle=0.2, backpressure=0.3, seed=4)
    assert check(config, stream, run) == len(expected_results(config, stream)) > 0


def test_result_buffer_absorbs_long_backpressure():
    # the output stalls for long stretches: nothing is dropped or duplicated
    config = CONFIGS["dpu"]
    builder = StreamBuilder(config)
    for n in range(40):
        builder.step([56] * config.block, 127 + n % 3, [56 + n % 8] * config.block, 120,
                     0, 0, slot=n % config.depth, first=1, last=1)
    stream = builder.build()
    run = run_stream(config, stream, backpressure=0.9, seed=6)
    assert check(config, stream, run) == 40


def test_step_ready_does_not_depend_on_valid():
    # SPEC §3: ready may depend on state only; compare ready with valid low and high, same state
    from amaranth.sim import Simulator
    config = CONFIGS["dpu"]
    dut = config.create()
    seen = []

    async def testbench(ctx):
        for cycle in range(12):
            ctx.set(dut.step.valid, 0)
            before = ctx.get(dut.step.ready)
            ctx.set(dut.step.valid, 1)
            ctx.set(dut.step.payload.as_value(), config.pack_step(
                [[56] * config.block], [127], [[56] * config.block], [127], 0, 0,
                slot=0, first=0, last=cycle % 2))
            seen.append((before, ctx.get(dut.step.ready)))
            ctx.set(dut.result.ready, 0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert all(before == after for before, after in seen)
    assert {before for before, _ in seen} == {0, 1}  # both states occurred


@config_params
def test_throughput_every_step_last_output_always_ready(config):
    # one-block dot products back to back: the result buffer must never hold the input back
    blocks = make_stream(config, "throughput", 15, 40)
    count = len(blocks)
    stream = fixed_slots(blocks, np.arange(count) % config.depth, [1] * count, [1] * count)
    run = run_stream(config, stream)
    assert check(config, stream, run) == count
    assert np.diff(run.accepted).tolist() == [config.cycles_per_step] * (count - 1)


def every_format_stream(config, rng, count):
    """Random bytes in random enabled formats, scales near 2^0, random slots, first and last."""
    builder = StreamBuilder(config)
    for _ in range(count):
        builder.step(rng.integers(256, size=(config.rows, config.block)),
                     rng.integers(110, 145, size=config.rows),
                     rng.integers(256, size=(config.cols, config.block)),
                     rng.integers(110, 145, size=config.cols),
                     int(rng.choice(config.format_codes)), int(rng.choice(config.format_codes)),
                     slot=int(rng.integers(config.depth)), first=rng.random() < 0.3, last=rng.random() < 0.4)
    return builder.build()


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [32, 8])
def test_all_six_formats_enabled(lanes):
    # on the widest grid: raw random codes of every format code (reserved ones too), and
    # random codes of the enabled formats
    config = Config(lanes=lanes, formats=("e4m3", "e5m2", "e3m2", "e2m3", "e2m1", "int8"))
    for stream in (make_stream(config, "random", 17, 100),
                   every_format_stream(config, np.random.default_rng(19), 100)):
        run = run_stream(config, stream, idle=0.2, backpressure=0.3, seed=5)
        assert check(config, stream, run) == len(expected_results(config, stream)) > 0


@config_params
def test_same_slot_first_steps_do_not_wait(config):
    # a first step does not read its slot, so one-block dot products on one slot run at full rate
    blocks = make_stream(config, "throughput", 21, 16)
    count = len(blocks)
    stream = fixed_slots(blocks, [0] * count, [1] * count, [1] * count)
    run = run_stream(config, stream)
    assert check(config, stream, run) == count
    assert np.diff(run.accepted).tolist() == [config.cycles_per_step] * (count - 1)


def test_step_offered_during_reset_is_not_taken():
    # step.ready is low while rst is high; the step offered after reset is computed exactly
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator
    from mxdpu.verif.golden import GoldenTile
    config = CONFIGS["dpu"]
    rng = np.random.default_rng(23)
    steps = [dict(a=rng.integers(256, size=(config.rows, config.block)).tolist(),
                  a_scale=[127] * config.rows,
                  b=rng.integers(256, size=(config.cols, config.block)).tolist(),
                  b_scale=[125] * config.cols, a_format=0, b_format=1, slot=0, first=1, last=1)
             for _ in range(2)]
    dut = config.create()
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.dut = dut
    seen = {"ready_in_reset": [], "accepted": 0, "results": []}

    async def testbench(ctx):
        ctx.set(dut.result.ready, 1)
        # the first step is offered while rst is high, for two cycles
        ctx.set(dut.step.valid, 1)
        ctx.set(dut.step.payload.as_value(), config.pack_step(**steps[0]))
        ctx.set(domain.rst, 1)
        for _ in range(2):
            seen["ready_in_reset"].append(ctx.get(dut.step.ready))
            await ctx.tick()
        ctx.set(domain.rst, 0)
        ctx.set(dut.step.payload.as_value(), config.pack_step(**steps[1]))
        for _ in range(config.latency + 4 * config.cycles_per_step + 8):
            offered = ctx.get(dut.step.valid) and ctx.get(dut.step.ready)
            valid = ctx.get(dut.result.valid)
            bits = ctx.get(dut.result.payload.as_value())
            await ctx.tick()
            if offered:
                seen["accepted"] += 1
                ctx.set(dut.step.valid, 0)
            if valid:
                seen["results"].append(config.unpack_result(bits))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen["ready_in_reset"] == [0, 0]
    assert seen["accepted"] == 1
    assert seen["results"] == [GoldenTile(config).step(**steps[1])]
