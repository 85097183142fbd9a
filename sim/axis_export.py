"""Verilog and manifest of the FPGA prototyping top (`hw.axis.AXISTop`), for `mxdpu generate --axis`
and the AXI4-Stream bench, through the one export path (`sim.export.export_component`)."""

from mxdpu.hw.axis import AXISTop
from mxdpu.sim.export import check_top_name, export_component

__all__ = ["export_axis_verilog"]


def export_axis_verilog(config, out_dir, top="mxdpu_axis", data_width=64):
    """Write `out_dir/<top>.v` (the AXIS top and the tile below it) and `out_dir/<top>.json` (its
    manifest: the tile's fields and latency, its AXI4-Stream ports and framing); return both
    paths. The data width and the top name are checked before anything is elaborated."""
    check_top_name(top)
    design = AXISTop(config, data_width)
    return export_component(design, design.manifest(top), out_dir, top)
