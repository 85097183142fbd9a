"""VendorChunk: one chunk of SPEC §6's vendor-compatible accumulation (`blackwell`, `hopper`).

Not wired into the PE yet (see the README's "Accumulation modes"). The datapath needs no exact
70-bit grid: a max-exponent tree, per-term truncating shifts into an F + 2-bit window, a narrow
signed sum and a truncating normalisation:

    terms     each product sig_a · sig_b (< 4, not renormalised) at exponent e_a + e_b + sa + sb − 254,
              C (24-bit significand; a subnormal C at −126), a zero term at −133
    max       e_max over the L + 1 term exponents
    truncate  each term shifted right by e_max − e, into F = 25 fraction bits below 2^e_max;
              hopper clears the 12 bits below its F = 13 (flooring twice is flooring once)
    sum       L + 1 signed terms below 2^(F + 2) each
    normalise leading-zero shift, stopped at 2^-126; keep 24 bits (hopper: 14), truncated
    pack      binary32; 2^128 and beyond is ±Inf (overflow); −0 is +0; NaN is 0x7FFFFFFF

Specials follow SPEC §2's rules 1–5 per chunk. Combinational: one chunk per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .accumulate import CountLeadingZeros, limit_bit
from .formats import ELEMENT_FORMATS, Grid
from .unpack import Unpack

__all__ = ["VendorChunk", "VENDOR_FORMATS", "VENDOR_MODE_CODES"]

#: SPEC §6: mode name -> (its 2-bit step code, F term fraction bits, M result fraction bits)
VENDOR_MODE_CODES = {"blackwell": (1, 25, 23), "hopper": (2, 13, 13)}
#: SPEC §6: the element formats each mode takes
VENDOR_FORMATS = {"blackwell": ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1"), "hopper": ("e4m3", "e5m2")}
_F = 25                   # the window's fraction bits: the widest mode's F
_E_ZERO = -133            # a zero term's exponent
_E_MIN = -126             # FP32's least normal exponent
_VENDOR_NAN = 0x7FFFFFFF
_CANONICAL_NAN = 0x7FC00000
_INF = 0x7F800000


class VendorChunk(wiring.Component):
    """One st_fdpa chunk of L = min(config.block, 32) elements: d = chunk(a, b, sa, sb, c), flags.

    config -- a `hw.config.Config`: its enabled formats (a format a mode does not take, or the
              build does not enable, gives 0x7FFFFFFF with `invalid`) and block size.
    modes  -- the vendor modes built (names of `VENDOR_MODE_CODES`). `mode` is the SPEC §6 code;
              a code not built gives 0x7FC00000 with `invalid`.
    Combinational; latency 0, one chunk per cycle.
    """

    def __init__(self, config, modes=("blackwell", "hopper")):
        unknown = [m for m in modes if m not in VENDOR_MODE_CODES]
        if unknown or not modes:
            self._MustUse__silence = True  # a refused design is not an unused one
            raise ValueError(f"Vendor modes must be one or more of {', '.join(VENDOR_MODE_CODES)}, "
                             f"not {', '.join(map(repr, unknown)) or 'none'}")
        self.config, self.modes = config, tuple(modes)
        self.length = min(config.block, 32)
        self.grid = Grid(config)
        super().__init__({
            "a": In(data.ArrayLayout(8, self.length)),
            "b": In(data.ArrayLayout(8, self.length)),
            "a_format": In(3),
            "b_format": In(3),
            "a_scale": In(8),
            "b_scale": In(8),
            "mode": In(2),
            "c": In(32),
            "d": Out(32),
            "flags": Out(4),
        })

    def _allowed(self, code, mode):
        names = [n for n in VENDOR_FORMATS[mode] if n in self.config.formats]
        return code.matches(*(ELEMENT_FORMATS[n].code for n in names))

    def elaborate(self, platform):
        m = Module()
        grid, L = self.grid, self.length
        unpacked = []
        for i in range(L):
            for side, codes, fmt in (("a", self.a, self.a_format), ("b", self.b, self.b_format)):
                unpack = m.submodules[f"unpack_{side}{i}"] = Unpack(grid)
                m.d.comb += [unpack.code.eq(codes[i]), unpack.format.eq(fmt)]
                unpacked.append(unpack.out)
        ua, ub = unpacked[0::2], unpacked[1::2]

        # mode and formats
        hopper = Signal()
        known = Signal()
        allowed = Signal()
        m.d.comb += [
            hopper.eq(("hopper" in self.modes) & (self.mode == VENDOR_MODE_CODES["hopper"][0])),
            known.eq(self.mode.matches(*(VENDOR_MODE_CODES[n][0] for n in self.modes))),
        ]
        takes = {name: (self._allowed(self.a_format, name) & self._allowed(self.b_format, name)
                        if name in self.modes else Const(0)) for name in VENDOR_MODE_CODES}
        m.d.comb += allowed.eq(Mux(hopper, takes["hopper"], takes["blackwell"]))

        # Exponents. The scales and the format pair are common to every product of the chunk, so
        # products are ranked by q = exp_a + exp_b alone (Unpack's exp: the significand LSB's offset
        # from elem_lsb): a narrow max tree and narrow per-term distances. Only the winner, the
        # "group" exponent, meets the scales and C, in true (signed) exponents.
        mbits = [(f.code, f.mbits) for f in grid.formats if not f.integer]
        frac_a = Signal(3)
        frac_b = Signal(3)
        for sig, fmt in ((frac_a, self.a_format), (frac_b, self.b_format)):
            with m.Switch(fmt):
                for code, bits in mbits:
                    with m.Case(code):
                        m.d.comb += sig.eq(bits)
        # q's range: two largest significand-LSB offsets
        q_shape = range(2 * max(f.top_exp - f.sig_width - grid.elem_lsb for f in grid.formats) + 1)
        # true exponents: products from 2·(elem_lsb) − 254 to twice the largest + 254, C from −133
        true_shape = signed(11)
        # products to the most fraction bits any pair has (E4M3 or E2M3 squared: 6)
        frac = 2 * max(ELEMENT_FORMATS[n].mbits for n in VENDOR_FORMATS["blackwell"])
        p_shift = Signal(range(frac + 1))
        m.d.comb += p_shift.eq(frac - frac_a - frac_b)
        products = []       # (q, significand with `frac` fraction bits, sign, live)
        for i, (x, y) in enumerate(zip(ua, ub)):
            live = Signal(name=f"live{i}")
            q = Signal(q_shape, name=f"q{i}")
            p = Signal(grid.sig_width * 2 + frac, name=f"p{i}")
            m.d.comb += [
                live.eq(~(x.nan | x.inf | x.zero | y.nan | y.inf | y.zero)),
                q.eq(Mux(live, x.exp + y.exp, 0)),
                # every product to `frac` fraction bits: its own are frac_a + frac_b
                p.eq(Mux(live, (x.sig * y.sig) << p_shift, 0)),
            ]
            products.append((q, p, x.sign ^ y.sign, live))

        level = [q for q, _, _, _ in products]          # max tree over q (dead products are 0)
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level) - 1, 2):
                q = Signal(q_shape, name=f"max{len(level)}_{j}")
                m.d.comb += q.eq(Mux(level[j] > level[j + 1], level[j], level[j + 1]))
                nxt.append(q)
            level = nxt + level[len(level) - len(level) % 2:]
        q_max = level[0]
        any_live = Signal()
        m.d.comb += any_live.eq(Cat(*(live for _, _, _, live in products)).any())
        # the largest product's leading place (significands in [1, 2) each)
        group = Signal(true_shape)
        m.d.comb += group.eq(q_max + 2 * grid.elem_lsb + frac_a + frac_b + self.a_scale + self.b_scale - 254)

        # C: 24-bit significand with 23 fraction bits at max(field, 1) − 127; a zero C at −133,
        # which also stands for the zero products (every C is at −133 or above)
        c_field, c_frac, c_sign = self.c[23:31], self.c[:23], self.c[31]
        c_special = c_field == 0xFF
        c_zero = (c_field == 0) & (c_frac == 0)
        c_e = Signal(true_shape)
        c_sig = Signal(24)
        m.d.comb += [
            c_e.eq(Mux(c_zero | c_special, _E_ZERO, Mux(c_field == 0, 1, c_field) - 127)),
            c_sig.eq(Mux(c_special, 0, Cat(c_frac, c_field != 0))),
        ]
        e_max = Signal(true_shape)
        m.d.comb += e_max.eq(Mux(any_live & (group > c_e), group, c_e))

        # truncating shifts into the window: F fraction bits below 2^e_max, 2 integer bits. A
        # term `window` or more places below e_max truncates to 0, so every distance saturates
        # at `window` and the shifters need only log2(window) stages.
        window = _F + 2
        sat_shape = range(window + 1)

        def saturated(name, distance):
            out = Signal(sat_shape, name=name)
            m.d.comb += out.eq(Mux(distance >= window, window, distance))
            return out

        common = saturated("common", e_max - group)                       # >= 0 when any is live
        terms = [(saturated(f"distance{i}", common + (q_max - q)), p, sign, frac)
                 for i, (q, p, sign, _) in enumerate(products)]
        terms.append((saturated("distance_c", e_max - c_e), c_sig, c_sign, 23))
        hopper_mask = ((1 << window) - 1) ^ ((1 << (_F - VENDOR_MODE_CODES["hopper"][1])) - 1)
        sum_shape = signed(window + (len(terms) - 1).bit_length() + 1)
        # −t = ~t + 1: the terms are inverted where negative and the +1s added once, as a count
        total = sum((sign for _, _, sign, _ in terms), Const(0, range(len(terms) + 1)))
        for i, (distance, sig, sign, sig_frac) in enumerate(terms):
            t = Signal(window, name=f"t{i}")
            m.d.comb += t.eq(Mux(distance == window, 0, (sig << (_F - sig_frac)) >> distance[:window.bit_length()]))
            kept = Cat(Mux(hopper, t & hopper_mask, t), Const(0, 1)).as_signed()
            total = total + Mux(sign, ~kept, kept)
        z = Signal(sum_shape)
        m.d.comb += z.eq(total)

        # normalise |z|: its top place is 2^(e_max - F + width - 1); stop at 2^-126
        width = sum_shape.width - 1
        mag = Signal(width)
        m.d.comb += mag.eq(Mux(z < 0, -z, z))
        lead = Signal(signed(12))           # true exponent of mag's top place
        m.d.comb += lead.eq(e_max - _F + width - 1)
        limit = Signal(range(2 ** 11))  # lead + 126 < 2^11
        m.d.comb += limit.eq(Mux(lead - _E_MIN < 0, 0, lead - _E_MIN))
        # a tree count with the limit as a one-hot bit: min(leading zeros, limit) places
        m.submodules.count = count = CountLeadingZeros(width)
        m.d.comb += count.i.eq(mag | limit_bit(limit, width))
        normalised = Signal(width)
        m.d.comb += normalised.eq(mag << count.count)
        exp = Signal(signed(12))
        m.d.comb += exp.eq(lead - count.count)
        kept = Signal(24)
        m.d.comb += kept.eq(normalised[width - 24:] & Mux(hopper, ((1 << 24) - 1) ^ ((1 << 10) - 1), (1 << 24) - 1))
        overflow = (kept != 0) & (exp >= 128)
        finite = Signal(32)
        m.d.comb += finite.eq(Mux(kept == 0, 0, Mux(overflow, _INF, ((exp - _E_MIN) << 23) + kept)
                                  | ((z < 0) << 31)))

        # specials, SPEC §2 rules 2-5 for this chunk and C
        pinf, ninf, inf_zero, nan = [c_special & (c_frac == 0) & ~c_sign], [c_special & (c_frac == 0) & c_sign], [], \
            [c_special & (c_frac != 0), self.a_scale == 0xFF, self.b_scale == 0xFF]
        for x, y in zip(ua, ub):
            nan += [x.nan, y.nan]
            inf_product = (x.inf & ~(y.zero | y.nan)) | (y.inf & ~(x.zero | x.nan))
            pinf.append(inf_product & ~(x.sign ^ y.sign))
            ninf.append(inf_product & (x.sign ^ y.sign))
            inf_zero.append((x.inf & y.zero) | (x.zero & y.inf))
        any_pinf, any_ninf = Signal(), Signal()
        m.d.comb += [any_pinf.eq(Cat(*pinf).any()), any_ninf.eq(Cat(*ninf).any())]
        invalid = Signal()
        m.d.comb += invalid.eq(~known | ~allowed | Cat(*inf_zero).any() | (any_pinf & any_ninf))
        is_nan = invalid | Cat(*nan).any()
        is_inf = any_pinf | any_ninf
        m.d.comb += [
            self.d.eq(Mux(~known, _CANONICAL_NAN, Mux(is_nan, _VENDOR_NAN,
                                                      Mux(is_inf, Cat(Const(_INF, 31), any_ninf), finite)))),
            self.flags.eq(Cat(invalid, ~is_nan & ~is_inf & overflow, Const(0, 2))),
        ]
        return m
