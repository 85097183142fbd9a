"""The FPGA prototyping top: the tile behind two AXI4-Stream ports of a narrow TDATA.

A host DMA sends each step as one AXI4-Stream frame of `ceil(step_bits / W)` beats, little-endian:
beat j carries payload bits `j·W .. j·W + W - 1` (bits past the payload's end are ignored on the
way in and zero on the way out), TLAST on the last beat. Results come back as frames of
`ceil(result_bits / W)` beats in the same order. A frame whose TLAST is not on its last beat is
dropped whole. No TKEEP, TSTRB, TID, TDEST or TUSER: every beat is full.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ConfigError
from .top import MXDPU, one_hot

__all__ = ["AXIStreamSignature", "StepAssembler", "ResultSerializer", "RegisterSlice", "AXISTop",
           "check_data_width", "beats"]

#: TDATA widths accepted: whole bytes, so that a host DMA and cocotbext-axi see byte lanes.
DATA_WIDTHS = range(8, 4096 + 1, 8)


def check_data_width(data_width):
    """Refuse a TDATA width that is not a whole number of bytes, in one line."""
    if not isinstance(data_width, int) or isinstance(data_width, bool) or data_width not in DATA_WIDTHS:
        raise ConfigError(f"AXI4-Stream data width must be a multiple of 8 from {DATA_WIDTHS.start} "
                         f"to {DATA_WIDTHS.stop - 1}, not {data_width!r}")


def beats(payload_width, data_width):
    """Beats in a frame that carries `payload_width` bits on a `data_width`-bit TDATA."""
    return -(-payload_width // data_width)


class AXIStreamSignature(wiring.Signature):
    """AXI4-Stream from the source's side: TDATA, TVALID, TLAST out, TREADY in."""

    def __init__(self, data_width):
        super().__init__({"tdata": Out(data_width), "tvalid": Out(1), "tlast": Out(1), "tready": In(1)})


class _Framing(wiring.Component):
    """What the assembler and the serialiser share: the ports and the number of beats in a frame
    (`count_beats`). `sink` says whether the AXI4-Stream side is the input."""

    def __init__(self, payload_width, data_width, sink):
        check_data_width(data_width)
        self.payload_width = payload_width
        self.data_width = data_width
        # the frame's beats; bits past the payload's end pad the last beat
        self.count_beats = beats(payload_width, data_width)
        axis, payload = (In, Out) if sink else (Out, In)
        super().__init__({
            "axis": axis(AXIStreamSignature(data_width)),
            "payload": payload(stream.Signature(payload_width)),
        })


