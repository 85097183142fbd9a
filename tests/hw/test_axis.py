"""The AXI4-Stream beat assembler, serialiser and register slice in the Amaranth simulator, and
the AXIS top's latency (the whole AXIS top around the tile is checked against the golden model by
the cocotb bench, tests/sim/test_axis.py)."""

import random

import pytest
from amaranth.sim import Simulator

from mxdpu.hw.axis import AXISTop, RegisterSlice, ResultSerializer, StepAssembler, beats, check_data_width
from mxdpu.hw.config import ConfigError
from mxdpu.hw.top import one_hot
from tests.common import TILE_1X2_K16


def handshake_run(dut, source, sink, items, valid_rate, ready_rate, seed, watch=None):
    """Offer `items` (tuples of values for `source`'s data signals) on the `source` handshake with
    random TVALID-style gaps, accept on `sink` with random backpressure until 20 idle cycles
    after the last item; returns every transfer on `sink` as (*sampled data, cycle). `watch`, a
    testbench, runs beside them in the background."""
    (valid, ready, *data), (sink_valid, sink_ready, *sink_data) = source, sink
    rng = random.Random(seed)
    seen = []
    done = []

    async def send(ctx):
        for item in items:
            while rng.random() >= valid_rate:
                ctx.set(valid, 0)
                await ctx.tick()
            for signal, value in zip(data, item):
                ctx.set(signal, value)
            ctx.set(valid, 1)
            await ctx.tick().until(ready)
        ctx.set(valid, 0)
        done.append(True)

    async def receive(ctx):
        cycle = idle = 0
        while idle < 20:
            accept = int(rng.random() < ready_rate)
            ctx.set(sink_ready, accept)
            _, _, is_valid, *values = await ctx.tick().sample(sink_valid, *sink_data)
            cycle += 1
            if is_valid and accept:
                seen.append((*values, cycle))
            idle = idle + 1 if done else 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    if watch is not None:
        sim.add_testbench(watch, background=True)
    sim.run()
    return seen


