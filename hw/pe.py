"""The processing element: multiply, place on the grid, block sum, specials and its slot store;
the Accumulate a group of `acc_share` PEs shares (`SharedAccumulate`).

A PE takes `lanes` decoded A and B operands a cycle (decoded once per row / column by the tile)
and, `block / lanes` cycles later plus the pipeline's, has the exact block sum of its step.
Pipeline registers sit after Multiply (`config.pipe_multiply`), after PlaceOnGrid
(`config.pipe_place`), inside Sum (`config.pipe_tree`, `config.sum_slices`) and after the block
sum (`config.pipe_sum`); the tile's controller drives the control inputs at the stage they
belong to.
"""

import operator
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .accumulate import SPECIALS, Accumulate
from .config import MODE_CODES
from .formats import unpacked_layout
from .pipeline import delay
from .vendor import VendorPath

__all__ = ["Multiply", "PlaceOnGrid", "Sum", "Specials", "BlockSum", "SlotStore",
           "ProcessingElement", "SharedAccumulate", "block_layout", "product_layout"]


def product_layout(grid):
    """An exact product: `(-1)^negative · magnitude · 2^(grid.lsb + exp)`."""
    return data.StructLayout({
        # the product of two significands: 2 · sig_width bits
        "magnitude": 2 * grid.sig_width,
        # the signs differ
        "negative": 1,
        # the sum of two exponent offsets
        "exp": grid.exp_width + 1,
    })


def add_level(terms):
    """One level of a balanced adder tree: neighbours added in pairs (an odd last one passes);
    each sum is one bit wider than its operands, so the tree is exact."""
    return [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
            for i in range(0, len(terms), 2)]


class Multiply(wiring.Component):
    """Multiply two decoded operands exactly: the significand product, its sign and the exponent
    sum (PlaceOnGrid negates it).

    The significand product is written as its partial products (an AND row per bit of `b.sig`),
    so no tool infers a DSP multiplier for it.

    Latency: `registers`, 0 (combinational) to 2. With 1, a register on the product (with the
    sign and the exponent sum beside it), so the partial-product adds and PlaceOnGrid's
    negation fall in different cycles; with 2, also one after the partial products' first adds
    (in pairs), so no cycle holds two of their carry chains in a row. One product a cycle.
    """

    def __init__(self, grid, *, registers=0):
        assert registers in range(3)
        self.grid, self.registers = grid, registers
        layout = unpacked_layout(grid)
        super().__init__({"a": In(layout), "b": In(layout), "product": Out(product_layout(grid))})

    @property
    def latency(self):
        return self.registers

    def elaborate(self, platform):
        m = Module()
        partial = [Mux(self.b.sig[j], self.a.sig << j, 0) for j in range(self.grid.sig_width)]
        negative, exp = self.a.sign ^ self.b.sign, self.a.exp + self.b.exp
        if self.registers == 2:
            partial = add_level(partial)
            partial = [delay(m, term, 1, f"pairs{i}_cut", reset_less=True) for i, term in enumerate(partial)]
            negative, exp = (delay(m, value, 1, f"{name}_early_cut", reset_less=True)
                             for name, value in (("negative", negative), ("exp", exp)))
        # summed in a row, not as a tree: Yosys maps the chain of adds to carry chains; a balanced
        # tree placed no faster on ECP5 (93.4 against 95.3 MHz, Multiply the limit either way) and
        # took 26 more LUT4 per product
        magnitude = sum(partial)
        magnitude, negative, exp = (delay(m, value, min(self.registers, 1), f"{name}_cut", reset_less=True)
                                    for name, value in (("magnitude", magnitude),
                                                        ("negative", negative), ("exp", exp)))
        m.d.comb += [
            self.product.magnitude.eq(magnitude),
            self.product.negative.eq(negative),
            self.product.exp.eq(exp),
        ]
        return m


