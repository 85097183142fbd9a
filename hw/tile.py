"""The tile: R × C processing elements in lockstep, operands decoded once per row and column."""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import LANES_PER_FORMAT_COPY
from .formats import Grid, unpacked_layout
from .pe import ProcessingElement, SharedAccumulate
from .pipeline import delay
from .unpack import Unpack
from .vendor import formats_invalid

__all__ = ["Tile"]


class Tile(wiring.Component):
    """The datapath of every PE and the control that travels beside it.

    `step` must hold for the `block / lanes` consecutive cycles of a step, `issue` high on each,
    `chunk` counting 0 .. block/lanes - 1 (no `chunk` when a step takes one cycle).
    Latency: `Config.registers_after_unpack + Config.front_latency + Config.share_latency
    + Config.prepare_latency + Config.accumulate_latency` cycles after a step's last chunk,
    `done` pulses with the step's `slot` and `last`, and `d` / `flags` hold every PE's new slot
    value (written to the slot then or, for a PE served earlier by its shared Accumulate, up to
    share_latency cycles before and held). Throughput: a chunk a cycle.
    The PEs, in row-major order, are taken in groups of `acc_share` with one Accumulate each
    (`SharedAccumulate`); PE j of a group reads and writes its slot j cycles after PE 0.
    The step's `mode` (SPEC §6; with one mode built, that mode) travels beside `slot`, `first` and
    `last` to the slot read and the write; its formats and `chunk` go to the vendor path's stage M.
    The caller never issues a step that reads a slot before its previous value is written.
    With pipe_unpack 2 the register before Unpack (`Config.registers_before_unpack`) is the
    caller's, which then also gives `format_codes`: `Config.format_copies` registered copies of
    `Cat(step.a_format, step.b_format)`, each read by LANES_PER_FORMAT_COPY lanes' Unpacks.
    """

    def __init__(self, config):
        self.config = config
        self.grid = Grid(config)
        members = {
            "step": In(config.step_layout),
            "issue": In(1),
            "done": Out(1),
            "slot": Out(config.slot_width),
            "last": Out(1),
            "d": Out(config.result_layout["d"].shape),
            "flags": Out(config.result_layout["flags"].shape),
        }
        if config.cycles_per_step > 1:
            members["chunk"] = In(range(config.cycles_per_step))
        if config.format_copies:
            codes_width = config.step_layout["a_format"].width + config.step_layout["b_format"].width
            members["format_codes"] = In(data.ArrayLayout(codes_width, config.format_copies))
        super().__init__(members)
        if config.cycles_per_step == 1:
            self.chunk = Const(0, 1)

    def _format_codes(self):
        """The step's (a_format, b_format) as each lane's Unpack reads them: a copy of
        `format_codes` per LANES_PER_FORMAT_COPY lanes when there are copies, else the step's own."""
        config = self.config
        if not config.format_copies:
            return [Cat(self.step.a_format, self.step.b_format)] * config.lanes
        return [copy for copy in self.format_codes for _ in range(LANES_PER_FORMAT_COPY)]

    def _unpack_chunk(self, m, name, elements, operand, codes):
        """Decode this cycle's `lanes` elements of one row of A or column of B (`operand` 0 or
        1: which of each lane's `codes` (a_format, b_format) is theirs)."""
        config, lanes = self.config, self.config.lanes
        chunk = elements.as_value().word_select(self.chunk, lanes * 8)
        out = Signal(data.ArrayLayout(unpacked_layout(self.grid), lanes), name=f"{name}_unpacked")
        outs = []
        for i in range(lanes):
            m.submodules[f"unpack_{name}_{i}"] = unpack = Unpack(self.grid)
            fmt = codes[i].word_select(operand, 3)
            m.d.comb += [unpack.code.eq(chunk.word_select(i, 8)), unpack.format.eq(fmt)]
            outs.append(unpack.out)
        # one whole-vector assignment, not one per element: Icarus turns per-element part
        # assignments into a strength-aware (vec8) concatenation whose every change is reduced
        # bit by bit in each of the many part-selects reading the vector (seconds per step)
        m.d.comb += out.eq(Cat(outs))
        return delay(m, out, config.registers_after_unpack, f"{name}_unpacked")

    def elaborate(self, platform):
        m = Module()
        config, step = self.config, self.step
        cfg_rows, cfg_cols, chunks = config.rows, config.cols, config.cycles_per_step

        # stage 0 (issue) -> stage M (multiply): decode once per row of A and per column of B
        codes = self._format_codes()
        a = [self._unpack_chunk(m, f"a{r}", step.a[r], 0, codes) for r in range(cfg_rows)]
        b = [self._unpack_chunk(m, f"b{c}", step.b[c], 1, codes) for c in range(cfg_cols)]

        # the control beside the datapath, at the stage each part is used; the register before
        # Unpack, if any, is the caller's
        to_multiply = config.registers_after_unpack
        start = delay(m, self.chunk == 0, to_multiply, "start")
        to_entry = to_multiply + config.front_latency
        block_done = delay(m, self.issue & (self.chunk == chunks - 1), to_entry, "block_done")
        control = Signal(data.StructLayout({
            "slot": config.slot_width, "first": 1, "last": 1, "mode": 2, "format_invalid": 1,
            "a_scale": data.ArrayLayout(8, cfg_rows), "b_scale": data.ArrayLayout(8, cfg_cols),
        }))
        # with one mode built there is no mode field: every step runs in that mode (SPEC §6)
        mode = step.mode if config.has_mode_field else Const(config.mode_codes[0], 2)
        m.d.comb += [
            control.slot.eq(step.slot),
            control.first.eq(step.first),
            control.last.eq(step.last),
            control.mode.eq(mode),
            control.format_invalid.eq(formats_invalid(config, self.grid, mode, step.a_format, step.b_format)),
            control.a_scale.eq(step.a_scale),
            control.b_scale.eq(step.b_scale),
        ]
        entry = delay(m, control, to_entry, "entry")
        # the slot is read when Accumulate has prepared the block sum, written back
        # accumulate_latency cycles later
        slot_use = Signal(data.StructLayout({"done": 1, "slot": config.slot_width, "first": 1,
                                             "last": 1, "mode": 2}))
        m.d.comb += [slot_use.done.eq(block_done), slot_use.slot.eq(entry.slot),
                     slot_use.first.eq(entry.first), slot_use.last.eq(entry.last),
                     slot_use.mode.eq(entry.mode)]
        ahead = int(config.slot_select_ahead)
        before_read = delay(m, slot_use, config.prepare_latency - ahead, "read")
        read = delay(m, before_read, ahead, "read_ahead")
        written = delay(m, read, config.accumulate_latency, "write")
        # a shared Accumulate's member j reads and writes its slot j cycles later
        share = config.acc_share
        reads, writes, selects = [read], [written], [before_read]
        for j in range(1, share):
            selects.append(reads[-1])
            reads.append(delay(m, reads[-1], 1, f"read_member{j}"))
            writes.append(delay(m, writes[-1], 1, f"write_member{j}"))
        last_write = writes[-1]  # the group's last member: the tile's result leaves with it
        m.d.comb += [self.done.eq(last_write.done), self.slot.eq(last_write.slot),
                     self.last.eq(last_write.last)]

        # the vendor path's stage M: the formats and the cycle's place in the step
        at_multiply = delay(m, Cat(step.a_format, step.b_format, self.chunk), to_multiply,
                            "multiply_control")
        exact = "exact" in config.modes
        for index in range(cfg_rows * cfg_cols):
            r, c = divmod(index, cfg_cols)
            group, j = divmod(index, share)
            if exact and j == 0:
                # named for the synthesis report's accumulate stage (with its held blocks)
                m.submodules[f"accumulate{group}"] = shared = SharedAccumulate(config, self.grid)
                m.d.comb += shared.load.eq(block_done)
            m.submodules[f"pe{r}_{c}"] = pe = ProcessingElement(config, self.grid, member=j)
            # the slot's select a cycle ahead of the read when the PE decodes it into a register
            read_j, write_j, select_j = reads[j], writes[j], (selects[j] if ahead else reads[j])
            m.d.comb += [
                pe.a.eq(a[r]), pe.b.eq(b[c]), pe.start.eq(start),
                pe.a_format.eq(at_multiply[:3]), pe.b_format.eq(at_multiply[3:6]),
                pe.a_scale.eq(entry.a_scale[r]), pe.b_scale.eq(entry.b_scale[c]),
                pe.format_invalid.eq(entry.format_invalid),
                pe.slot.eq(select_j.slot), pe.first.eq(select_j.first), pe.mode.eq(read_j.mode),
                pe.write.eq(write_j.done), pe.write_slot.eq(write_j.slot),
                pe.write_last.eq(write_j.last), pe.write_mode.eq(write_j.mode),
            ]
            if exact:
                m.d.comb += [
                    shared.blocks[j].eq(pe.block), shared.d[j].eq(pe.d),
                    shared.d_flags[j].eq(pe.d_flags),
                    pe.exact_result.eq(shared.result), pe.exact_flags.eq(shared.flags),
                ]
            if chunks > 1:
                m.d.comb += pe.chunk.eq(at_multiply[6:])
            if j == share - 1:
                m.d.comb += [self.d[r][c].eq(pe.result), self.flags[r][c].eq(pe.flags)]
            else:
                # written earlier than the group's last member: held until the tile's result
                # d (32 bits) and flags (4), the result as `Cat(result, flags)`
                held = Signal(36, name=f"result{r}_{c}", reset_less=True)
                with m.If(write_j.done):
                    m.d.sync += held.eq(Cat(pe.result, pe.flags))
                m.d.comb += [self.d[r][c].eq(held[:32]), self.flags[r][c].eq(held[32:])]
        return m
