"""Element formats of SPEC §1 as data, and the unpacked operand record.

Each `ElementFormat` knows its bit fields (a `data.StructLayout`, LSB first), its bias and which
codes are special. Every width the datapath derives from the enabled formats (significand,
exponent offset, the product grid) is computed here from these descriptions.
"""

from amaranth.lib import data

from .config import FORMAT_CODES

__all__ = ["ElementFormat", "HiFloat8", "ELEMENT_FORMATS", "Grid", "unpacked_layout"]


class ElementFormat:
    """One element format: `value = (-1)^sign · sig · 2^lsb_exp` once decoded.

    specials -- "nan_all_ones" (E4M3: only S.1111.111 is NaN, no infinity),
                "ieee" (E5M2: all-ones exponent is Inf with a zero mantissa, NaN otherwise),
                None (no special codes).
    The integer format (INT8) has ebits = 0: two's complement times 2^-6.
    HiF8's tapered fields are `HiFloat8`'s.
    """

    tapered = False

    def __init__(self, name, ebits, mbits, bias, specials=None):
        self.name = name
        self.code = FORMAT_CODES[name]
        self.ebits, self.mbits, self.bias, self.specials = ebits, mbits, bias, specials

    @property
    def integer(self):
        return self.ebits == 0

    @property
    def layout(self):
        """Bit fields of the element, from bit 0; narrower formats sit in the low bits of the byte."""
        if self.integer:
            return data.StructLayout({"mant": self.mbits, "sign": 1})
        return data.StructLayout({"mant": self.mbits, "exp": self.ebits, "sign": 1})

    @property
    def sig_width(self):
        # floats: the mantissa plus the hidden bit; INT8: the magnitude of -128 needs 8 bits
        return self.mbits + 1

    @property
    def lsb_exp(self):
        """Weight (log2) of the significand's LSB at the smallest exponent (subnormals, INT8)."""
        return -6 if self.integer else 1 - self.bias - self.mbits

    @property
    def max_exp_field(self):
        """Largest exponent field of a finite value."""
        return (1 << self.ebits) - (2 if self.specials == "ieee" else 1)

    @property
    def top_exp(self):
        """Every finite magnitude is below 2^top_exp."""
        if self.integer:
            return self.lsb_exp + self.sig_width
        return self.max_exp_field - self.bias - self.mbits + self.sig_width


class HiFloat8(ElementFormat):
    """HiF8 (SPEC §1): `S | dot | exponent | mantissa`, the dot field a prefix code for the widths.

    Decoded, a normal value is a 4-bit significand `1mmm` (a 1- or 2-bit mantissa padded with
    zeros) times 2^(E-3), E in -15..15; a denormal 2^(M-23) is significand 1 at weight M-23. So
    significands have 4 bits, the least LSB weight is 2^-22 and every finite magnitude (at most
    2^15) is below 2^16.
    """

    tapered = True
    #: bits 6..0 of the element: 7 low bits and the sign
    layout = data.StructLayout({"low": 7, "sign": 1})
    #: The dot fields, tried in this order on bits 6..0: (prefix, length, exponent width w,
    #: mantissa width m); none matching is a denormal `0000 MMM`.
    dots = ((0b11, 2, 4, 1), (0b10, 2, 3, 2), (0b01, 2, 2, 3), (0b001, 3, 1, 3), (0b0001, 4, 0, 3))
    #: bits 6..0 of ±Inf (what would be 1.5 · 2^15)
    inf_low = 0x6F
    #: the largest |E| and the least denormal's exponent
    emax, denormal_lsb = 15, -22

    def __init__(self):
        super().__init__("hif8", 0, 3, None)

    @property
    def integer(self):
        return False

    @property
    def lsb_exp(self):
        return self.denormal_lsb

    @property
    def top_exp(self):
        return self.emax + 1


#: The seven formats of SPEC §1, by name. INT8 is a sign bit and 7 more bits of two's complement.
ELEMENT_FORMATS = {f.name: f for f in (
    ElementFormat("e4m3", 4, 3, 7, "nan_all_ones"),
    ElementFormat("e5m2", 5, 2, 15, "ieee"),
    ElementFormat("e3m2", 3, 2, 3),
    ElementFormat("e2m3", 2, 3, 1),
    ElementFormat("e2m1", 2, 1, 1),
    ElementFormat("int8", 0, 7, 0),
    HiFloat8(),
)}


class Grid:
    """The fixed-point grid every exact product of the enabled formats lands on.

    An element's exponent is carried as an unsigned offset from the smallest element LSB weight
    `elem_lsb`, so a product's weight is 2^(lsb + exp_a + exp_b) with `lsb = 2 · elem_lsb`.
    Every product magnitude is below 2^(2 · elem_top), so `width` magnitude bits hold it exactly
    (E4M3 and E5M2 only: 2^-32 .. 2^31, 64 bits). The grid widens only with the formats that
    need it: HiF8's denormals reach 2^-22, so with hif8 enabled products run from 2^-44 to below
    2^32 (E5M2's 57344² is the largest; HiF8's own stay below 2^31): 76 bits.
    """

    def __init__(self, config):
        self.formats = tuple(ELEMENT_FORMATS[name] for name in config.formats)
        self.elem_lsb = min(f.lsb_exp for f in self.formats)
        self.elem_top = max(f.top_exp for f in self.formats)
        # every enabled significand fits
        self.sig_width = max(f.sig_width for f in self.formats)
        # exponent offset of the significand LSB: 0 .. (largest LSB weight of a finite value) - elem_lsb
        self.exp_width = max(f.top_exp - f.sig_width - self.elem_lsb for f in self.formats).bit_length()
        self.lsb = 2 * self.elem_lsb
        # magnitude bits between the smallest product LSB and the exclusive bound of the largest product
        self.width = 2 * self.elem_top - self.lsb
        # a product's signed value on the grid: the magnitude plus a sign bit
        self.product_width = self.width + 1
        # the exact sum of `block` products: ceil(log2 block) more bits (block is a power of two)
        self.sum_width = self.product_width + (config.block - 1).bit_length()


def unpacked_layout(grid):
    """One decoded operand: `(-1)^sign · sig · 2^(grid.elem_lsb + exp)`; sig and exp mean nothing
    when NaN/Inf (see `hw.unpack.Unpack`)."""
    return data.StructLayout({
        "sig": grid.sig_width,
        "exp": grid.exp_width,
        "sign": 1,
        "nan": 1,
        "inf": 1,
        "zero": 1,
    })
