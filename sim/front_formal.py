"""Formal equivalence of the PE front end with plain references, for every input, with YoWASP
Yosys' SAT solver (`sat`). Three miters, each with a `plant` switch that adds a deliberate
difference so a test can show the check fails when it should:

- `LaneMiter`: Multiply then PlaceOnGrid against `±(sig_a · sig_b) << (exp_a + exp_b)` taken
  modulo 2^product_width (the identity for every operand Unpack gives: the grid holds every
  product, tests/hw/test_pe.py checks every pair), all operand bits free. Combinational, or
  with the registers `pipe_multiply` 2 or 3 puts inside Multiply and PlaceOnGrid, against the
  operands as many cycles earlier.
- `SumMiter`: Sum (offset-binary rows, bit slices, tree registers, running totals over the
  chunks, slice joins) against the plain signed sum of the rows, over one step: `start` on the
  first chunk, every row bit and the whole initial state free, the sums compared `sum_latency`
  cycles after the last chunk (`sat -seq`). The reference adds each bit slice's rows in the same
  balanced-tree order as Sum (SAT does not re-associate a 16-row adder tree in useful time), so
  the proof covers all of Sum but the associativity of +: the offset binary, the joins of the
  slices and their carries, the running totals and every register.

- `SpecialsMiter`: Specials with its register (the lanes OR-ed in groups, then the groups)
  against the plain OR over every lane one cycle earlier, every operand bit of every lane free.

`BlockSum`'s wiring of the three (the pipeline registers between them, `start`, the specials)
is checked by simulation (tests/hw/test_top.py, every pipeline setting).
"""

from amaranth.back import rtlil
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal, signed
from amaranth.lib import data

from mxdpu.hw.formats import Grid, unpacked_layout
from mxdpu.hw.pe import Multiply, PlaceOnGrid, Specials, Sum, bit_slices
from mxdpu.hw.pipeline import delay
from mxdpu.sim import formal

__all__ = ["LaneMiter", "SumMiter", "SpecialsMiter", "prove"]


def _tree(terms):
    """Pairwise sums, level by level, as Sum's tree adds them."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


class LaneMiter(Elaboratable):
    """Multiply and PlaceOnGrid with the registers `config.pipe_multiply` puts inside them,
    against the plain product on the grid of the operands `latency` cycles earlier; `trigger`
    when they differ. `plant` flips bit 0 of the row when both significands are 0b1011 and the
    exponents 3 and 5."""

    def __init__(self, config, plant=False):
        self.grid, self.plant = Grid(config), plant
        self.multiply = Multiply(self.grid, registers=config.multiply_registers)
        self.place = PlaceOnGrid(self.grid, cut=config.place_cut)
        self.a = Signal(unpacked_layout(self.grid), name="a")
        self.b = Signal(unpacked_layout(self.grid), name="b")
        self.trigger = Signal(name="trigger")

    @property
    def latency(self):
        """`prove` unrolls this deep."""
        return self.multiply.latency + self.place.latency

    def ports(self):
        return [self.a.as_value(), self.b.as_value(), self.trigger]

    def elaborate(self, platform):
        m = Module()
        grid, a, b = self.grid, self.a, self.b
        m.submodules.multiply = multiply = self.multiply
        m.submodules.place = place = self.place
        m.d.comb += [multiply.a.eq(a), multiply.b.eq(b), place.product.eq(multiply.product)]
        a, b = (delay(m, operand, self.latency, f"earlier_{name}", reset_less=True)
                for name, operand in (("a", a), ("b", b)))
        magnitude = a.sig * b.sig
        reference = (Mux(a.sign ^ b.sign, -magnitude, magnitude) << (a.exp + b.exp))[:grid.product_width]
        # PlaceOnGrid's row is offset binary: the product plus 2^(product_width - 1)
        got = place.row ^ (1 << (grid.product_width - 1))
        if self.plant:
            got = got ^ ((a.sig == 0b1011) & (b.sig == 0b1011) & (a.exp == 3) & (b.exp == 5))
        m.d.comb += self.trigger.eq(got != reference)
        return m


class SumMiter(Elaboratable):
    """Sum of `config` against the plain signed sum of its rows; `trigger` when they differ.
    `plant` flips bit 0 of the sum when row 0 of the step's last chunk is 0b1011 << 7."""

    def __init__(self, config, plant=False):
        self.config, self.grid, self.plant = config, Grid(config), plant
        self.rows = Signal(data.ArrayLayout(self.grid.product_width, config.lanes), name="rows")
        self.start = Signal(name="start")
        self.trigger = Signal(name="trigger")

    def ports(self):
        return [self.rows.as_value(), self.start, self.trigger]

    def elaborate(self, platform):
        m = Module()
        config, grid = self.config, self.grid
        m.submodules.sum = block_sum = Sum(config, grid)
        m.d.comb += [block_sum.rows.eq(self.rows), block_sum.start.eq(self.start)]
        # this chunk: each slice's rows summed, the slices weighted by their place, less the
        # offset 2^(product_width - 1) of every row
        rows = [self.rows[i] for i in range(config.lanes)]
        chunk = sum(_tree([row[low:low + width] for row in rows]) << low
                    for low, width in bit_slices(grid.product_width, config.sum_slices))
        chunk = chunk - config.lanes * (1 << (grid.product_width - 1))
        total = Signal(signed(grid.sum_width), name="reference_total")
        if config.cycles_per_step == 1:
            m.d.comb += total.eq(chunk)
        else:
            earlier = Signal(signed(grid.sum_width), name="reference_earlier")
            m.d.comb += total.eq(Mux(self.start, 0, earlier) + chunk)
            m.d.sync += earlier.eq(total)
        reference = delay(m, total, config.sum_latency, "reference")
        got = block_sum.sum
        if self.plant:
            got = got ^ delay(m, rows[0] == 0b1011 << 7, config.sum_latency, "planted")
        m.d.comb += self.trigger.eq(got != reference)
        return m