class PlaceOnGrid(wiring.Component):
    """Place an exact product on the fixed-point grid, in offset binary.

    `row` is `value · 2^exp` as a `grid.product_width`-bit two's-complement integer with its sign
    bit inverted, that is the product plus 2^(product_width - 1): an unsigned number, so Sum adds
    rows without sign-extending any of them (see `Sum`).

    The shift is done in two steps, by the low `FINE_BITS` bits of `exp`, then by the others;
    the product is negated between them (a short carry chain, not one across the grid), after
    the first step's multiplexers, so no multiplexer waits for the carry chain. Latency: 0
    (combinational), or 1 with `cut`: a register after the negation. One product a cycle.
    """

    #: exponent bits of the first step: a 4:1 multiplexer per bit, in the cycle of the negation
    #: (ECP5: 171 MHz against 160 with 3 bits, 150 with 4, with the negation before the step)
    FINE_BITS = 2

    def __init__(self, grid, *, cut=False):
        self.grid, self.cut = grid, cut
        super().__init__({
            "product": In(product_layout(grid)),
            "row": Out(grid.product_width),
        })

    @property
    def latency(self):
        return int(self.cut)

    def elaborate(self, platform):
        m = Module()
        width, fine_bits = self.grid.product_width, self.FINE_BITS
        exp = self.product.exp
        shifted = self.product.magnitude << exp[:fine_bits]
        # the signed value, one bit wider than `shifted`: -x = ~x + 1, the inversion in the
        # multiplexers' LUTs and the +1 the carry chain's input, so no LUT follows the chain.
        # The coarse step's left shift fills with its sign above it and zeros below
        negative = self.product.negative
        width_signed = len(shifted) + 1
        fine = ((shifted ^ negative.replicate(width_signed)) + negative)[:width_signed].as_signed()
        fine, coarse = (delay(m, value, self.latency, f"{name}_cut", reset_less=True)
                        for name, value in (("fine", fine), ("coarse", exp[fine_bits:])))
        placed = (fine << Cat(Const(0, fine_bits), coarse))[:width]
        m.d.comb += self.row.eq(placed ^ (1 << (width - 1)))
        return m


