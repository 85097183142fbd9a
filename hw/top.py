"""The top level: the step and result streams of SPEC §3 around the tile."""

import operator
from collections import namedtuple
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .tile import Tile

__all__ = ["MXDPU", "SlotLookup", "one_hot", "slot_hazard"]


#: A step as the slot hazard sees it: its `first` bit and its slot, one-hot (`one_hot`).
SlotLookup = namedtuple("SlotLookup", "first slot")


def one_hot(slot):
    """The one-hot form of a slot number: bit i is set when `slot` is i, one bit for every number
    the field can hold."""
    return Cat(slot == i for i in range(1 << len(slot)))


def slot_hazard_outcomes(in_flight, held, offered, start):
    """`slot_hazard`'s two outcomes, (if the offered step is accepted, if the held one is kept)."""
    # `in_flight` has a bit for each of the `depth` slots; a slot number past them is never in it
    in_flight = Cat(in_flight, Const(0, len(held.slot) - len(in_flight)))
    # the AND-ORs read flip-flops only; `start`, itself logic, joins them at the end
    offered_in_flight = (in_flight & offered.slot).any()
    offered_is_held = (held.slot & offered.slot).any()
    if_accepted = ~offered.first & (offered_in_flight | (start & offered_is_held))
    if_kept = ~held.first & ((in_flight & held.slot).any() | start)
    return if_accepted, if_kept


