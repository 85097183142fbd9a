# amaranth: UnusedElaboratable=no
"""Pin plans (`scripts/pins.py`): the package table against nextpnr, and the AXI4-Stream top's plan."""

import re

import pytest

from mxdpu.hw.axis import AXISTop
from mxdpu.hw.config import Config
from mxdpu.scripts import flow
from mxdpu.scripts.errors import UsageError
from mxdpu.scripts.pins import PACKAGE_EDGES, lpf, plan_pins
from mxdpu.scripts.synth import AXIS_PINS

RING = [pin for edge in PACKAGE_EDGES["CABGA381"].values() for pin in edge]


def test_axis_plan_puts_each_stream_on_one_run_handshake_in_its_middle():
    # the top is read for its ports, not elaborated (hence the file's linter option above)
    widths = flow.port_widths(AXISTop(Config(rows=1, cols=1, block=16, lanes=2, depth=1), 64))
    plan = plan_pins("CABGA381", AXIS_PINS, widths)
    assert len(plan) == sum(widths.values()) == 136 and len(set(plan.values())) == 136
    for edge, ports in AXIS_PINS.items():
        edge_pins = PACKAGE_EDGES["CABGA381"][edge]
        middle = RING.index(edge_pins[len(edge_pins) // 2])
        # each pin's place in the ring, counted from the edge's middle pin, either way round
        place = {bit: (RING.index(pin) - middle + len(RING) // 2) % len(RING) - len(RING) // 2
                 for bit, pin in plan.items() if bit.split("[")[0] in ports}
        places = sorted(place.values())
        assert places == list(range(places[0], places[0] + len(places)))  # adjacent pins
        assert places[0] <= 0 <= places[-1]
        for port in ports:
            if widths[port] == 1:  # valid, ready, last within a pin or two of the middle
                assert abs(place[port]) <= 2
    assert plan["s_axis_tvalid"] in PACKAGE_EDGES["CABGA381"]["left"]
    assert plan["m_axis_tvalid"] in PACKAGE_EDGES["CABGA381"]["right"]
    assert lpf({"clk": "C12", "x[3]": "A4"}) == 'LOCATE COMP "clk" SITE "C12";\nLOCATE COMP "x[3]" SITE "A4";\n'


@pytest.mark.parametrize("package,groups,widths,message", [
    ("CABGA256", {"left": ["a"]}, {"a": 1}, "Pin plans know the packages CABGA381, not 'CABGA256'"),
    ("CABGA381", {"middle": ["a"]}, {"a": 1}, "Pin plan edges must be top, right, bottom, left, not 'middle'"),
    ("CABGA381", {"left": ["a", "b"]}, {"a": 1}, "Pin plan names ports the design lacks: b"),
    ("CABGA381", {"left": ["a"], "bottom": ["b"]}, {"a": 60, "b": 20},
     "Pin plan for CABGA381: the bottom edge's 20 pins run into the left edge's; the package has 197 pins"),
    ("CABGA381", {"top": ["a"]}, {"a": 198},
     "Pin plan for CABGA381: the top edge's 198 pins run into the top edge's; the package has 197 pins"),
])
def test_plan_refused_in_one_line(package, groups, widths, message):
    with pytest.raises(UsageError) as error:
        plan_pins(package, groups, widths)
    assert str(error.value) == message


def test_pins_on_ice40_are_refused(tmp_path):
    with pytest.raises(UsageError, match="Pin plans are written for ecp5 \\(LPF\\), not ice40"):
        flow.place("ice40", "x.json", tmp_path, 20, "hx8k", pins={"clk": "A1"})


@pytest.mark.slow  # Yosys and nextpnr
def test_nextpnr_binds_every_pin_of_the_table_on_its_edge_in_order(tmp_path):
    """A design with one port per pin of the package, placed with the table's plan on each ECP5
    device: nextpnr binds every pin to an I/O site on the edge the table names, in its order."""
    (tmp_path / "ring.v").write_text(f"module ring(input [{len(RING) - 2}:0] a, output y);\n"
                                     "assign y = ^a;\nendmodule\n")
    flow.yosys(["read_verilog ring.v", "synth_ecp5 -top ring -json ring_ecp5.json"], tmp_path, "ring.log")
    plan = {f"a[{i}]": pin for i, pin in enumerate(RING[:-1])} | {"y": RING[-1]}
    for device in flow.FAMILIES["ecp5"]:
        placed = flow.place("ecp5", "ring_ecp5.json", tmp_path, 100, device, pins=plan)
        assert placed["fits"], placed["error"]
        log = (tmp_path / f"ring_ecp5_{device}_s1_nextpnr.log").read_text()
        bound = {bit: (int(x), int(y)) for bit, x, y in
                 re.findall(r"pin '(.+?)\$tr_io' constrained to Bel 'X(\d+)/Y(\d+)/PIO\w'", log)}
        assert len(bound) == len(plan)
        at = {plan[bit]: site for bit, site in bound.items()}
        right, bottom = max(x for x, _ in at.values()), max(y for _, y in at.values())
        on_edge = {"top": lambda x, y: y == 0, "right": lambda x, y: x == right,
                   "bottom": lambda x, y: y == bottom, "left": lambda x, y: x == 0}
        # clockwise: x rises along the top, y down the right side, x falls along the bottom, y up the left
        along = {"top": lambda x, y: x, "right": lambda x, y: y, "bottom": lambda x, y: -x,
                 "left": lambda x, y: -y}
        for edge, pins in PACKAGE_EDGES["CABGA381"].items():
            assert all(on_edge[edge](*at[pin]) for pin in pins), (device, edge)
            steps = [along[edge](*at[pin]) for pin in pins]
            assert steps == sorted(steps), (device, edge)
