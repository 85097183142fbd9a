"""Pipeline registers placed by parameter."""

from amaranth.hdl import Signal

__all__ = ["delay"]


def delay(m, value, cycles, name="delayed"):
    """`value` (a Value or a data View) through `cycles` registers of the sync domain of `m`."""
    for index in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{index}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
