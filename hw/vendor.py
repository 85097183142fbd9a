"""The vendor-compatible accumulation modes of SPEC §6 (`blackwell`, `hopper`) in a PE.

A step in these modes runs its k elements in chunks of L = min(k, 32), in order, each chunk's
result the next one's C. A chunk is cut where C enters:

    VendorTerms (C-independent, as the chunk's elements arrive)
      terms     each product sig_a · sig_b (< 4, not renormalised) to 6 fraction bits, its
                exponent offset q = exp_a + exp_b (Unpack's offsets: the scales and the format
                pair are common to the chunk), dead products (zero, Inf, NaN) 0
      max       q_max over the L products; each product's distance q_max − q (saturated);
                the group exponent (the largest product's place, without the scales)
      specials  SPEC §2 rules 2–4 of the elements (`hw.pe.Specials`)
    VendorAccumulate (C-dependent, from the slot read)
      compare   C (24-bit significand; a subnormal C at −126; a zero at −133) with the group
                exponent plus the scales: e_max
      truncate  each term shifted right by its distance below e_max into F = 25 fraction bits
                (hopper clears the 12 bits below its F = 13: flooring twice is flooring once)
      sum       L + 1 signed terms below 2^(F + 2) each
      normalise leading-zero shift stopped at 2^-126; keep 24 bits (hopper: 14), truncated
      pack      binary32; 2^128 and beyond is ±Inf (overflow); −0 is +0; NaN is 0x7FFFFFFF

`VendorPath` is a PE's: it gathers each chunk's elements, holds its VendorTerms to the step's
slot read and chains the chunks' VendorAccumulate from the slot value.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .accumulate import NAN, CountLeadingZeros, limit_bit
from .config import MODE_CODES
from .formats import ELEMENT_FORMATS, unpacked_layout
from .pipeline import delay
from .unpack import format_enabled

__all__ = ["VendorTerms", "VendorAccumulate", "VendorPath", "VENDOR_FORMATS", "VENDOR_BITS",
           "formats_invalid", "terms_layout", "register_plan", "CUTS"]

#: SPEC §6: mode name -> (F term fraction bits, M result fraction bits)
VENDOR_BITS = {"blackwell": (25, 23), "hopper": (13, 13)}
#: SPEC §6: the element formats each mode takes
VENDOR_FORMATS = {"blackwell": ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1"), "hopper": ("e4m3", "e5m2")}
_F = max(f for f, _ in VENDOR_BITS.values())        # the window's fraction bits: the widest F
_WINDOW = _F + 2                                    # a term is below 2^(F + 2): 2 integer bits
_SIG = max(ELEMENT_FORMATS[n].sig_width for n in VENDOR_FORMATS["blackwell"])  # 4 bits
_FRAC = 2 * (_SIG - 1)                              # a product's most fraction bits (E4M3²: 6)
_E_ZERO = -133            # a zero term's exponent
_E_MIN = -126             # FP32's least normal exponent
_VENDOR_NAN = 0x7FFFFFFF
_INF = 0x7F800000
_INVALID = 1                                        # SPEC §2's invalid flag bit
_TRUE_EXP = signed(11)   # true exponents: products −286 .. 290 with the scales, C from −133


def formats_invalid(config, grid, mode, a_format, b_format):
    """1 when a step's format is not one its `mode` takes in this build (SPEC §2, §6): exact
    takes every enabled format, a vendor mode those of `VENDOR_FORMATS` that are enabled."""
    invalid = Const(1)   # a mode not built: its NaN raises invalid anyway
    for name in config.modes:
        if name == "exact":
            takes = [format_enabled(grid, f) for f in (a_format, b_format)]
        else:
            codes = [ELEMENT_FORMATS[n].code for n in VENDOR_FORMATS[name] if n in config.formats]
            takes = [f.matches(*codes) for f in (a_format, b_format)]
        invalid = Mux(mode == MODE_CODES[name], ~takes[0] | ~takes[1], invalid)
    return invalid


def _q_shape(grid):
    # q = exp_a + exp_b: two largest significand-LSB offsets
    return range(2 * max(f.top_exp - f.sig_width - grid.elem_lsb for f in grid.formats) + 1)


def _group_shape(grid):
    # the largest product's leading place without the scales: q_max + 2 · elem_lsb + f_a + f_b
    return range(2 * grid.elem_lsb, 2 * grid.elem_lsb + _q_shape(grid).stop + _FRAC)


def terms_layout(grid, length):
    """What VendorTerms hands to VendorAccumulate for one chunk of `length` products."""
    return data.StructLayout({
        "p": data.ArrayLayout(_FRAC + 2, length),          # sig_a · sig_b < 4, _FRAC fraction bits
        "dq": data.ArrayLayout(range(_WINDOW + 1), length),  # q_max − q, saturated at the window
        "neg": length,
        "group": _group_shape(grid),
        "live": 1,                                          # a product is neither 0, Inf nor NaN
        "nan": 1, "invalid": 1, "pos_inf": 1, "neg_inf": 1,  # hw.accumulate.SPECIALS of the elements
    })


class VendorTerms(wiring.Component):
    """The C-independent half of a chunk: its products, their distances below the largest, the
    group exponent and the elements' specials, from `length` decoded operand pairs.

    `a_format`, `b_format` give the fraction bits of the significands. Combinational.
    """

    def __init__(self, grid, length):
        self.grid, self.length = grid, length
        operands = data.ArrayLayout(unpacked_layout(grid), length)
        super().__init__({
            "a": In(operands), "b": In(operands), "a_format": In(3), "b_format": In(3),
            "terms": Out(terms_layout(grid, length)),
        })

    def elaborate(self, platform):
        from .pe import Specials  # deferred: hw.pe builds the PE from this module
        m = Module()
        grid, out = self.grid, self.terms
        m.submodules.specials = specials = Specials(grid, self.length)
        m.d.comb += [specials.a.eq(self.a), specials.b.eq(self.b),
                     out.nan.eq(specials.nan), out.invalid.eq(specials.invalid),
                     out.pos_inf.eq(specials.pos_inf), out.neg_inf.eq(specials.neg_inf)]

        # the fraction bits of each significand (formats no mode takes give a NaN result anyway)
        frac_a, frac_b = Signal(3), Signal(3)
        for sig, fmt in ((frac_a, self.a_format), (frac_b, self.b_format)):
            bits = Const(0, 3)
            for f in grid.formats:
                if not f.integer:
                    bits = Mux(fmt == f.code, f.mbits, bits)
            m.d.comb += sig.eq(bits)
        shift = Signal(range(_FRAC + 1))
        m.d.comb += shift.eq(_FRAC - frac_a - frac_b)

        qs, lives, ps, negs = [], [], [], []
        for i in range(self.length):
            x, y = self.a[i], self.b[i]
            live = Signal(name=f"live{i}")
            q = Signal(_q_shape(grid), name=f"q{i}")
            p = Signal(_FRAC + 2, name=f"p{i}")
            m.d.comb += [
                live.eq(~(x.nan | x.inf | x.zero | y.nan | y.inf | y.zero)),
                q.eq(Mux(live, x.exp + y.exp, 0)),
                # AND partial products, as Multiply's: no tool infers a DSP multiplier for it
                p.eq(Mux(live, sum(Mux(y.sig[j], x.sig[:_SIG] << j, 0) for j in range(_SIG)) << shift, 0)),
            ]
            qs.append(q), lives.append(live), ps.append(p), negs.append(x.sign ^ y.sign)

        level = qs                                          # max tree over q (dead products 0)
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level) - 1, 2):
                q = Signal(_q_shape(grid), name=f"max{len(level)}_{j}")
                m.d.comb += q.eq(Mux(level[j] > level[j + 1], level[j], level[j + 1]))
                nxt.append(q)
            level = nxt + level[len(level) - len(level) % 2:]
        q_max = level[0]

        def saturated(distance):
            return Mux(distance >= _WINDOW, _WINDOW, distance)

        m.d.comb += [
            out.p.eq(Cat(ps)),
            out.dq.eq(Cat(saturated(q_max - q)[:Shape.cast(range(_WINDOW + 1)).width] for q in qs)),
            out.neg.eq(Cat(negs)),
            out.live.eq(Cat(lives).any()),
            # significands in [1, 2) each: the product's leading place
            out.group.eq(q_max + 2 * grid.elem_lsb + frac_a + frac_b),
        ]
        return m


#: VendorAccumulate's pipeline cuts in dataflow order: after the exponent compare, after the
#: truncating shifts and `_PARTIALS` partial sums, after the whole sum, after the leading-zero
#: count, after the packed result.
CUTS = ("compare", "partial", "sum", "count", "result")
_PARTIALS = 4


class VendorAccumulate(wiring.Component):
    """The C-dependent half of a chunk: `d` = the chunk's result from its `terms` and `c`.

    `scale` = sa + sb − 254; `nan` a NaN scale; `invalid` a format the mode does not take (or
    the build does not enable); `hopper` truncates to hopper's F and M, else blackwell's.
    `flags`: invalid (rules 1–3), overflow.
    `registers` -- cut name (`CUTS`) -> pipeline registers there; latency: their sum, from every
    input to `d`, `flags`; one chunk a cycle.
    """

    def __init__(self, grid, length, registers=None):
        self.grid, self.length = grid, length
        self.registers = dict(registers or {})
        super().__init__({
            "terms": In(terms_layout(grid, length)),
            "scale": In(range(-254, 257)), "nan": In(1), "invalid": In(1), "hopper": In(1),
            "c": In(32),
            "d": Out(32), "flags": Out(4),
        })

    @property
    def latency(self):
        return sum(self.registers.values())

    def elaborate(self, platform):
        m = Module()
        terms, length = self.terms, self.length

        def stage(cut, **values):
            return [delay(m, value, self.registers.get(cut, 0), f"{name}_{cut}")
                    for name, value in values.items()]

        group = Signal(_TRUE_EXP)
        m.d.comb += group.eq(terms.group + self.scale)

        # C: 24-bit significand with 23 fraction bits at max(field, 1) − 127; a zero C at −133,
        # which also stands for the zero products (every C is at −133 or above)
        c_field, c_frac, c_sign = self.c[23:31], self.c[:23], self.c[31]
        c_special = c_field == 0xFF
        c_zero = (c_field == 0) & (c_frac == 0)
        c_e = Signal(_TRUE_EXP)
        c_sig = Signal(24)
        m.d.comb += [
            c_e.eq(Mux(c_zero | c_special, _E_ZERO, Mux(c_field == 0, 1, c_field) - 127)),
            c_sig.eq(Mux(c_special, 0, Cat(c_frac, c_field != 0))),
        ]
        e_max = Signal(_TRUE_EXP)
        m.d.comb += e_max.eq(Mux(terms.live & (group > c_e), group, c_e))

        # specials, SPEC §2 rules 2-5 for this chunk and C: they override the finite result
        special = Signal(data.StructLayout({"invalid": 1, "nan": 1, "inf": 1, "neg": 1}))
        c_inf = c_special & (c_frac == 0)
        pos_inf = terms.pos_inf | (c_inf & ~c_sign)
        neg_inf = terms.neg_inf | (c_inf & c_sign)
        invalid = self.invalid | terms.invalid | (pos_inf & neg_inf)
        m.d.comb += [special.invalid.eq(invalid),
                     special.nan.eq(invalid | terms.nan | self.nan | (c_special & (c_frac != 0))),
                     special.inf.eq(pos_inf | neg_inf), special.neg.eq(neg_inf)]

        # the distance of each term below e_max. A term `_WINDOW` or more places below
        # truncates to 0, so every distance saturates there and the shifters need only
        # log2(window) stages.
        sat_shape = range(_WINDOW + 1)
        distances = Signal(data.ArrayLayout(sat_shape, length + 1))

        def saturated(distance):
            return Mux(distance >= _WINDOW, _WINDOW, distance)[:Shape.cast(sat_shape).width]

        common = Signal(sat_shape)
        m.d.comb += common.eq(saturated(e_max - group))          # >= 0 when a product is live
        m.d.comb += distances.eq(Cat(*(saturated(common + terms.dq[i]) for i in range(length)),
                                     saturated(e_max - c_e)))
        distances, p, neg, c_sig, c_sign, e_max, hopper, special = stage(
            "compare", distances=distances, p=terms.p, neg=terms.neg, c_sig=c_sig, c_sign=c_sign,
            e_max=e_max, hopper=self.hopper, special=special)

        # truncating shifts into the window: F fraction bits below 2^e_max, 2 integer bits;
        # hopper clears the bits below its F. −t = ~t + 1: negative terms are inverted and their
        # +1s added once, as a count, in each partial sum
        hopper_mask = ((1 << _WINDOW) - 1) ^ ((1 << (_F - VENDOR_BITS["hopper"][0])) - 1)
        shifted = [(distances[i], p[i], neg[i], _FRAC) for i in range(length)]
        shifted.append((distances[length], c_sig, c_sign, 23))
        signed_terms = []
        for i, (distance, sig, sign, sig_frac) in enumerate(shifted):
            t = Signal(_WINDOW, name=f"t{i}")
            m.d.comb += t.eq(Mux(distance == _WINDOW, 0,
                                 (sig << (_F - sig_frac)) >> distance[:_WINDOW.bit_length()]))
            kept = Cat(Mux(hopper, t & hopper_mask, t), Const(0, 1)).as_signed()
            signed_terms.append((Mux(sign, ~kept, kept), sign))
        size = -(-len(signed_terms) // _PARTIALS)
        partials = []
        for g in range(0, len(signed_terms), size):
            group_terms = signed_terms[g:g + size]
            partial = Signal(signed(_WINDOW + size.bit_length() + 1), name=f"partial{g // size}")
            m.d.comb += partial.eq(sum((v for v, _ in group_terms),
                                       sum((s for _, s in group_terms), Const(0, range(size + 1)))))
            partials.append(partial)
        partials = Cat(partials)
        partials, e_max, hopper, special = stage("partial", partials=partials, e_max=e_max,
                                                 hopper=hopper, special=special)
        sum_shape = signed(_WINDOW + (len(shifted) - 1).bit_length() + 1)
        part_width = len(partials) // -(-len(shifted) // size)
        z = Signal(sum_shape)
        m.d.comb += z.eq(sum(partials.word_select(g, part_width).as_signed()
                             for g in range(len(partials) // part_width)))
        z, e_max, hopper, special = stage("sum", z=z, e_max=e_max, hopper=hopper, special=special)

        # normalise |z|: its top place is 2^(e_max - F + width - 1); stop at 2^-126
        width = sum_shape.width - 1
        mag = Signal(width)
        m.d.comb += mag.eq(Mux(z < 0, -z, z))
        lead = Signal(signed(12))           # true exponent of mag's top place
        m.d.comb += lead.eq(e_max - _F + width - 1)
        limit = Signal(range(2 ** 11))      # lead + 126 < 2^11
        m.d.comb += limit.eq(Mux(lead - _E_MIN < 0, 0, lead - _E_MIN))
        # a tree count with the limit as a one-hot bit: min(leading zeros, limit) places
        m.submodules.count = count = CountLeadingZeros(width)
        m.d.comb += count.i.eq(mag | limit_bit(limit, width))
        mag, shift, lead, negative, hopper, special = stage(
            "count", mag=mag, shift=count.count, lead=lead, negative=z < 0, hopper=hopper,
            special=special)
        normalised = Signal(width)
        m.d.comb += normalised.eq(mag << shift)
        exp = Signal(signed(12))
        m.d.comb += exp.eq(lead - shift)
        kept = Signal(24)
        m.d.comb += kept.eq(normalised[width - 24:]
                            & Mux(hopper, ((1 << 24) - 1) ^ ((1 << (23 - VENDOR_BITS["hopper"][1])) - 1),
                                  (1 << 24) - 1))
        overflow = (kept != 0) & (exp >= 128)
        finite = Signal(32)
        m.d.comb += finite.eq(Mux(kept == 0, 0, Mux(overflow, _INF, ((exp - _E_MIN) << 23) + kept)
                                  | (negative << 31)))
        d = Signal(32)
        flags = Signal(4)
        m.d.comb += [
            d.eq(Mux(special.nan, _VENDOR_NAN, Mux(special.inf, Cat(Const(_INF, 31), special.neg), finite))),
            flags.eq(Cat(special.invalid, ~special.nan & ~special.inf & overflow, Const(0, 2))),
        ]
        d, flags = stage("result", d=d, flags=flags)
        m.d.comb += [self.d.eq(d), self.flags.eq(flags)]
        return m


def register_plan(chunks, registers):
    """Where `registers` pipeline registers go in a chain of `chunks` VendorAccumulates: a
    {cut: count} per chunk, the chain's `len(CUTS) * chunks` cuts taken evenly; registers beyond
    one per cut wait after the last result."""
    cuts = [(j, cut) for j in range(chunks) for cut in CUTS]
    if registers >= len(cuts):
        chosen = {position: 1 for position in cuts}
        chosen[cuts[-1]] += registers - len(cuts)
    else:
        chosen = {cuts[(i * len(cuts)) // (registers + 1) - 1]: 1 for i in range(1, registers + 1)}
    return [{cut: chosen.get((j, cut), 0) for cut in CUTS} for j in range(chunks)]


class VendorPath(wiring.Component):
    """A PE's vendor modes (SPEC §6): a step's chunks in order from the slot value.

    Stage M (`a`, `b`: `lanes` decoded operands a cycle; `chunk`, the cycle's index in the step;
    `a_format`, `b_format`): a chunk's VendorTerms when its last element arrives (a chunk spans
    L / lanes cycles, or a cycle brings lanes / L chunks), held to the step's last cycle.
    Stage E, `config.front_latency` cycles after the step's last cycle at M (`a_scale`,
    `b_scale`, `format_invalid`: the formats the step's mode takes).
    Stage R, `config.prepare_latency` + `wait` cycles later (`mode`, `c`, `c_flags`: the slot
    read; `wait` is the PE's place in its shared Accumulate's group, whose slot reads are
    staggered a cycle apart): the chunks' VendorAccumulate in order, the first from `c`; a mode
    not built (or 3) gives 0x7FC00000 with invalid; `c_flags` are OR-ed in.
    Stage W, `config.accumulate_latency` cycles after R: `result`, `flags`.
    Throughput: a step every `config.cycles_per_step` cycles.
    """

    def __init__(self, config, grid, wait=0):
        self.config, self.grid, self.wait = config, grid, wait
        operands = data.ArrayLayout(unpacked_layout(grid), config.lanes)
        members = {
            "a": In(operands), "b": In(operands), "a_format": In(3), "b_format": In(3),
            "a_scale": In(8), "b_scale": In(8), "format_invalid": In(1),
            "mode": In(2), "c": In(32), "c_flags": In(4),
            "result": Out(32), "flags": Out(4),
        }
        if config.cycles_per_step > 1:
            members["chunk"] = In(range(config.cycles_per_step))
        super().__init__(members)
        if config.cycles_per_step == 1:
            self.chunk = Const(0, 1)

    def elaborate(self, platform):
        m = Module()
        config, grid = self.config, self.grid
        length, lanes = config.chunk_length, config.lanes
        gather = max(1, length // lanes)          # cycles a chunk's elements take to arrive
        per_cycle = max(1, lanes // length)       # chunks that complete in one cycle
        events = config.cycles_per_step // gather  # cycles of a step on which chunks complete
        layout = terms_layout(grid, length)

        # stage M: the elements of the chunks completing this cycle, earlier cycles' first
        operands = {}
        for side in ("a", "b"):
            vector = getattr(self, side).as_value()
            operands[side] = data.ArrayLayout(unpacked_layout(grid), lanes * gather)(
                Cat(*(delay(m, vector, gather - 1 - j, f"{side}_gathered{j}") for j in range(gather))))
        completed = []
        for j in range(per_cycle):
            m.submodules[f"terms{j}"] = terms = VendorTerms(grid, length)
            window = slice(j * length * unpacked_layout(grid).size, (j + 1) * length * unpacked_layout(grid).size)
            m.d.comb += [terms.a.eq(operands["a"].as_value()[window]),
                         terms.b.eq(operands["b"].as_value()[window]),
                         terms.a_format.eq(self.a_format), terms.b_format.eq(self.b_format)]
            completed.append(terms.terms.as_value())
        completed = Cat(completed)
        # the earlier events' chunks wait for the step's last cycle
        held = []
        for e in range(events - 1):
            hold = Signal(len(completed), name=f"held{e}")
            with m.If(self.chunk == (e + 1) * gather - 1):
                m.d.sync += hold.eq(completed)
            held.append(hold)
        chunks = delay(m, Cat(*held, completed),
                       config.front_latency + config.prepare_latency + self.wait, "chunks")

        # stage E -> R
        scales = delay(m, Cat(self.a_scale, self.b_scale, self.format_invalid),
                       config.prepare_latency + self.wait, "scales")
        a_scale, b_scale, format_invalid = scales[:8], scales[8:16], scales[16]
        common = Signal(data.StructLayout({"scale": range(-254, 257), "nan": 1, "invalid": 1,
                                           "hopper": 1}))
        m.d.comb += [
            common.scale.eq(a_scale + b_scale - 254),
            common.nan.eq((a_scale == 0xFF) | (b_scale == 0xFF)),
            common.invalid.eq(format_invalid),
            common.hopper.eq(("hopper" in config.vendor_modes) & (self.mode == MODE_CODES["hopper"])),
        ]

        # stage R: the chunks in order, each from the previous one's result, the
        # accumulate_latency registers spread over them (`register_plan`)
        d, flags, waited = self.c, Const(0, 4), 0
        for j, registers in enumerate(register_plan(config.block // length,
                                                    config.accumulate_latency)):
            m.submodules[f"accumulate{j}"] = acc = VendorAccumulate(grid, length, registers)
            inputs = delay(m, Cat(chunks.word_select(j, layout.size), common.as_value()), waited,
                           f"chunk{j}_inputs")
            given = common.shape()(inputs[layout.size:])
            m.d.comb += [
                acc.terms.eq(inputs[:layout.size]),
                acc.scale.eq(given.scale), acc.nan.eq(given.nan), acc.invalid.eq(given.invalid),
                acc.hopper.eq(given.hopper), acc.c.eq(d),
            ]
            d, flags = acc.d, delay(m, flags, acc.latency, f"flags{j}") | acc.flags
            waited += acc.latency
        # a mode not built (or 3): SPEC §2's NaN; the slot's sticky flags
        side = delay(m, Cat(self.mode, self.c_flags), waited, "side")
        known = side[:2].matches(*(MODE_CODES[n] for n in config.vendor_modes))
        m.d.comb += [self.result.eq(Mux(known, d, NAN)),
                     self.flags.eq(Mux(known, flags, _INVALID) | side[2:])]
        return m
