"""Pipeline registers placed by parameter."""

from amaranth.hdl import Signal

__all__ = ["delay"]


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