class SpecialsMiter(Elaboratable):
    """Specials of `config.lanes` lanes with its register (`cut`) against the plain one on the
    operands a cycle earlier; `trigger` when any output differs. `plant` flips `nan` when the
    last lane's A operand is a negative infinity."""

    def __init__(self, config, plant=False):
        self.grid, self.lanes, self.plant = Grid(config), config.lanes, plant
        layout = data.ArrayLayout(unpacked_layout(self.grid), self.lanes)
        self.a, self.b = Signal(layout, name="a"), Signal(layout, name="b")
        self.trigger = Signal(name="trigger")

    @property
    def latency(self):
        return 1

    def ports(self):
        return [self.a.as_value(), self.b.as_value(), self.trigger]

    def elaborate(self, platform):
        m = Module()
        m.submodules.fast = fast = Specials(self.grid, self.lanes, cut=True)
        m.submodules.plain = plain = Specials(self.grid, self.lanes)
        assert fast.latency == self.latency  # `prove` unrolls this deep
        m.d.comb += [fast.a.eq(self.a), fast.b.eq(self.b)]
        for name, operand in (("a", self.a), ("b", self.b)):
            m.d.comb += getattr(plain, name).eq(
                delay(m, operand, self.latency, f"earlier_{name}", reset_less=True))
        outputs = ("nan", "invalid", "pos_inf", "neg_inf")
        got = Cat(getattr(fast, name) for name in outputs)
        if self.plant:
            last = plain.a[self.lanes - 1]
            got = got ^ (last.inf & last.sign)
        m.d.comb += self.trigger.eq(got != Cat(getattr(plain, name) for name in outputs))
        return m


def prove(miter, build_dir):
    """Prove that `miter` (a LaneMiter, SumMiter or SpecialsMiter) never triggers with
    `sim.formal.prove`; seconds taken, or FormalError naming the difference.

    A SumMiter's step is steps 1 .. chunks of the SAT unrolling and the sums are compared at
    step chunks + sum_latency, where nothing from before the step is left in the pipeline.
    """
    # formal.prove's own check by default: with registers (`latency`), from a free state, once
    # the first input has reached the outputs
    check = None
    if isinstance(miter, SumMiter):
        chunks = miter.config.cycles_per_step
        steps = chunks + miter.config.sum_latency
        sets = [f"-set-at {t} start {int(t == 1)}" for t in range(1, chunks + 1)]
        if "\\rst" in rtlil.convert(miter, name="miter", ports=miter.ports()):  # registers: hold reset low
            sets.append("-set rst 0")
        check = f"sat -seq {steps} {' '.join(sets)} -prove trigger 0 -prove-skip {steps - 1} -verify"
    return formal.prove(miter, type(miter).__name__, build_dir, check=check, ports=miter.ports())