def frame_beats(payload, payload_width, data_width):
    """Little-endian beats of one frame: beat j holds payload bits j·W .. j·W + W - 1."""
    mask = (1 << data_width) - 1
    return [(payload >> (j * data_width)) & mask for j in range(-(-payload_width // data_width))]


def assembler_run(payload_width, data_width, frames, valid_rate, ready_rate, seed, watch=None,
                  decode=None):
    """Send `frames` (lists of (tdata, tlast) beats) with TVALID gaps, take payloads under
    backpressure; returns (payload, cycle) of every payload taken. `watch(dut)` gives a
    testbench to run beside them; `decode` is the assembler's."""
    dut = StepAssembler(payload_width, data_width, decode=decode)
    return handshake_run(dut, (dut.axis.tvalid, dut.axis.tready, dut.axis.tdata, dut.axis.tlast),
                         (dut.payload.valid, dut.payload.ready, dut.payload.p),
                         [beat for frame in frames for beat in frame], valid_rate, ready_rate, seed,
                         watch=None if watch is None else watch(dut))


def good_frame(payload, payload_width, data_width):
    words = frame_beats(payload, payload_width, data_width)
    return [(word, int(j == len(words) - 1)) for j, word in enumerate(words)]


@pytest.mark.parametrize("payload_width, data_width, count", [(64, 64, 1), (65, 64, 2), (417, 32, 14), (8, 4096, 1)])
def test_beats_in_a_frame(payload_width, data_width, count):
    assert beats(payload_width, data_width) == count


@pytest.mark.parametrize("payload_width,data_width", [(150, 64), (64, 64), (40, 64), (17, 8)])
def test_assembler_payloads_survive_gaps_and_backpressure(payload_width, data_width):
    rng = random.Random(payload_width)
    payloads = [rng.getrandbits(payload_width) for _ in range(40)]
    frames = [good_frame(p, payload_width, data_width) for p in payloads]
    received = assembler_run(payload_width, data_width, frames, 0.6, 0.5, seed=1)
    assert [p for p, _ in received] == payloads


def test_assembler_ignores_tdata_bits_past_the_payload():
    frames = [[((1 << 64) - 1, 0), ((1 << 64) - 1, 0), ((1 << 64) - 1, 1)]]
    received = assembler_run(150, 64, frames, 1.0, 1.0, seed=2)
    assert [p for p, _ in received] == [(1 << 150) - 1]


def test_assembler_drops_short_and_long_frames_whole():
    width = 150
    first, second = 0x1234_5678_9ABC_DEF0_1122_3344 << 40, (1 << 149) | 0xBEEF
    short = [(0xAAAA, 0), (0xBBBB, 1)]
    long = [(0xCCCC, 0), (0xDDDD, 0), (0xEEEE, 0), (0xFFFF, 0), (0x1111, 1)]
    frames = [short, good_frame(first, width, 64), long, short, good_frame(second, width, 64)]
    received = assembler_run(width, 64, frames, 0.7, 0.7, seed=3)
    assert [p for p, _ in received] == [first, second]


def test_assembler_takes_one_beat_per_cycle_back_to_back():
    width, count = 150, 10
    payloads = list(range(1, count + 1))
    frames = [good_frame(p, width, 64) for p in payloads]
    received = assembler_run(width, 64, frames, 1.0, 1.0, seed=4)
    assert [p for p, _ in received] == payloads
    # the first payload is offered the cycle after its 3rd beat, then one every 3 cycles
    assert [cycle for _, cycle in received] == [3 * (i + 1) + 1 for i in range(count)]


@pytest.mark.parametrize("payload_width,data_width", [(150, 64), (64, 64), (17, 8)])
def test_assembler_tready_next_is_next_cycles_and_decoded_is_the_payloads(payload_width, data_width):
    # the step slice decides its output register's enable from tready_next a cycle ahead, and
    # the core reads the offered slot's one-hot form from `decoded` (`decoded_slot`): compared on
    # every cycle (the decode while a payload is offered) under gaps, backpressure and a dropped
    # frame
    rng = random.Random(payload_width + 1)
    payloads = [rng.getrandbits(payload_width) for _ in range(30)]
    frames = [good_frame(p, payload_width, data_width) for p in payloads]
    frames.insert(7, [(0xAAAA, 0)] * (beats(payload_width, data_width) + 2) + [(0xBBBB, 1)])
    compared, decodes = [], []

    def watch(dut):
        async def testbench(ctx):
            before = None
            async for _, _, tready_next, tready, valid, payload, decoded in ctx.tick().sample(
                    dut.tready_next, dut.axis.tready, dut.payload.valid, dut.payload.p, dut.decoded):
                if before is not None:
                    assert tready == before, f"cycle {len(compared)}"
                    compared.append(tready)
                if valid:
                    assert decoded == 1 << (payload >> (payload_width - 3)), f"cycle {len(compared)}"
                    decodes.append(decoded)
                before = tready_next
        return testbench

    received = assembler_run(payload_width, data_width, frames, 0.6, 0.5, seed=5, watch=watch,
                             decode=lambda payload: one_hot(payload[-3:]))
    assert [p for p, _ in received] == payloads
    # one comparison per cycle after the first: 30 frames of beats at least; a decode compared
    # on every cycle a payload was offered, at least once for each
    assert len(compared) >= 30 * beats(payload_width, data_width)
    assert len(decodes) >= len(payloads)


def serializer_run(payload_width, data_width, payloads, valid_rate, ready_rate, seed):
    """Offer `payloads` with gaps, take beats under backpressure; returns (tdata, tlast, cycle)
    of every beat taken."""
    dut = ResultSerializer(payload_width, data_width)
    return handshake_run(dut, (dut.payload.valid, dut.payload.ready, dut.payload.p),
                         (dut.axis.tvalid, dut.axis.tready, dut.axis.tdata, dut.axis.tlast),
                         [(p,) for p in payloads], valid_rate, ready_rate, seed)


@pytest.mark.parametrize("payload_width,data_width", [(37, 64), (64, 64), (133, 64), (9, 8)])
def test_serializer_frames_survive_gaps_and_backpressure(payload_width, data_width):
    rng = random.Random(payload_width + 1000)
    payloads = [rng.getrandbits(payload_width) for _ in range(40)]
    seen = serializer_run(payload_width, data_width, payloads, 0.6, 0.5, seed=5)
    expected = [beat for p in payloads for beat in good_frame(p, payload_width, data_width)]
    # the beats past the payload's end carry zeros, so whole beats compare equal
    assert [(tdata, tlast) for tdata, tlast, _ in seen] == expected


def test_serializer_sends_one_beat_per_cycle_back_to_back():
    width, count = 133, 8
    seen = serializer_run(width, 64, list(range(count)), 1.0, 1.0, seed=6)
    assert len(seen) == 3 * count
    # the first beat leaves the cycle after the payload is taken, then one a cycle
    assert [cycle for _, _, cycle in seen] == [2 + i for i in range(3 * count)]


@pytest.mark.parametrize("width", [0, 12, 4104, 64.0, True])
def test_data_width_not_whole_bytes_is_refused(width):
    with pytest.raises(ConfigError, match=r"AXI4-Stream data width must be a multiple of 8 from 8 to 4096, not"):
        check_data_width(width)



def slice_run(beats_in, valid_rate, ready_rate, seed):
    dut = RegisterSlice(16)
    return handshake_run(dut, (dut.sink.tvalid, dut.sink.tready, dut.sink.tdata, dut.sink.tlast),
                         (dut.source.tvalid, dut.source.tready, dut.source.tdata, dut.source.tlast),
                         beats_in, valid_rate, ready_rate, seed)


@pytest.mark.parametrize("valid_rate,ready_rate", [(0.5, 0.5), (1.0, 0.3), (0.3, 1.0), (0.9, 0.9)])
def test_register_slice_loses_no_beat_under_gaps_and_backpressure(valid_rate, ready_rate):
    rng = random.Random(int(100 * valid_rate + 10 * ready_rate))
    beats_in = [(rng.getrandbits(16), rng.getrandbits(1)) for _ in range(300)]
    seen = slice_run(beats_in, valid_rate, ready_rate, seed=7)
    assert [(tdata, tlast) for tdata, tlast, _ in seen] == beats_in


def test_register_slice_passes_one_beat_per_cycle_a_cycle_late():
    beats_in = [(i, i % 3 == 2) for i in range(50)]
    seen = slice_run(beats_in, 1.0, 1.0, seed=8)
    assert [(tdata, tlast) for tdata, tlast, _ in seen] == beats_in
    # the first beat is offered at cycle 0 and leaves the slice's register at cycle 1
    assert [cycle for _, _, cycle in seen] == [i + 2 for i in range(50)]


def test_axis_top_result_starts_latency_cycles_after_the_last_step_beat():
    """One step frame at one beat a cycle, no backpressure: the result frame's first beat is at
    the pins `AXISTop.latency` cycles after the step frame's last beat was taken."""
    top = AXISTop(TILE_1X2_K16, data_width=32)
    config = top.config
    zeros = [[0] * config.block]
    payload = config.pack_step(a=zeros * config.rows, a_scale=[127] * config.rows,
                               b=zeros * config.cols, b_scale=[127] * config.cols,
                               a_format=0, b_format=0)
    frame = good_frame(payload, config.step_layout.size, top.data_width)
    seen = {"last_beat": None, "result_beats": []}

    async def bench(ctx):
        ctx.set(top.m_axis_tready, 1)
        queue = list(frame)
        for cycle in range(4 * top.latency + 4 * len(frame)):
            if queue:
                tdata, tlast = queue[0]
                ctx.set(top.s_axis_tdata, tdata)
                ctx.set(top.s_axis_tlast, tlast)
                ctx.set(top.s_axis_tvalid, 1)
            else:
                ctx.set(top.s_axis_tvalid, 0)
            taken = ctx.get(top.s_axis_tvalid) and ctx.get(top.s_axis_tready)
            if ctx.get(top.m_axis_tvalid):
                seen["result_beats"].append(cycle)
            await ctx.tick()
            if taken:
                if queue.pop(0)[1]:
                    seen["last_beat"] = cycle

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["last_beat"] is not None
    assert len(seen["result_beats"]) == top.result_beats
    assert seen["result_beats"][0] - seen["last_beat"] == top.latency
