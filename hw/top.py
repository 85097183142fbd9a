"""The top level: the step and result streams of SPEC §3 around the tile."""

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .tile import Tile

__all__ = ["MXDPU"]


class MXDPU(wiring.Component):
    """MX dot-product unit: `step` in, one `result` per `last` step out, in order.

    An accepted step waits in an input register until it can issue: its slot is not still in
    flight (unless it is a `first` step, which does not read the slot) and, for a `last` step,
    the result buffer has room for it and every result already in flight. It then occupies the
    tile for `block / lanes` cycles. `step.ready` depends only on state and is low while `rst` is
    high (a step offered during reset is not taken).

    Throughput: one step every `config.cycles_per_step` cycles while consecutive uses of a slot
    are at least `config.acc_latency` steps apart. Latency: `config.latency` cycles from a last
    step's acceptance to its result's `valid`, without stalls.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "step": In(stream.Signature(config.step_layout)),
            "result": Out(stream.Signature(config.result_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        chunks = config.cycles_per_step
        m.submodules.tile = tile = Tile(config)
        m.submodules.results = results = fifo.SyncFIFO(width=config.result_layout.size,
                                                       depth=config.result_buffer)

        # the input register and the chunk counter
        held = Signal(config.step_layout)
        full = Signal()
        busy = Signal()  # issuing chunks 1 .. chunks-1 of the held step
        chunk = Signal(range(chunks)) if chunks > 1 else Const(0, 1)

        # in flight: the steps issued 1 .. accumulate_latency cycles ago, newest first; a step
        # issued now would read its slot before they write theirs back
        issued = data.StructLayout({"valid": 1, "slot": config.slot_width})
        recent = [Signal(issued, name=f"recent{i}") for i in range(config.accumulate_latency)]
        for newer, older in zip(recent, recent[1:]):
            m.d.sync += older.eq(newer)
        # the held step's slot is in flight: a register, decided a cycle ahead for the step held
        # then (the one accepted now, or the one kept) against the steps in flight then (the
        # one issuing now and those issued 1 .. accumulate_latency - 1 cycles ago), so neither
        # `step.ready` nor the held register's enable waits for the compares
        hazard = Signal()
        accepted = self.step.valid & self.step.ready

        # results issued and not yet taken out of the buffer: 0 .. result_buffer
        reserved = Signal(range(config.result_buffer + 1))
        room = reserved < config.result_buffer

        start = Signal()  # chunk 0 of the held step issues
        m.d.comb += start.eq(full & ~busy & ~hazard & (~held.last | room))
        issue = start | busy
        done = Signal()  # the held step issues its last chunk
        m.d.comb += [
            done.eq(issue & (chunk == chunks - 1)),
            # low during reset: a step offered then would be taken and dropped by the reset
            self.step.ready.eq((~full | done) & ~ResetSignal()),
        ]
        if recent:
            m.d.sync += [recent[0].valid.eq(start), recent[0].slot.eq(held.slot)]
            next_slot = Mux(accepted, self.step.payload.slot, held.slot)
            next_first = Mux(accepted, self.step.payload.first, held.first)
            in_flight = [(start, held.slot)] + [(e.valid, e.slot) for e in recent[:-1]]
            m.d.sync += hazard.eq(~next_first & Cat(*(valid & (slot == next_slot)
                                                       for valid, slot in in_flight)).any())

        with m.If(accepted):
            m.d.sync += [held.eq(self.step.payload), full.eq(1)]
        with m.Elif(done):
            m.d.sync += full.eq(0)
        if chunks > 1:
            m.d.comb += tile.chunk.eq(chunk)
            with m.If(issue):
                m.d.sync += chunk.eq(chunk + 1)
                m.d.sync += busy.eq(1)
            with m.If(done):
                m.d.sync += [chunk.eq(0), busy.eq(0)]

        result = Signal(config.result_layout)
        taken = self.result.valid & self.result.ready
        with m.If((start & held.last) & ~taken):
            m.d.sync += reserved.eq(reserved + 1)
        with m.Elif(~(start & held.last) & taken):
            m.d.sync += reserved.eq(reserved - 1)

        m.d.comb += [
            tile.step.eq(held), tile.issue.eq(issue),
            results.w_en.eq(tile.done & tile.last),
            result.d.eq(tile.d), result.flags.eq(tile.flags), result.slot.eq(tile.slot),
            results.w_data.eq(result),
        ]
        # the buffer's read side is the result stream (same payload width, the bits as laid out)
        wiring.connect(m, results.r_stream, wiring.flipped(self.result))
        return m
