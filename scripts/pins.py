"""Pin plans: where a placed design's ports go on the package, as nextpnr LPF constraints.

Left to itself, nextpnr scatters the ports round the die, and the registers beside a stream's
pins end up far from the registers that decide its handshake. A plan puts each group of ports on
one run of adjacent pins, centred on the middle of an edge, with the group's 1-bit ports
(valid, ready, last) in the middle of the run and the bits of its wide ports on both sides.
"""

from .errors import UsageError

__all__ = ["PACKAGE_EDGES", "package_of", "plan_pins", "lpf"]

#: The user I/O pins of each package, edge by edge, clockwise round the die: the top from left to
#: right, the right side from top to bottom, the bottom from right to left, the left side from
#: bottom to top. Measured: the pin's BEL as nextpnr-ecp5 binds it ("constrained to Bel
#: 'X0/Y26/PIOA'", a LOCATE per pin, `--pack-only`); the LFE5U-25F, -45F and -85F put every pin on
#: the same edge in the same order.
PACKAGE_EDGES = {
    "CABGA381": {
        "top": "A6 B6 E6 D6 E7 D7 C6 C7 E8 D8 C8 B8 A7 A8 D9 E9 B9 C10 A9 B10 A10 A11 B11 C11 D11 "
               "E11 B12 C12 D12 E12 A12 A13 B13 C13 D13 E13 A14 C14 D14 E14 B15 C15 D15 E15 A16 B16 "
               "C16 D16 B17 C17 A17 B18 A18 B19 A19 B20".split(),
        "right": "C18 D17 E16 F16 D18 E17 E18 F18 F17 G18 G16 H16 H18 H17 J17 J16 C20 D19 D20 E19 "
                 "E20 F19 F20 G20 G19 H20 J18 K18 J19 K19 J20 K20 L20 M20 L19 M19 L16 L17 L18 M18 "
                 "N16 M17 N18 P17 N17 P16 R16 R17 N19 N20 P19 P18 P20 R20 T20 U20 T19 R18 U19 T18 "
                 "U18 U17 U16 T17".split(),
        "bottom": "T3 R3 R2 U2 T2 W2 V2 Y2 W1 V1 U1 T1 R1".split(),
        "left": "P4 P3 P2 P1 N1 L1 M1 N2 L2 L3 M3 N3 P5 N4 N5 M4 L5 L4 K5 K4 K1 H1 J1 K2 K3 J3 J5 "
                "J4 G1 H2 F1 G2 E2 F2 F3 G3 H3 H5 G5 H4 E1 D2 D1 C1 C2 B2 B1 A2 F5 E5 E3 F4 D3 C3 "
                "D5 E4 B3 A3 B4 C4 C5 B5 A5 A4".split(),
    },
}


def package_of(args):
    """The package named in nextpnr arguments (`--package NAME`), None without one."""
    return args[args.index("--package") + 1] if "--package" in args else None


def plan_pins(package, groups, widths):
    """{port bit: pin}: each group's ports on a run of adjacent pins centred on the middle of its
    edge, the run continuing round the corner when the edge is too short.

    package -- a key of `PACKAGE_EDGES`.
    groups  -- {edge: [port names]}: "top", "right", "bottom" or "left".
    widths  -- {port name: width}; a port bit is named "port[i]", a 1-bit port "port".
    """
    if package not in PACKAGE_EDGES:
        raise UsageError(f"Pin plans know the packages {', '.join(PACKAGE_EDGES)}, not {package!r}")
    edges = PACKAGE_EDGES[package]
    ring = [pin for edge in edges.values() for pin in edge]
    middles, first = {}, 0  # each edge's middle pin, as an index into the ring
    for edge, pins in edges.items():
        middles[edge], first = first + len(pins) // 2, first + len(pins)
    unknown = [edge for edge in groups if edge not in edges]
    missing = [port for ports in groups.values() for port in ports if port not in widths]
    if unknown or missing:
        raise UsageError("; ".join(
            [f"Pin plan edges must be {', '.join(edges)}, not {', '.join(map(repr, unknown))}"] * bool(unknown)
            + [f"Pin plan names ports the design lacks: {', '.join(missing)}"] * bool(missing)))
    plan, taken = {}, {}
    for edge, ports in groups.items():
        singles = [port for port in ports if widths[port] == 1]
        wide = [f"{port}[{i}]" for port in ports if widths[port] > 1 for i in range(widths[port])]
        bits = wide[:len(wide) // 2] + singles + wide[len(wide) // 2:]
        start = middles[edge] - len(bits) // 2
        for offset, bit in enumerate(bits):
            pin = ring[(start + offset) % len(ring)]
            if pin in taken or len(bits) > len(ring):
                raise UsageError(f"Pin plan for {package}: the {edge} edge's {len(bits)} pins run into "
                                 f"the {taken.get(pin, edge)} edge's; the package has {len(ring)} pins")
            plan[bit], taken[pin] = pin, edge
    return plan


def lpf(plan):
    """The text of an LPF file that places each port bit of `plan` on its pin."""
    return "".join(f'LOCATE COMP "{bit}" SITE "{pin}";\n' for bit, pin in plan.items())