def bit_slices(width, count):
    """`count` (low, width) bit slices covering `width` bits, the lower ones no narrower."""
    size = -(-width // count)
    return [(low, min(size, width - low)) for low in range(0, width, size)]


class Sum(wiring.Component):
    """The exact sum of a block, `lanes` grid rows a cycle, pipelined.

    The rows are offset binary (`PlaceOnGrid`): each is its product plus 2^(product_width - 1), so
    the block of `block` = 2^b rows adds up to the exact sum plus 2^(product_width - 1 + b) =
    2^(sum_width - 1), which is the exact sum in `sum_width`-bit two's complement with its top bit
    inverted. No row is sign-extended and no correction row is added.

    The rows are cut into `slices` bit slices; each slice has its own balanced adder tree (a
    register after every `pipe_tree`-th level but the last; 0: none, and Yosys merges the tree
    into one carry-save `$macc`) and, when a step takes `chunks` cycles, its own running total.
    The slice totals are then joined from the bottom up, one slice a cycle, each taking the carry
    of the slices below (a register before every join), so no carry chain is longer than a
    slice plus its growth.

    `start` marks the first of a step's chunks, at the tree's input. Latency:
    `config.sum_latency` cycles from a step's last chunk at the input to its block sum on `sum`;
    one chunk a cycle. (`lanes`, `chunks`, `pipe_tree`, `slices` come from `config`.)
    """

    def __init__(self, config, grid):
        self.grid, self.config = grid, config
        self.lanes, self.chunks = config.lanes, config.cycles_per_step
        self.pipe_tree, self.slices = config.pipe_tree, config.sum_slices
        super().__init__({
            "rows": In(data.ArrayLayout(grid.product_width, self.lanes)),
            "start": In(1),
            "sum": Out(signed(grid.sum_width)),
        })

    def elaborate(self, platform):
        m = Module()
        grid = self.grid
        start = delay(m, self.start, self.config.tree_registers, "tree_start")
        slices = bit_slices(grid.product_width, self.slices)
        totals = []
        for s, (low, width) in enumerate(slices):
            terms = [self.rows[i][low:low + width] for i in range(self.lanes)]
            level = 0
            while len(terms) > 1:
                terms = add_level(terms)
                level += 1
                if self.pipe_tree and level % self.pipe_tree == 0 and len(terms) > 1:
                    terms = [delay(m, t, 1, f"slice{s}_level{level}_{i}", reset_less=True)
                             for i, t in enumerate(terms)]
            total = terms[0]
            if self.chunks > 1:
                # the running total of the step's chunks so far: the slice plus log2(block) bits
                partial = Signal(width + (self.chunks * self.lanes - 1).bit_length(),
                                 name=f"slice{s}_partial", reset_less=True)
                running = Signal.like(partial, name=f"slice{s}_running")
                m.d.comb += running.eq(Mux(start, 0, partial) + total)
                m.d.sync += partial.eq(running)
                # joining slices reads the register: one carry chain a cycle
                total = partial if len(slices) > 1 else running
            elif len(slices) > 1:
                total = delay(m, total, 1, f"slice{s}_total", reset_less=True)
            totals.append(total)
        # join: bits below slice s are final; `carry` is what the slices below add to slice s
        joined, carry = totals[0][:slices[0][1]], totals[0][slices[0][1]:]
        for s in range(1, len(slices)):
            if s > 1:  # the previous join in its own cycle; the slices above wait beside it
                joined = delay(m, joined, 1, f"joined{s}", reset_less=True)
                carry = delay(m, carry, 1, f"carry{s}", reset_less=True)
                totals = totals[:s] + [delay(m, t, 1, f"slice{j}_wait{s}", reset_less=True)
                                       for j, t in enumerate(totals[s:], s)]
            value = totals[s] + carry
            width = slices[s][1]
            joined, carry = Cat(joined, value[:width]), value[width:]
        unsigned_sum = Cat(joined, carry)[:grid.sum_width]
        m.d.comb += self.sum.eq(unsigned_sum ^ (1 << (grid.sum_width - 1)))
        return m


#: Lanes whose special terms Specials ORs into one register when it is `cut`
LANES_PER_SPECIALS_REGISTER = 4


class Specials(wiring.Component):
    """What the special operands of `lanes` products mean, SPEC §2 rules 2–5.

    nan     -- an element is NaN
    invalid -- a product is Inf × 0
    pos_inf, neg_inf -- a product is +Inf / -Inf (Inf times a nonzero number)

    Combinational; with `cut`, each group of LANES_PER_SPECIALS_REGISTER lanes is OR-ed into a
    register and the groups are OR-ed a cycle later (latency 1), so no path ORs every lane.
    """

    def __init__(self, grid, lanes, *, cut=False):
        self.lanes, self.cut = lanes, cut
        layout = data.ArrayLayout(unpacked_layout(grid), lanes)
        super().__init__({
            "a": In(layout), "b": In(layout),
            "nan": Out(1), "invalid": Out(1), "pos_inf": Out(1), "neg_inf": Out(1),
        })

    @property
    def latency(self):
        return int(self.cut)

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
        for name, terms in (("nan", nan), ("invalid", invalid), ("pos_inf", pos_inf),
                            ("neg_inf", neg_inf)):
            if self.cut:
                step = LANES_PER_SPECIALS_REGISTER
                groups = Signal(-(-self.lanes // step), name=f"{name}_groups", reset_less=True)
                m.d.sync += groups.eq(Cat(Cat(terms[i:i + step]).any()
                                          for i in range(0, self.lanes, step)))
                terms = groups
            m.d.comb += getattr(self, name).eq(Cat(terms).any())
        return m


class SlotStore(wiring.Component):
    """The PE's `depth` accumulator slots: FP32 value and sticky flags, +0 and clear after reset.

    Read (combinational): `d`, `d_flags` of `read_slot`, or +0 / clear when `read_first`. With
    `ahead`, `read_slot` and `read_first` come a cycle before the read and the one-hot select
    they decode is a register, so the read is an AND-OR of the slots alone.
    Write (next edge): `write_d`, `write_flags` into `write_slot`, or +0 / clear when `write_last`.
    A slot number of `depth` or more (possible when depth is not a power of two) reads as +0 and
    stores nothing.
    """

    def __init__(self, config, *, ahead=False):
        self.depth, self.ahead = config.depth, ahead
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
        select = delay(m, Cat(~self.read_first & (self.read_slot == i) for i in range(self.depth)),
                       int(self.ahead), "read_select")
        read = [Mux(select[i], slot.as_value(), 0) for i, slot in enumerate(slots)]
        value = Signal(entry)
        m.d.comb += [value.eq(reduce(operator.or_, read)), self.d.eq(value.d), self.d_flags.eq(value.flags)]
        for i, slot in enumerate(slots):
            with m.If(self.write & (self.write_slot == i)):
                m.d.sync += [
                    slot.d.eq(Mux(self.write_last, 0, self.write_d)),
                    slot.flags.eq(Mux(self.write_last, 0, self.write_flags)),
                ]
        return m


class BlockSum(wiring.Component):
    """The front end of a PE: the exact block sum of a step and its specials, from the decoded
    operands.

    Stage M (operands `a`, `b`, `start` on a step's first chunk): Multiply, Specials; then a
    register if `config.pipe_multiply` (with 2 or 3, `config.multiply_registers` inside Multiply
    and the last inside PlaceOnGrid, after its first shift step). Stage P: PlaceOnGrid; then a
    register if `config.pipe_place`. Stage S: Sum, `config.sum_latency` cycles; then a register if
    `config.pipe_sum`. Latency: `config.front_latency` cycles from a step's last chunk at stage M
    to its `sum`, `nan`, `invalid`, `pos_inf`, `neg_inf`; one chunk a cycle.

    Only `start` is reset: every other register (here and in Sum) holds data, which a step's
    `start` clears or overwrites and the PE's control (reset) gates, so no reset net fans out to
    them.
    """

    def __init__(self, config, grid):
        self.config, self.grid = config, grid
        operands = data.ArrayLayout(unpacked_layout(grid), config.lanes)
        super().__init__({
            "a": In(operands), "b": In(operands),
            "start": In(1),
            "sum": Out(signed(grid.sum_width)),
            "nan": Out(1), "invalid": Out(1), "pos_inf": Out(1), "neg_inf": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config, grid, lanes = self.config, self.grid, self.config.lanes

        # stage M
        # the specials' register, when they wait for the products anyway
        m.submodules.specials = specials = Specials(grid, lanes, cut=config.pipe_multiply >= 1)
        m.d.comb += [specials.a.eq(self.a), specials.b.eq(self.b)]
        products = Signal(data.ArrayLayout(product_layout(grid), lanes))
        outs = []
        for i in range(lanes):
            m.submodules[f"multiply{i}"] = multiply = Multiply(grid, registers=config.multiply_registers)
            m.d.comb += [multiply.a.eq(self.a[i]), multiply.b.eq(self.b[i])]
            outs.append(multiply.product)
        # whole-vector assignments (here and below): per-element ones make Icarus very slow,
        # see Tile._unpack_chunk
        m.d.comb += products.eq(Cat(outs))
        chunk = Signal(SPECIALS)
        m.d.comb += chunk.eq(Cat(specials.nan, specials.invalid, specials.pos_inf, specials.neg_inf))
        to_sum = config.pipe_multiply + config.pipe_place
        places = [PlaceOnGrid(grid, cut=config.place_cut) for _ in range(lanes)]
        # what is left of pipe_multiply's registers after those inside Multiply and PlaceOnGrid
        products = delay(m, products, config.pipe_multiply - multiply.latency - places[0].latency,
                         "products", reset_less=True)

        # stage P
        rows = []
        for i, place in enumerate(places):
            m.submodules[f"place{i}"] = place
            m.d.comb += place.product.eq(products[i])
            rows.append(place.row)
        placed = delay(m, Cat(rows), config.pipe_place, "placed", reset_less=True)

        # stage S
        m.submodules.sum = block_sum = Sum(config, grid)
        start = delay(m, self.start, to_sum, "start")
        m.d.comb += [block_sum.rows.eq(placed), block_sum.start.eq(start)]
        # the specials travel beside the tree to Sum's running totals, are OR-ed over the chunks
        # there, and wait beside the joins of the slices
        start = delay(m, start, config.tree_registers, "tree_start")
        chunk = delay(m, chunk, to_sum + config.tree_registers - specials.latency,
                      "chunk_specials", reset_less=True)
        block = Signal(SPECIALS)  # the specials of every chunk so far, this one included
        if config.cycles_per_step == 1:
            m.d.comb += block.eq(chunk)
        else:
            sticky = Signal(SPECIALS, reset_less=True)
            m.d.comb += block.eq(Mux(start, 0, sticky.as_value()) | chunk.as_value())
            m.d.sync += sticky.eq(block)
        block = delay(m, block, config.sum_latency - config.tree_registers + config.pipe_sum,
                      "block_specials", reset_less=True)
        m.d.comb += [
            self.sum.eq(delay(m, block_sum.sum, config.pipe_sum, "block", reset_less=True)),
            self.nan.eq(block.nan), self.invalid.eq(block.invalid),
            self.pos_inf.eq(block.pos_inf), self.neg_inf.eq(block.neg_inf),
        ]
        return m


def block_layout(grid):
    """A PE's block as it enters Accumulate (stage E): the exact sum, the step's scales and the
    block's specials (`invalid` with the step's format check OR-ed in)."""
    return data.StructLayout({"sum": signed(grid.sum_width), "a_scale": 8, "b_scale": 8,
                              "nan": 1, "invalid": 1, "pos_inf": 1, "neg_inf": 1})


class SharedAccumulate(wiring.Component):
    """One Accumulate for a group of `config.acc_share` PEs (members 0 .. acc_share - 1).

    Stage E (`load` high): every member's `blocks[j]`. Member 0's enters Accumulate now, member
    j's, held, j cycles later. Member j's slot value (`d[j]`, `d_flags[j]`) is read
    `config.prepare_latency` cycles after its block entered, and its `result`/`flags` appear
    `config.accumulate_latency` cycles after that: at stage W + j of the group's step.
    Throughput: a group's step every `acc_share` cycles or more (the caller's steps take
    `cycles_per_step` >= acc_share cycles). With acc_share 1 it is the PE's own Accumulate.
    """

    def __init__(self, config, grid):
        self.config, self.grid = config, grid
        share = config.acc_share
        super().__init__({
            "blocks": In(data.ArrayLayout(block_layout(grid), share)),
            "load": In(1),
            "d": In(data.ArrayLayout(32, share)), "d_flags": In(data.ArrayLayout(4, share)),
            "result": Out(32), "flags": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        config, grid, share = self.config, self.grid, self.config.acc_share
        layout = block_layout(grid)

        # member j is served j cycles after `load` and read prepare_latency cycles later
        serving, reading = [self.load], [None]
        for j in range(1, share):
            serving.append(delay(m, serving[-1], 1, f"serving{j}"))
            reading.append(delay(m, serving[j], config.prepare_latency, f"reading{j}"))
        # members 1 .. share - 1 wait in a register loaded with the group's blocks
        block, d = self.blocks[0].as_value(), Cat(self.d[0], self.d_flags[0])
        for j in range(1, share):
            held = Signal(layout, name=f"held{j}", reset_less=True)
            with m.If(self.load):
                m.d.sync += held.eq(self.blocks[j])
            block = Mux(serving[j], held.as_value(), block)
            d = Mux(reading[j], Cat(self.d[j], self.d_flags[j]), d)
        served = Signal(layout)
        read = Signal(data.StructLayout({"d": 32, "flags": 4}))
        m.d.comb += [served.eq(block), read.eq(d)]

        m.submodules.accumulate = acc = Accumulate(sum_width=grid.sum_width, grid_lsb=grid.lsb,
                                                   stages=config.acc_stages,
                                                   prepare_stages=config.prep_stages)
        scale_nan = (served.a_scale == 0xFF) | (served.b_scale == 0xFF)
        m.d.comb += [getattr(acc, name).eq(getattr(served, name))
                     for name in ("sum", "invalid", "pos_inf", "neg_inf")]
        m.d.comb += [
            # the block's weight is 2^(sa - 127) · 2^(sb - 127) on the grid
            acc.scale.eq(served.a_scale + served.b_scale - 254),
            acc.nan.eq(served.nan | scale_nan),
            acc.d.eq(read.d), acc.d_flags.eq(read.flags),
            self.result.eq(acc.result), self.flags.eq(acc.flags),
        ]
        return m


class ProcessingElement(wiring.Component):
    """One PE of the tile: the exact path's front end when "exact" is built (its Accumulate is
    the group's, `SharedAccumulate`), the vendor path (`VendorPath`) when a vendor mode is, and
    the slots they share.

    `member` (0 .. acc_share - 1) is the PE's place in its Accumulate's group: its stages R and
    W come `member` cycles later than the group's.
    Stage M (operands `a`, `b`, `start`; `chunk`, `a_format`, `b_format`): BlockSum, the block
    sum and its specials `config.front_latency` cycles after a step's last chunk; VendorTerms.
    Stage E (`a_scale`, `b_scale`, `format_invalid`): `block`, for the group's Accumulate.
    Stage R, `config.prepare_latency` + `member` cycles later (`slot`, `first`, `mode`; with
    `config.slot_select_ahead`, `slot` and `first` a cycle earlier): the slot is read (`d`,
    `d_flags`).
    Stage W, `config.accumulate_latency` cycles after R (`exact_result`, `exact_flags` from the
    group's Accumulate): `result`/`flags` appear, the exact or the vendor path's by
    `write_mode`, and `write` (with `write_slot`, `write_last`) stores them, or +0 when `last`.
    """

    def __init__(self, config, grid, member=0):
        self.config, self.grid, self.member = config, grid, member
        operands = data.ArrayLayout(unpacked_layout(grid), config.lanes)
        members = {
            "a": In(operands), "b": In(operands),
            "start": In(1), "a_format": In(3), "b_format": In(3),
            "a_scale": In(8), "b_scale": In(8), "format_invalid": In(1),
            "slot": In(config.slot_width), "first": In(1), "mode": In(2),
            "write": In(1), "write_slot": In(config.slot_width), "write_last": In(1),
            "write_mode": In(2),
            "d": Out(32), "d_flags": Out(4),
            "result": Out(32), "flags": Out(4),
        }
        if "exact" in config.modes:
            members.update({"block": Out(block_layout(grid)),
                            "exact_result": In(32), "exact_flags": In(4)})
        if config.cycles_per_step > 1:
            members["chunk"] = In(range(config.cycles_per_step))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        config, grid = self.config, self.grid

        m.submodules.slots = slots = SlotStore(config, ahead=config.slot_select_ahead)
        m.d.comb += [
            slots.read_slot.eq(self.slot),
            slots.read_first.eq(self.first),
            self.d.eq(slots.d),
            self.d_flags.eq(slots.d_flags),
            slots.write.eq(self.write),
            slots.write_slot.eq(self.write_slot),
            slots.write_last.eq(self.write_last),
            slots.write_d.eq(self.result),
            slots.write_flags.eq(self.flags),
        ]
        results = {}    # mode names -> (result, flags) at stage W

        if "exact" in config.modes:
            m.submodules.front = front = BlockSum(config, grid)
            m.d.comb += [front.a.eq(self.a), front.b.eq(self.b), front.start.eq(self.start)]
            # stage E: the block leaves for the group's Accumulate; stage W: its result
            m.d.comb += [getattr(self.block, name).eq(getattr(front, name))
                         for name in ("sum", "nan", "pos_inf", "neg_inf")]
            m.d.comb += [self.block.a_scale.eq(self.a_scale), self.block.b_scale.eq(self.b_scale),
                         self.block.invalid.eq(front.invalid | self.format_invalid)]
            results["exact"] = (self.exact_result, self.exact_flags)

        if config.vendor_modes:
            m.submodules.vendor = vendor = VendorPath(config, grid, wait=self.member)
            m.d.comb += [
                vendor.a.eq(self.a), vendor.b.eq(self.b),
                vendor.a_format.eq(self.a_format), vendor.b_format.eq(self.b_format),
                vendor.a_scale.eq(self.a_scale), vendor.b_scale.eq(self.b_scale),
                vendor.format_invalid.eq(self.format_invalid),
                vendor.mode.eq(self.mode), vendor.c.eq(slots.d), vendor.c_flags.eq(slots.d_flags),
            ]
            if config.cycles_per_step > 1:
                m.d.comb += vendor.chunk.eq(self.chunk)
            results["vendor"] = (vendor.result, vendor.flags)

        if len(results) == 2:
            exact = self.write_mode == MODE_CODES["exact"]
            m.d.comb += [self.result.eq(Mux(exact, results["exact"][0], results["vendor"][0])),
                         self.flags.eq(Mux(exact, results["exact"][1], results["vendor"][1]))]
        else:
            (result, flags), = results.values()
            m.d.comb += [self.result.eq(result), self.flags.eq(flags)]
        return m
