"""The top level: the step and result streams of SPEC §3 around the tile."""

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .tile import Tile

__all__ = ["MXDPU", "slot_hazard"]


def slot_hazard_outcomes(older, held, offered, start):
    """`slot_hazard`'s two outcomes, (if the offered step is accepted, if the held one is kept)."""
    def meets(slot):
        return Cat(*(valid & (other == slot) for valid, other in older)).any()
    if_accepted = ~offered.first & (meets(offered.slot) | (start & (held.slot == offered.slot)))
    if_kept = ~held.first & (meets(held.slot) | start)
    return if_accepted, if_kept


def slot_hazard(older, held, offered, start, accepted):
    """Whether the step held next cycle will find its slot in flight: it is the `offered` step
    when `accepted`, else the `held` one; in flight then are the held step when it `start`s
    issuing now, and `older`, the (valid, slot) of the steps issued 1 .. accumulate_latency - 1
    cycles ago. A `first` step never finds a hazard (it does not read its slot).

    Both outcomes are computed beside the issue logic and picked by `start` and `accepted` last,
    so the compares do not wait for them (`sim.formal` proves this equal to comparing the chosen
    step's slot).
    """
    return Mux(accepted, *slot_hazard_outcomes(older, held, offered, start))


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

        # the input register and the chunk counter; `held` means nothing while `full` is low, so
        # it needs no reset
        held = Signal(config.step_layout, reset_less=True)
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

        # results issued and not yet released from the buffer: 0 .. result_buffer; `room`
        # (reserved < result_buffer) is a register beside it, so `start` is one level of logic
        # from flip-flops
        reserved = Signal(range(config.result_buffer + 1))
        room = Signal(init=1)

        def decide(full, busy, hazard, last, room, chunk):
            """(start, done) of an issue state: chunk 0 of the held step issues; its last does."""
            start = full & ~busy & ~hazard & (~last | room)
            return start, (start | busy) & (chunk == chunks - 1)

        start, done = Signal(), Signal()
        m.d.comb += Cat(start, done).eq(Cat(*decide(full, busy, hazard, held.last, room, chunk)))
        issue = start | busy
        # low during reset: a step offered then would be taken and dropped by the reset
        m.d.comb += self.step.ready.eq((~full | done) & ~ResetSignal())

        # the control registers' next values (`full`'s is accepted | kept; busy_next, chunk_next,
        # room_next), so that the held register's enable can be a register of its own, decided a
        # cycle ahead. Each is one expression (no `m.If`): Icarus runs a process only when one of
        # its inputs changes, so a next-state process whose inputs all hold still after reset
        # would leave its register X
        kept = full & ~done  # the held step stays
        m.d.sync += full.eq(accepted | kept)
        hazard_if_accepted = hazard_if_kept = hazard
        if recent:
            m.d.sync += [recent[0].valid.eq(start), recent[0].slot.eq(held.slot)]
            older = [(e.valid, e.slot) for e in recent[:-1]]
            hazard_if_accepted, hazard_if_kept = slot_hazard_outcomes(older, held, self.step.payload, start)
            m.d.sync += hazard.eq(Mux(accepted, hazard_if_accepted, hazard_if_kept))
        busy_next, chunk_next = busy, chunk
        if chunks > 1:
            m.d.comb += tile.chunk.eq(chunk)
            busy_next = issue & ~done
            chunk_next = Mux(done, 0, Mux(issue, chunk + 1, chunk))
            m.d.sync += [busy.eq(busy_next), chunk.eq(chunk_next)]

        result = Signal(config.result_layout)
        # a result taken out of the buffer frees its place a cycle later: `released` is a
        # register, so no path runs from the result stream's handshake (whose nets also enable
        # the output side's wide registers) into the issue decision
        released = Signal()
        m.d.sync += released.eq(self.result.valid & self.result.ready)
        reserve = start & held.last
        with m.If(reserve & ~released):
            m.d.sync += reserved.eq(reserved + 1)
        with m.Elif(~reserve & released):
            m.d.sync += reserved.eq(reserved - 1)
        room_next = Mux(reserve & ~released, reserved < config.result_buffer - 1,
                        Mux(~reserve & released, 1, room))
        m.d.sync += room.eq(room_next)

        # the held register loads whenever it may take a step, offered or not (`full` says
        # whether it did), that is while ~full | done. `load` is that decision made a cycle
        # ahead from the next state: a flip-flop that drives only the enable, which fans out to
        # every bit of a step, with no logic between them. Like the hazard, both outcomes are
        # computed beside the issue logic and picked by `accepted` last: an accepted step is
        # held next cycle at its chunk 0 (nothing else is issuing then); a kept one while it has
        # not issued its last chunk
        load = Signal(init=1)
        with m.If(load):
            m.d.sync += held.eq(self.step.payload)
        _, done_if_accepted = decide(Const(1), Const(0), hazard_if_accepted, self.step.payload.last,
                                     room_next, Const(0, chunk.shape()))
        _, done_if_kept = decide(kept, busy_next, hazard_if_kept, held.last, room_next, chunk_next)
        m.d.sync += load.eq(Mux(accepted, done_if_accepted, ~kept | done_if_kept))

        m.d.comb += [
            tile.step.eq(held), tile.issue.eq(issue),
            results.w_en.eq(tile.done & tile.last),
            result.d.eq(tile.d), result.flags.eq(tile.flags), result.slot.eq(tile.slot),
            results.w_data.eq(result),
        ]
        # the buffer's read side is the result stream (same payload width, the bits as laid out)
        wiring.connect(m, results.r_stream, wiring.flipped(self.result))
        return m