def slot_hazard(in_flight, held, offered, start, accepted):
    """Whether the step held next cycle will find its slot in flight: it is the `offered` step
    when `accepted`, else the `held` one; in flight then are the held step when it `start`s
    issuing now, and the slots set in `in_flight`, one bit per slot: those of the steps issued
    1 .. accumulate_latency - 1 cycles ago. `held` and `offered` are `SlotLookup`s. A `first`
    step never finds a hazard (it does not read its slot).

    Each lookup is an AND-OR of one-hot vectors, no compare, and both outcomes are computed
    beside the issue logic and picked by `start` and `accepted` last, so the lookups do not
    wait for them (`sim.formal` proves this equal to comparing the chosen step's slot number
    with each step in flight, for every slot number below 2^slot_width).
    """
    return Mux(accepted, *slot_hazard_outcomes(in_flight, held, offered, start))


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

    With `decoded_slot`, an input `step_slot_one_hot` gives the offered step's slot in one-hot
    form (`one_hot(step.payload.slot)`, valid with the payload), which the step's source decodes
    into a register of its own (`StepAssembler`'s `decode`): the hazard lookups then start from
    flip-flops one level of logic from the source's beats, not from a decode after the route
    from the source, far away on the die.
    """

    def __init__(self, config, *, decoded_slot=False):
        self.config = config
        self.decoded_slot = decoded_slot
        decoded = {"step_slot_one_hot": In(1 << config.slot_width)} if decoded_slot else {}
        super().__init__({
            "step": In(stream.Signature(config.step_layout)),
            "result": Out(stream.Signature(config.result_layout)),
            **decoded,
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        chunks = config.cycles_per_step
        m.submodules.tile = tile = Tile(config)
        m.submodules.results = results = fifo.SyncFIFO(width=config.result_layout.size,
                                                       depth=config.result_buffer)

        # the input register and the chunk counter; `held` means nothing while `full` is low, so
        # it needs no reset. With pipe_unpack 2 the tile reads its own copy a cycle late (below):
        # `held` keeps only the fields the issue logic reads
        held_fields = (("first", "last") if config.registers_before_unpack
                       else tuple(config.step_layout.members))
        held = Signal(data.StructLayout({name: config.step_layout[name].shape
                                         for name in held_fields}), reset_less=True)
        full = Signal()
        busy = Signal()  # issuing chunks 1 .. chunks-1 of the held step
        chunk = Signal(range(chunks)) if chunks > 1 else Const(0, 1)
        # the slots of the held and the offered step in one-hot form, one bit for each slot
        # number the field can hold, for the hazard lookups: the held one is loaded with the held
        # register; the offered one is the source's register with `decoded_slot`
        held_slot = Signal(1 << config.slot_width, init=1, reset_less=True)
        offered_slot = (self.step_slot_one_hot if self.decoded_slot
                        else one_hot(self.step.payload.slot))

        # in flight: the steps issued 1 .. accumulate_latency - 1 cycles ago (a step issued now
        # would read its slot before they write theirs back), one bit per slot in `in_flight`,
        # a register: the OR of the one-hot slots in `issued`, the steps issued 1 ..
        # accumulate_latency - 2 cycles ago, and of the step issuing now
        in_flight = Signal(config.depth)
        issued = [Signal(config.depth, name=f"issued{i}")
                  for i in range(max(config.accumulate_latency - 2, 0))]
        # the held step's slot is in flight: a register, decided a cycle ahead for the step held
        # then (the one accepted now, or the one kept) against the steps in flight then (the
        # one issuing now and those issued 1 .. accumulate_latency - 1 cycles ago), so neither
        # `step.ready` nor the held register's enable waits for the compares
        hazard = Signal()
        # the held register loads whenever it may take a step (see below); `step.ready` and the
        # issue logic read the same decision from a flip-flop of their own, `stall` (below), so
        # that `load` drives only the held register's enables
        load = Signal(init=1)
        stall = Signal()
        accepted = self.step.valid & ~stall & ~ResetSignal()

        # results issued and not yet released from the buffer: 0 .. result_buffer. Beside it two
        # registers: `room` (reserved < result_buffer), so `start` is one level of logic from
        # flip-flops, and `spare` (reserved < result_buffer - 1: room after one more), so that
        # `room`'s next value, which `load`'s next value waits for, is a pick, not a compare
        reserved = Signal(range(config.result_buffer + 1))
        room, spare = Signal(init=1), Signal(init=config.result_buffer > 1)

        def decide(full, busy, hazard, last, room, chunk):
            """(start, done) of an issue state: chunk 0 of the held step issues; its last does."""
            start = full & ~busy & ~hazard & (~last | room)
            return start, (start | busy) & (chunk == chunks - 1)

        start, done = Signal(), Signal()
        m.d.comb += Cat(start, done).eq(Cat(*decide(full, busy, hazard, held.last, room, chunk)))
        issue = start | busy

        # the control registers' next values (`full`'s is accepted | kept; busy_next, chunk_next,
        # room_next), so that the held register's enable can be a register of its own, decided a
        # cycle ahead. Each is one expression (no `m.If`): Icarus runs a process only when one of
        # its inputs changes, so a next-state process whose inputs all hold still after reset
        # would leave its register X
        kept = full & ~done  # the held step stays
        m.d.sync += full.eq(accepted | kept)
        hazard_if_accepted = hazard_if_kept = hazard
        if config.accumulate_latency:
            issuing = Mux(start, held_slot[:config.depth], 0)
            for newer, older in zip([issuing] + issued, issued):
                m.d.sync += older.eq(newer)
            if config.accumulate_latency > 1:
                m.d.sync += in_flight.eq(reduce(operator.or_, issued, issuing))
            hazard_if_accepted, hazard_if_kept = slot_hazard_outcomes(
                in_flight, SlotLookup(held.first, held_slot),
                SlotLookup(self.step.payload.first, offered_slot), start)
            m.d.sync += hazard.eq(Mux(accepted, hazard_if_accepted, hazard_if_kept))
        busy_next, chunk_next = busy, chunk
        if chunks > 1:
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
        grow, shrink = reserve & ~released, ~reserve & released
        with m.If(grow):
            m.d.sync += reserved.eq(reserved + 1)
        with m.Elif(shrink):
            m.d.sync += reserved.eq(reserved - 1)
        room_next = Mux(grow, spare, Mux(shrink, 1, room))
        # the compare feeds only `spare`'s flip-flop
        spare_next = Mux(grow, reserved < config.result_buffer - 2, Mux(shrink, room, spare))
        m.d.sync += [room.eq(room_next), spare.eq(spare_next)]

        # the held register loads whenever it may take a step, offered or not (`full` says
        # whether it did), that is while ~full | done. `load` is that decision made a cycle
        # ahead from the next state: a flip-flop that drives the enable, which fans out to every
        # bit of a step, with no logic between them. Like the hazard, both outcomes are
        # computed beside the issue logic and picked by `accepted` last: an accepted step is
        # held next cycle at its chunk 0 (nothing else is issuing then); a kept one while it has
        # not issued its last chunk
        with m.If(load):
            m.d.sync += [*(held[name].eq(self.step.payload[name]) for name in held_fields),
                         held_slot.eq(offered_slot)]
        _, done_if_accepted = decide(Const(1), Const(0), hazard_if_accepted, self.step.payload.last,
                                     room_next, Const(0, chunk.shape()))
        _, done_if_kept = decide(kept, busy_next, hazard_if_kept, held.last, room_next, chunk_next)
        load_next = Mux(accepted, done_if_accepted, ~kept | done_if_kept)
        m.d.sync += load.eq(load_next)
        # `step.ready` is ~full | done too, so it is `load`, from a flip-flop of its own (inverted,
        # so that synthesis does not merge the two): the source (the AXI top's step assembler
        # decides its own enables from it) and the issue logic see a flip-flop beside them, and
        # `load` stays beside the held register. Low during reset: a step offered then would be
        # taken and dropped by the reset
        m.d.sync += stall.eq(~load_next)
        m.d.comb += self.step.ready.eq(~stall & ~ResetSignal())

        # with pipe_unpack 2 the register before Unpack is the tile's step: the held step a cycle
        # late, loaded with `load` a cycle later from a copy of the offered step taken every
        # cycle. The enable of the step's wide part then comes from a flip-flop fed by `load`
        # alone, which may travel a whole cycle to it, and `load` drives only what the issue
        # logic reads (`held`: first, last; the one-hot slot), beside it. The format copies
        # (`Tile`) are loaded with it
        if config.registers_before_unpack:
            offered = Signal(config.step_layout, reset_less=True)
            load_late = Signal()
            step_late = Signal(config.step_layout, reset_less=True)
            m.d.sync += [offered.eq(self.step.payload), load_late.eq(load)]
            with m.If(load_late):
                m.d.sync += step_late.eq(offered)
            for index, copy in enumerate(tile.format_codes):
                # kept apart by the synthesis flow (Yosys would merge them)
                kept_copy = Signal(len(copy), name=f"formats{index}", reset_less=True,
                                   attrs={"keep": 1})
                with m.If(load_late):
                    m.d.sync += kept_copy.eq(Cat(offered.a_format, offered.b_format))
                m.d.comb += copy.eq(kept_copy)
            m.d.comb += tile.step.eq(step_late)
            m.d.sync += tile.issue.eq(issue)
            if chunks > 1:
                m.d.sync += tile.chunk.eq(chunk)
        else:
            m.d.comb += tile.step.eq(held), tile.issue.eq(issue)
            if chunks > 1:
                m.d.comb += tile.chunk.eq(chunk)
        m.d.comb += [
            results.w_en.eq(tile.done & tile.last),
            result.d.eq(tile.d), result.flags.eq(tile.flags), result.slot.eq(tile.slot),
            results.w_data.eq(result),
        ]
        # the buffer's read side is the result stream (same payload width, the bits as laid out)
        wiring.connect(m, results.r_stream, wiring.flipped(self.result))
        return m
