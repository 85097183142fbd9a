"""Pipeline registers placed by parameter, and the parts of wide registers."""

from amaranth.hdl import Signal

__all__ = ["delay", "bit_slices", "ENABLE_COPIES"]

#: Parts of a wide register (the held step, the assembled frame and payload) that each load by
#: an enable of their own, decided by their own kept copy of the control flip-flops: a net from
#: one LUT to every bit of a step was the slowest path on ECP5
ENABLE_COPIES = 4


def delay(m, value, cycles, name="delayed", *, reset_less=False):
    """`value` (a Value or a data View) through `cycles` registers of the sync domain of `m`.

    `reset_less`: the registers ignore reset (no reset net to them; what they hold after reset
    is whatever was in flight). Only for data whose use is gated by a control bit that is reset.
    """
    for index in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{index}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def bit_slices(width, count):
    """`count` (low, width) bit slices covering `width` bits, the lower ones no narrower."""
    size = -(-width // count)
    return [(low, min(size, width - low)) for low in range(0, width, size)]