class StepAssembler(_Framing):
    """Collect the beats of one frame into a payload (AXI4-Stream sink -> `lib.stream` source).

    Accepts one beat a cycle. A completed frame moves to the payload register, offered the cycle
    after its last beat, while the next frame's beats arrive; a last beat waits while the payload
    before it is still offered. TREADY is a flip-flop, decided a cycle ahead from the state alone
    (not from the beat arriving, whose TVALID and TLAST come from far away on the die): with more
    than one beat a frame it also drops while the next beat may be a last one and the payload
    was not taken (so a beat before the last may wait a cycle longer than it must, only while
    `payload.ready` is low). A stream of frames passes at one beat per cycle.
    """

    def __init__(self, payload_width, data_width, *, decode=None):
        super().__init__(payload_width, data_width, sink=True)
        #: TREADY next cycle (not an AXI4-Stream signal): a register slice before the assembler
        #: decides its output register's enable from it a cycle ahead (`RegisterSlice`)
        self.tready_next = Signal()
        #: with `decode`, a function of a payload's bits: `decoded` is its value for the payload
        #: offered (valid or not; not a `lib.stream` signal), a register loaded beside the payload
        #: register from the completed frame, so the sink reads it from flip-flops, decoded before
        #: the route from the beats, not after it (`MXDPU`'s `decoded_slot`)
        self.decode = decode
        if decode is not None:
            self.decoded = Signal(len(Value.cast(decode(Signal(payload_width)))))

    def elaborate(self, platform):
        m = Module()
        width, count_beats = self.data_width, self.count_beats
        # `position` is the next beat's index, one-hot, up to the frame's last. Beat j of a frame
        # (but the last) waits in register j, which loads TDATA whenever beat j is the next (it
        # keeps the beat that came): its enable is bit j of `position`, a flip-flop of its own,
        # so no net runs from the handshake to the bits of a frame. The last beat completes the
        # frame as it arrives. (No reset: `position` says which of them mean something.)
        position = Signal(count_beats, init=1)
        earlier = [Signal(width, name=f"beat{j}", reset_less=True) for j in range(count_beats - 1)]
        at_last = position[-1]
        # a beat went past the last one without TLAST: drop the frame when its TLAST comes
        overlong = Signal()
        # the payload means nothing while `full` is low, so it needs no reset
        payload = Signal(self.payload_width, reset_less=True)
        full = Signal()

        beat = Signal()
        tready = Signal(init=1)
        completed = Cat(*earlier, self.axis.tdata)  # the frame with this beat as its last
        # `full` again, from a flip-flop of its own for the sink (inverted, so that synthesis does
        # not merge the two): the sink's issue logic reads it beside itself, and the route from
        # the beats, far away on the die, ends in this flip-flop, not in that logic
        empty = Signal(init=1)
        m.d.comb += [
            self.axis.tready.eq(tready),
            beat.eq(self.axis.tvalid & self.axis.tready),
            self.payload.valid.eq(~empty),
            self.payload.p.eq(payload),
        ]
        # `position` and `full` next cycle, so that the payload register's enable can be a
        # register of its own, decided a cycle ahead. Each is one expression (no `m.If`): Icarus
        # runs a process only when one of its inputs changes, so a next-state process whose
        # inputs all hold still after reset would leave its register X
        position_next = Mux(beat, Mux(self.axis.tlast, 1, Mux(at_last, position, position << 1)),
                            position)[:count_beats]
        full_next = (beat & self.axis.tlast & at_last & ~overlong) | (full & ~self.payload.ready)
        m.d.sync += [position.eq(position_next), full.eq(full_next), empty.eq(~full_next)]
        # a last beat is taken only into an empty payload register: TREADY is low next cycle
        # while the payload may be full then and the beat a last one. With one beat a frame both
        # depend on this beat; with more, the payload is full next cycle without a frame
        # completing now only if it is kept now, and a completed frame starts the next one, so
        # the next beat may be a last one only after the last or the one before it
        if count_beats == 1:
            m.d.comb += self.tready_next.eq(~full_next)
        else:
            m.d.comb += self.tready_next.eq(
                ~(full & ~self.payload.ready & (at_last | position[-2])))
        m.d.sync += tready.eq(self.tready_next)
        # the payload register takes the completed frame whenever a beat now would be a frame's
        # last and the payload before it is gone (`full` says whether it was one), that is while
        # at_last & ~full: `load`, decided a cycle ahead from the next state, is a flip-flop
        # that drives only the enable, which fans out to every bit of a step
        load = Signal(init=count_beats == 1)
        m.d.sync += load.eq(position_next[-1] & ~full_next)
        with m.If(load):
            m.d.sync += payload.eq(completed[:self.payload_width])
            if self.decode is not None:
                m.d.sync += self.decoded.eq(self.decode(completed[:self.payload_width]))
        for j, register in enumerate(earlier):
            with m.If(position[j]):
                m.d.sync += register.eq(self.axis.tdata)
        with m.If(beat):
            with m.If(self.axis.tlast):
                m.d.sync += overlong.eq(0)
            with m.Elif(at_last):
                m.d.sync += overlong.eq(1)
        return m


