"""Verilog and manifest of the FPGA prototyping top (`hw.axis.AXISTop`), for `mxdpu generate --axis`
and the AXI4-Stream bench, through the one export path (`sim.export.export_verilog`)."""

from mxdpu.hw.axis import AXISTop, check_data_width
from mxdpu.sim.export import export_verilog

__all__ = ["export_axis_verilog"]


class _AXISBuild:
    """What `export_verilog` asks of a configuration (`create`, `manifest`), answered for the
    AXIS top around it."""

    def __init__(self, config, data_width):
        check_data_width(data_width)
        self.config = config
        self.data_width = data_width
        self.design = None

    def create(self):
        self.design = AXISTop(self.config, self.data_width)
        return self.design

    def manifest(self, top):
        return self.design.manifest(top)


def export_axis_verilog(config, out_dir, top="mxdpu_axis", data_width=64):
    """Write `out_dir/<top>.v` (the AXIS top and the tile below it) and `out_dir/<top>.json` (its
    manifest: the tile's fields and latency, its AXI4-Stream ports and framing); return both
    paths. The data width and the top name are checked before anything is elaborated."""
    return export_verilog(_AXISBuild(config, data_width), out_dir, top)
