"""Unpack: an element code and a format code to one decoded operand record."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .formats import unpacked_layout

__all__ = ["Unpack", "format_enabled"]


def format_enabled(grid, code):
    """1 when the 3-bit format `code` names a format the build enables."""
    return code.matches(*(f.code for f in grid.formats))


class Unpack(wiring.Component):
    """Decode one element (combinational).

    `code` is the element's byte, `format` its SPEC §1 code. The output record holds the sign, the
    exponent offset of the significand LSB from `grid.elem_lsb`, the significand with its hidden
    bit, and is_nan / is_inf / is_zero. A format code the build does not enable (or a reserved
    one) decodes as NaN; the step's `invalid` flag comes from `format_enabled`.

    The significand and exponent of a NaN or an infinity are left as the code's fields give
    them, not cleared: every result such an element touches is NaN or ±Inf (SPEC §2), which
    overrides the sum, and a clear would be a synchronous reset of the register after Unpack
    driven by the special decode (on ECP5 an LSR net at the end of three levels of logic).
    """

    def __init__(self, grid):
        self.grid = grid
        super().__init__({
            "code": In(8),
            "format": In(3),
            "out": Out(unpacked_layout(grid)),
        })

    def elaborate(self, platform):
        m = Module()
        grid, out = self.grid, self.out
        records = []
        for fmt in grid.formats:
            record = Signal(unpacked_layout(grid), name=f"{fmt.name}_record")
            self._decode(m, fmt, record)
            records.append(record)
        # a format code the build does not enable takes the last format's record, of which only
        # `nan` means anything, and that is set: no branch of the selection is a constant (Yosys
        # would turn a constant one into a synchronous reset of the register after Unpack,
        # driven by the format decode)
        selected = Signal(unpacked_layout(grid))
        with m.Switch(self.format):
            for fmt, record in zip(grid.formats[:-1], records):
                with m.Case(fmt.code):
                    m.d.comb += selected.eq(record)
            with m.Default():
                m.d.comb += selected.eq(records[-1])
        m.d.comb += [out.eq(selected),
                     out.nan.eq(selected.nan | ~format_enabled(grid, self.format))]
        return m

    def _decode(self, m, fmt, out):
        grid = self.grid
        if fmt.tapered:
            self._decode_hif8(m, fmt, out)
            return
        x = fmt.layout(self.code[:fmt.layout.size])
        m.d.comb += out.sign.eq(x.sign)
        if fmt.integer:
            # two's complement: the magnitude of -128 is 128, which still fits sig_width bits
            value = self.code[:fmt.layout.size].as_signed()
            m.d.comb += [
                out.sig.eq(Mux(x.sign, -value, value)),
                out.exp.eq(fmt.lsb_exp - grid.elem_lsb),
                out.zero.eq(value == 0),
            ]
            return
        all_ones = x.exp == (1 << fmt.ebits) - 1
        if fmt.specials == "nan_all_ones":
            nan, inf = all_ones & (x.mant == (1 << fmt.mbits) - 1), Const(0)
        elif fmt.specials == "ieee":
            nan, inf = all_ones & (x.mant != 0), all_ones & (x.mant == 0)
        else:
            nan, inf = Const(0), Const(0)
        normal = x.exp != 0
        # the exponent offset as a table of the field's values, each bit the set of fields where
        # it is 1 (logic, not a multiplexer of constants, and not an add of a constant: Yosys
        # could then share one adder between the formats, with the format decode before its
        # carry chain)
        offsets = [max(field, 1) + fmt.lsb_exp - 1 - grid.elem_lsb for field in range(1 << fmt.ebits)]
        exp_bits = [[field for field, offset in enumerate(offsets) if offset >> bit & 1]
                    for bit in range(len(out.exp))]
        m.d.comb += [
            out.nan.eq(nan),
            out.inf.eq(inf),
            out.zero.eq(~normal & (x.mant == 0)),
            # hidden bit for normals; a subnormal has the same LSB weight as exponent field 1
            out.sig.eq(x.mant | (normal << fmt.mbits)),
            out.exp.eq(Cat(x.exp.matches(*fields) if fields else Const(0) for fields in exp_bits)),
        ]

    def _decode_hif8(self, m, fmt, out):
        """HiF8: a priority decode of the dot field picks where the exponent and mantissa sit;
        the exponent is then one sign-magnitude add onto a constant offset."""
        grid = self.grid
        x = fmt.layout(self.code)
        top = fmt.sig_width - 1
        # |E| (at most 15: 4 bits) and E's sign, and the significand 1mmm (mantissa left-aligned)
        magnitude, negative, sig = Signal(4), Signal(), Signal(fmt.sig_width)
        denormal = Signal()
        with m.Switch(x.low):
            for prefix, length, w, mbits in fmt.dots:
                with m.Case(f"{prefix:0{length}b}" + "-" * (7 - length)):
                    m.d.comb += sig.eq(Cat(Const(0, top - mbits), x.low[:mbits], 1))
                    if w:   # E's sign is the field's top bit; |E| = 2^(w-1) + the w-1 bits below it
                        m.d.comb += [negative.eq(x.low[mbits + w - 1]),
                                     magnitude.eq(Cat(x.low[mbits:mbits + w - 1], 1))]
            with m.Default():                               # 0000 MMM: 2^(M - 23), M = 0 is zero
                m.d.comb += [denormal.eq(1), sig.eq(x.low[:3] != 0)]
        # offsets from elem_lsb: a normal's LSB weighs 2^(E - 3), a denormal's 2^(M - 23). One
        # adder: base - |E| = (base - 15) + ~|E| for a negative E, and M + (denormal base).
        normal_base = -top - grid.elem_lsb
        denormal_base = fmt.denormal_lsb - 1 - grid.elem_lsb
        operand = Mux(denormal, x.low[:3], magnitude ^ negative.replicate(4))
        offset = Mux(denormal, denormal_base, Mux(negative, normal_base - 15, normal_base))
        m.d.comb += [
            out.sign.eq(x.sign),
            out.nan.eq(x.sign & (x.low == 0)),
            out.inf.eq(x.low == fmt.inf_low),
            out.zero.eq(self.code == 0),
            out.sig.eq(sig),
            out.exp.eq(operand + offset),
        ]