class ResultSerializer(_Framing):
    """Send each payload as one frame of beats (`lib.stream` sink -> AXI4-Stream source).

    A payload is taken the cycle its predecessor's last beat leaves (or at once when idle) and
    its first beat is offered the next cycle; one beat a cycle under no backpressure.
    """

    def __init__(self, payload_width, data_width):
        super().__init__(payload_width, data_width, sink=False)

    def elaborate(self, platform):
        m = Module()
        width, count_beats = self.data_width, self.count_beats
        # the frame being sent shifts down one beat per transfer, zero-filled from the top (no
        # reset: `busy` says whether it means something); `count` is the index of the beat on TDATA
        frame = Signal(count_beats * width, name="frame", reset_less=True)
        count = Signal(range(count_beats))
        busy = Signal()

        last = Signal()
        beat = Signal()
        m.d.comb += [
            last.eq(count == count_beats - 1),
            beat.eq(self.axis.tvalid & self.axis.tready),
            self.axis.tdata.eq(frame[:width]),
            self.axis.tvalid.eq(busy),
            self.axis.tlast.eq(last),
            self.payload.ready.eq(~busy | (beat & last)),
        ]
        with m.If(beat):
            m.d.sync += frame.eq(Cat(frame[width:], Const(0, width)))
            with m.If(last):
                m.d.sync += [count.eq(0), busy.eq(0)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
        # the frame register takes the payload whenever it may take one, offered or not (`busy`
        # says whether it did), so its enable does not wait for the result buffer's `valid`
        with m.If(self.payload.ready):
            m.d.sync += [frame.eq(self.payload.p), busy.eq(self.payload.valid)]
        return m


class RegisterSlice(wiring.Component):
    """An AXI4-Stream register slice: `source`'s TDATA, TLAST, TVALID and `sink`'s TREADY all
    come from flip-flops, so no path runs combinationally from one side to the other (the pins
    of the FPGA top). A skid register takes the beat that arrives while the output is held.
    Latency: 1 cycle. Throughput: one beat a cycle.
    """

    def __init__(self, data_width, *, ready_ahead=False):
        check_data_width(data_width)
        self.data_width = data_width
        #: with `ready_ahead`, the source side's TREADY a cycle ahead, which the sink driven by
        #: `source` provides (`StepAssembler.tready_next`): the output register's enable is then
        #: a flip-flop of its own, decided a cycle ahead
        self.ready_ahead = ready_ahead
        if ready_ahead:
            self.source_tready_next = Signal()
        super().__init__({"sink": In(AXIStreamSignature(data_width)),
                          "source": Out(AXIStreamSignature(data_width))})

    def elaborate(self, platform):
        m = Module()
        # a beat: TDATA and TLAST
        incoming = Cat(self.sink.tdata, self.sink.tlast)
        # the beats mean nothing while their valid is low, so they need no reset (which would
        # sit in front of every bit's enable)
        held, held_valid = Signal(len(incoming), reset_less=True), Signal()
        skid, skid_valid = Signal(len(incoming), reset_less=True), Signal()
        arriving = Signal()
        m.d.comb += [
            self.sink.tready.eq(~skid_valid),
            arriving.eq(self.sink.tvalid & ~skid_valid),
            Cat(self.source.tdata, self.source.tlast).eq(held),
            self.source.tvalid.eq(held_valid),
        ]
        # the output register moves this edge
        if self.ready_ahead:
            move = Signal(init=1)
            held_valid_next = Mux(move, skid_valid | arriving, held_valid)
            m.d.sync += move.eq(~held_valid_next | self.source_tready_next)
        else:
            move = ~held_valid | self.source.tready
        with m.If(move):
            with m.If(skid_valid):
                m.d.sync += [held.eq(skid), held_valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [held.eq(incoming), held_valid.eq(arriving)]
        with m.Elif(arriving):
            m.d.sync += skid_valid.eq(1)
        # the skid register takes TDATA whenever it is empty, beat or not (`skid_valid` says
        # whether it holds one): its enable is `~skid_valid`, a flip-flop, not the handshake
        with m.If(~skid_valid):
            m.d.sync += skid.eq(incoming)
        return m


class AXISTop(wiring.Component):
    """The tile of `config` between an AXI4-Stream slave (`s_axis_*`, steps) and master
    (`m_axis_*`, results) of `data_width`-bit TDATA, in the default sync domain.

    Port names follow cocotbext-axi's `AxiStreamBus.from_prefix`. Each port passes a
    `RegisterSlice`, so every output pin comes from a flip-flop and every input pin goes to one
    through a single level of logic. A step's result starts `latency` = `config.latency + 4`
    cycles after its frame's last beat at the pins (one cycle in each slice, one to offer the
    assembled step, one to load the result serialiser), with no stalls; throughput is one beat a
    cycle while the tile keeps up (one step every `cycles_per_step` cycles).
    """

    def __init__(self, config, data_width=64):
        check_data_width(data_width)
        self.config = config
        self.data_width = data_width
        super().__init__({
            "s_axis_tdata": In(data_width),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(data_width),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        })

    @property
    def step_beats(self):
        """Beats in a step frame."""
        return beats(self.config.step_layout.size, self.data_width)

    @property
    def result_beats(self):
        """Beats in a result frame."""
        return beats(self.config.result_layout.size, self.data_width)

    @property
    def latency(self):
        """Cycles from a step frame's last beat to its result frame's first beat, without stalls."""
        return self.config.latency + 4

    def manifest(self, top="mxdpu_axis"):
        """The tile's manifest (SPEC §4) with this top's ports and framing: the field tables still
        say where each field sits in a step or result frame."""
        manifest = self.config.manifest(top)
        manifest["ports"] = {"clk": {"direction": "in", "width": 1}, "rst": {"direction": "in", "width": 1}}
        for (name,), member in self.signature.members.flatten():
            manifest["ports"][name] = {"direction": "in" if member.flow == In else "out",
                                       "width": Shape.cast(member.shape).width}
        manifest["axis"] = {
            "data_width": self.data_width,
            "step_beats": self.step_beats,
            "result_beats": self.result_beats,
            "byte_order": "little-endian: beat j carries payload bits j*W .. j*W+W-1, "
                          "byte i of a beat is TDATA bits 8*i+7 .. 8*i; TLAST on a frame's last beat",
            "latency": self.latency,
        }
        return manifest

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.assemble = assemble = StepAssembler(
            config.step_layout.size, self.data_width,
            decode=lambda payload: one_hot(config.step_layout(payload).slot))
        m.submodules.core = core = MXDPU(config, decoded_slot=True)
        m.d.comb += core.step_slot_one_hot.eq(assemble.decoded)
        m.submodules.serialize = serialize = ResultSerializer(config.result_layout.size, self.data_width)
        m.submodules.step_slice = step_slice = RegisterSlice(self.data_width, ready_ahead=True)
        m.d.comb += step_slice.source_tready_next.eq(assemble.tready_next)
        m.submodules.result_slice = result_slice = RegisterSlice(self.data_width)
        # the payload streams carry the same bits: the layouts of the core, flat on the framers
        wiring.connect(m, assemble.payload, core.step)
        wiring.connect(m, core.result, serialize.payload)
        wiring.connect(m, step_slice.source, assemble.axis)
        wiring.connect(m, serialize.axis, result_slice.sink)
        m.d.comb += [
            step_slice.sink.tdata.eq(self.s_axis_tdata),
            step_slice.sink.tvalid.eq(self.s_axis_tvalid),
            step_slice.sink.tlast.eq(self.s_axis_tlast),
            self.s_axis_tready.eq(step_slice.sink.tready),

            self.m_axis_tdata.eq(result_slice.source.tdata),
            self.m_axis_tvalid.eq(result_slice.source.tvalid),
            self.m_axis_tlast.eq(result_slice.source.tlast),
            result_slice.source.tready.eq(self.m_axis_tready),
        ]
        return m
