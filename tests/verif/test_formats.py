"""verif/formats.py: every code of every format against ml_dtypes (HiF8 against en_dtypes, INT8
against two's complement)."""

from fractions import Fraction

import en_dtypes
import ml_dtypes
import numpy as np
import pytest

from tests.common import ALL_FORMATS, E4M3
from tests.verif.exact_reference import ML_DTYPES
from mxdpu.hw.config import FORMAT_CODES
from mxdpu.verif.formats import FORMATS, KIND, LSB_EXP, SIGN, VALUE, FINITE, INF, NAN, bit_length, decode


def _ml_dtypes_value(name, code):
    """(kind, sign, value as float) of a byte by ml_dtypes, high bits outside the format dropped."""
    bits = FORMATS[FORMAT_CODES[name]].bits
    if name == "int8":
        signed = np.array([code], np.uint8).view(np.int8)[0]
        return FINITE, int(signed < 0), float(signed) / 64
    x = np.array([code & ((1 << bits) - 1)], np.uint8).view(ML_DTYPES[name])[0]
    value = float(x)
    kind = NAN if np.isnan(value) else INF if np.isinf(value) else FINITE
    return kind, int(np.signbit(value)) if kind != NAN else None, value


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_every_code_decodes_as_ml_dtypes_does(name):
    fmt = FORMAT_CODES[name]
    for code in range(256):
        kind, sign, value = _ml_dtypes_value(name, code)
        d = decode(fmt, code)
        assert d.kind == ("finite", "inf", "nan")[kind], (name, code)
        assert KIND[fmt, code] == kind, (name, code)
        if kind != NAN:
            assert (d.sign, int(SIGN[fmt, code])) == (sign, sign), (name, code)
        if kind == FINITE:
            assert d.exp == LSB_EXP[fmt]
            exact = (-1) ** d.sign * Fraction(d.mag) * Fraction(2) ** d.exp
            assert exact == Fraction(value), (name, code)
            assert Fraction(int(VALUE[fmt, code])) * Fraction(2) ** int(LSB_EXP[fmt]) == Fraction(value)
        else:
            assert (d.mag, VALUE[fmt, code]) == (0, 0)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_format_record_matches_its_codes(name):
    f = FORMATS[FORMAT_CODES[name]]
    finite = [Fraction(int(v)) * Fraction(2) ** f.lsb_exp
              for v, k in zip(VALUE[f.code], KIND[f.code]) if k == FINITE]
    assert max(finite) == f.max_finite == Fraction(f.max_mag) * Fraction(2) ** f.lsb_exp
    assert Fraction(2) ** f.emax <= f.max_finite < Fraction(2) ** (f.emax + 1)
    if name != "int8":
        finfo = en_dtypes.finfo if name == "hif8" else ml_dtypes.finfo
        assert max(finite) == Fraction(float(finfo(ML_DTYPES[name]).max))


def test_bit_length_matches_python_near_powers_of_two():
    values = [0, 1, 2, 3] + [(1 << n) + d for n in range(2, 62) for d in (-1, 0, 1)]
    assert bit_length(np.array(values, np.int64)).tolist() == [v.bit_length() for v in values]


def test_decode_refuses_bad_codes():
    with pytest.raises(ValueError, match="Format code must be one of 0..6, not 7"):
        decode(7, 0)
    with pytest.raises(ValueError, match="Element code must be a byte 0..255, not 256"):
        decode(0, 256)


def test_every_e8m0_scale_code_scales_as_ml_dtypes_does():
    """A 1.0 × 1.0 block under scales (code, 127) comes out as ml_dtypes' float8_e8m0fnu value of code."""
    from mxdpu.verif.golden import pe_step

    one = 0x38  # E4M3 1.0
    block = [one] + [0] * 31
    for code in range(256):
        expected = np.float32(np.array([code], np.uint8).view(ml_dtypes.float8_e8m0fnu)[0])
        d_bits, flags = pe_step(E4M3, E4M3, block, block, code, 127, 0)
        if np.isnan(expected):
            assert (d_bits, flags) == (0x7FC00000, 0), code
        else:
            assert (d_bits, flags) == (int(expected.view(np.uint32)), 0), code
        # the same scale on the B side gives the same bits
        assert pe_step(E4M3, E4M3, block, block, 127, code, 0) == (d_bits, flags), code


def test_hif8_specials_and_extremes():
    """SPEC §1: 0x00 the only zero, 0x80 the only NaN, 0x6F / 0xEF ±Inf, 32768 and 2^-22 its extremes."""
    hif8 = FORMAT_CODES["hif8"]
    kinds = [decode(hif8, c).kind for c in range(256)]
    assert [c for c, k in enumerate(kinds) if k == "nan"] == [0x80]
    assert [(c, decode(hif8, c).sign) for c, k in enumerate(kinds) if k == "inf"] == [(0x6F, 0), (0xEF, 1)]
    assert [c for c in range(256) if kinds[c] == "finite" and decode(hif8, c).mag == 0] == [0x00]
    value = {c: Fraction(decode(hif8, c).mag) * Fraction(2) ** decode(hif8, c).exp for c in (0x6E, 0x01, 0x08)}
    assert value == {0x6E: 32768, 0x01: Fraction(1, 2 ** 22), 0x08: 1}
