"""The processing element: multiply, align, block sum, specials, accumulate and its slot store.

A PE takes `lanes` decoded A and B operands a cycle (decoded once per row / column by the tile)
and, `block / lanes` cycles later, has the exact block sum of its step. Pipeline registers sit
after Multiply (`config.pipe_multiply`) and after the block sum (`config.pipe_sum`); the tile's
controller drives the control inputs at the stage they belong to.
"""

import operator
from functools import reduce

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .accumulate import Accumulate
from .formats import unpacked_layout
from .pipeline import delay

__all__ = ["Multiply", "Align", "Sum", "Specials", "SlotStore", "ProcessingElement", "product_layout"]


def product_layout(grid):
    """An exact product: `(-1)^sign · sig · 2^(grid.lsb + exp)`."""
    return data.StructLayout({
        # the product of two significands
        "sig": 2 * grid.sig_width,
        # the sum of two exponent offsets
        "exp": grid.exp_width + 1,
        "sign": 1,
    })


class Multiply(wiring.Component):
    """Multiply two decoded operands exactly (combinational): significands, exponents, signs."""

    def __init__(self, grid):
        self.grid = grid
        layout = unpacked_layout(grid)
        super().__init__({"a": In(layout), "b": In(layout), "product": Out(product_layout(grid))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.product.sig.eq(self.a.sig * self.b.sig),
            self.product.exp.eq(self.a.exp + self.b.exp),
            self.product.sign.eq(self.a.sign ^ self.b.sign),
        ]
        return m


class Align(wiring.Component):
    """Place an exact product on the fixed-point grid (combinational).

    `value + negative` is the product as a signed integer on the grid: a negative product is
    given in ones' complement and Sum adds the +1 of every negation at once.
    """

    def __init__(self, grid):
        self.grid = grid
        super().__init__({
            "product": In(product_layout(grid)),
            "value": Out(signed(grid.product_width)),
            "negative": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        magnitude = Signal(signed(self.grid.product_width))
        m.d.comb += [
            magnitude.eq(self.product.sig << self.product.exp),
            self.value.eq(Mux(self.product.sign, ~magnitude, magnitude)),
            self.negative.eq(self.product.sign),
        ]
        return m


class Sum(wiring.Component):
    """The exact sum of a block, `lanes` grid values a cycle.

    Each cycle adds `values` and the number of `negatives` (the products Align gave in ones'
    complement) in a balanced adder tree. `start` marks the first of a step's `chunks`
    consecutive cycles; `sum` is the running total including this cycle's values, so it is the
    block sum on the step's last cycle (combinational; the total is kept in a register).
    """

    def __init__(self, grid, lanes, chunks):
        self.grid, self.lanes, self.chunks = grid, lanes, chunks
        super().__init__({
            "values": In(data.ArrayLayout(signed(grid.product_width), lanes)),
            "negatives": In(lanes),
            "start": In(1),
            "sum": Out(signed(grid.sum_width)),
        })

    def elaborate(self, platform):
        m = Module()
        count = sum(self.negatives[i] for i in range(self.lanes))
        terms = [self.values[i] for i in range(self.lanes)] + [count]
        while len(terms) > 1:  # a balanced adder tree; each level's sums are one bit wider: exact
            terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
        if self.chunks == 1:
            m.d.comb += self.sum.eq(terms[0])
        else:
            partial = Signal(signed(self.grid.sum_width))
            m.d.comb += self.sum.eq(Mux(self.start, 0, partial) + terms[0])
            m.d.sync += partial.eq(self.sum)
        return m


class Specials(wiring.Component):
    """What the special operands of `lanes` products mean (combinational), SPEC §2 rules 2–5.

    nan     -- an element is NaN
    invalid -- a product is Inf × 0
    pos_inf, neg_inf -- a product is +Inf / -Inf (Inf times a nonzero number)
    """

    def __init__(self, grid, lanes):
        self.lanes = lanes
        layout = data.ArrayLayout(unpacked_layout(grid), lanes)
        super().__init__({
            "a": In(layout), "b": In(layout),
            "nan": Out(1), "invalid": Out(1), "pos_inf": Out(1), "neg_inf": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        nan, invalid, pos_inf, neg_inf = [], [], [], []
        for i in range(self.lanes):
            a, b = self.a[i], self.b[i]
            nan.append(a.nan | b.nan)
            invalid.append((a.inf & b.zero) | (a.zero & b.inf))
            inf = (a.inf & ~b.zero & ~b.nan) | (b.inf & ~a.zero & ~a.nan)
            pos_inf.append(inf & ~(a.sign ^ b.sign))
            neg_inf.append(inf & (a.sign ^ b.sign))
        m.d.comb += [
            self.nan.eq(Cat(nan).any()),
            self.invalid.eq(Cat(invalid).any()),
            self.pos_inf.eq(Cat(pos_inf).any()),
            self.neg_inf.eq(Cat(neg_inf).any()),
        ]
        return m


class SlotStore(wiring.Component):
    """The PE's `depth` accumulator slots: FP32 value and sticky flags, +0 and clear after reset.

    Read (combinational): `d`, `d_flags` of `read_slot`, or +0 / clear when `read_first`.
    Write (next edge): `write_d`, `write_flags` into `write_slot`, or +0 / clear when `write_last`.
    A slot number of `depth` or more (possible when depth is not a power of two) reads as +0 and
    stores nothing.
    """

    def __init__(self, config):
        self.depth = config.depth
        super().__init__({
            "read_slot": In(config.slot_width), "read_first": In(1),
            "d": Out(32), "d_flags": Out(4),
            "write": In(1), "write_slot": In(config.slot_width), "write_last": In(1),
            "write_d": In(32), "write_flags": In(4),
        })

    def elaborate(self, platform):
        m = Module()
        entry = data.StructLayout({"d": 32, "flags": 4})
        slots = [Signal(entry, name=f"slot{i}") for i in range(self.depth)]
        # one-hot read: a decoder and an AND-OR tree, no case statement with missing cases
        read = [Mux(~self.read_first & (self.read_slot == i), slot.as_value(), 0)
                for i, slot in enumerate(slots)]
        value = Signal(entry)
        m.d.comb += [value.eq(reduce(operator.or_, read)), self.d.eq(value.d), self.d_flags.eq(value.flags)]
        for i, slot in enumerate(slots):
            with m.If(self.write & (self.write_slot == i)):
                m.d.sync += [
                    slot.d.eq(Mux(self.write_last, 0, self.write_d)),
                    slot.flags.eq(Mux(self.write_last, 0, self.write_flags)),
                ]
        return m


class ProcessingElement(wiring.Component):
    """One PE of the tile.

    Stage M (operands `a`, `b`): Multiply, Specials; then a register if `config.pipe_multiply`.
    Stage S (`start`): Align, Sum; the block sum is ready on a step's last chunk; then a register
    if `config.pipe_sum`.
    Stage E (`a_scale`, `b_scale`, `format_invalid`): Accumulate prepares the block sum.
    Stage R (`slot`, `first`), `config.prepare_latency` cycles later: the slot is read.
    Stage W, `config.accumulate_latency` cycles after R: `result`/`flags` appear and `write`
    (with `write_slot`, `write_last`) stores them, or +0 when `last`.
    """

    def __init__(self, config, grid):
        self.config, self.grid = config, grid
        operands = data.ArrayLayout(unpacked_layout(grid), config.lanes)
        super().__init__({
            "a": In(operands), "b": In(operands),
            "start": In(1),
            "a_scale": In(8), "b_scale": In(8), "format_invalid": In(1),
            "slot": In(config.slot_width), "first": In(1),
            "write": In(1), "write_slot": In(config.slot_width), "write_last": In(1),
            "result": Out(32), "flags": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        config, grid, lanes = self.config, self.grid, self.config.lanes

        # stage M
        m.submodules.specials = specials = Specials(grid, lanes)
        m.d.comb += [specials.a.eq(self.a), specials.b.eq(self.b)]
        products = Signal(data.ArrayLayout(product_layout(grid), lanes))
        outs = []
        for i in range(lanes):
            m.submodules[f"multiply{i}"] = multiply = Multiply(grid)
            m.d.comb += [multiply.a.eq(self.a[i]), multiply.b.eq(self.b[i])]
            outs.append(multiply.product)
        # whole-vector assignments (here and below): per-element ones make Icarus very slow,
        # see Tile._unpack_chunk
        m.d.comb += products.eq(Cat(outs))
        chunk_flags = Cat(specials.nan, specials.invalid, specials.pos_inf, specials.neg_inf)

        products = delay(m, products, config.pipe_multiply, "products")
        chunk_flags = delay(m, chunk_flags, config.pipe_multiply, "chunk_flags")

        # stage S
        m.submodules.sum = block_sum = Sum(grid, lanes, config.cycles_per_step)
        values, negatives = [], []
        for i in range(lanes):
            m.submodules[f"align{i}"] = align = Align(grid)
            m.d.comb += align.product.eq(products[i])
            values.append(align.value)
            negatives.append(align.negative)
        m.d.comb += [block_sum.values.eq(Cat(values)), block_sum.negatives.eq(Cat(negatives))]
        m.d.comb += block_sum.start.eq(self.start)
        block_flags = Signal(4)  # the specials of every chunk so far, this one included
        if config.cycles_per_step == 1:
            m.d.comb += block_flags.eq(chunk_flags)
        else:
            sticky = Signal(4)
            m.d.comb += block_flags.eq(Mux(self.start, 0, sticky) | chunk_flags)
            m.d.sync += sticky.eq(block_flags)

        block = delay(m, block_sum.sum, config.pipe_sum, "block")
        block_flags = delay(m, block_flags, config.pipe_sum, "block_flags")

        # stage E: Accumulate starts; stage R: the slot is read; stage W: the result is written
        m.submodules.slots = slots = SlotStore(config)
        m.submodules.accumulate = acc = Accumulate(sum_width=grid.sum_width, grid_lsb=grid.lsb,
                                                   stages=config.acc_stages,
                                                   prepare_stages=config.prep_stages)
        scale_nan = (self.a_scale == 0xFF) | (self.b_scale == 0xFF)
        m.d.comb += [
            slots.read_slot.eq(self.slot),
            slots.read_first.eq(self.first),
            acc.sum.eq(block),
            # the block's weight is 2^(sa - 127) · 2^(sb - 127) on the grid
            acc.scale.eq(self.a_scale + self.b_scale - 254),
            acc.nan.eq(block_flags[0] | scale_nan),
            acc.invalid.eq(block_flags[1] | self.format_invalid),
            acc.pos_inf.eq(block_flags[2]),
            acc.neg_inf.eq(block_flags[3]),
            acc.d.eq(slots.d),
            acc.d_flags.eq(slots.d_flags),
            slots.write.eq(self.write),
            slots.write_slot.eq(self.write_slot),
            slots.write_last.eq(self.write_last),
            slots.write_d.eq(acc.result),
            slots.write_flags.eq(acc.flags),
            self.result.eq(acc.result),
            self.flags.eq(acc.flags),
        ]
        return m
