"""The FPGA prototyping top in cocotb on Icarus and Verilator: cocotbext-axi source and sink, TVALID
gaps and TREADY backpressure, every result bit-exact against the golden model (verif/tb_axis.py)."""

import json

import pytest
from cocotb_tools.runner import get_results, get_runner

from mxdpu.sim import runner
from mxdpu.sim.axis_export import export_axis_verilog
from tests.common import TILE_1X2_K16

# 417-bit steps in 7 beats, 73-bit results in 2 beats
CONFIG = TILE_1X2_K16
STEPS = 32  # per stimulus set
RUNS = 4  # idle inserter off/on × backpressure inserter off/on


@pytest.mark.slow
@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_axis_top_bit_exact_with_idle_and_backpressure(sim, tmp_path):
    # the runner builds the module named runner.TOP from <dir>/rtl/<TOP>.v
    design = runner.Design(CONFIG, runner.BUILD_ROOT.resolve() / f"axis-{runner.config_key(CONFIG)}-{sim}")
    export_axis_verilog(CONFIG, design.verilog.parent, top=runner.TOP)
    build_dir = runner.build(design, sim)
    out = tmp_path / "summaries"
    results_xml = tmp_path / "results.xml"
    try:
        get_runner(sim).test(
            test_module="mxdpu.verif.tb_axis", hdl_toplevel=runner.TOP, hdl_toplevel_lang="verilog",
            build_dir=build_dir, test_dir=tmp_path, results_xml=str(results_xml),
            log_file=tmp_path / "sim.log", timescale=runner.TIMESCALE if sim == "icarus" else None,
            extra_env={"MXDPU_AXIS_MANIFEST": str(design.manifest), "MXDPU_AXIS_OUT": str(out),
                       "MXDPU_AXIS_STEPS": str(STEPS), "MXDPU_AXIS_SEED": "7"})
    except SystemExit:
        pass  # failures are read from the results and summaries below
    tests, failed = get_results(results_xml)
    summaries = [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]
    assert (tests, failed) == (RUNS, 0), f"{failed} of {tests} runs failed: {summaries}; log {tmp_path / 'sim.log'}"
    assert len(summaries) == RUNS
    for summary in summaries:
        assert [s["set"] for s in summary["sets"]] == ["hazards", "throughput"]
        for stream in summary["sets"]:
            assert stream["mismatches"] == 0 and stream["frame_errors"] == 0 and stream["extra_results"] == 0
            assert stream["steps"] == STEPS
            assert stream["results_checked"] == stream["results_expected"] == stream["last_steps"] > 0


def test_axis_manifest_ports_match_the_verilog(tmp_path):
    verilog_path, manifest_path = export_axis_verilog(CONFIG, tmp_path, top="proto", data_width=32)
    manifest = json.loads(manifest_path.read_text())
    text = verilog_path.read_text()
    header = text[text.index("module proto("):]
    header = header[:header.index("endmodule")]
    for port, spec in manifest["ports"].items():
        width = f"[{spec['width'] - 1}:0] " if spec["width"] > 1 else ""
        assert f"{'input' if spec['direction'] == 'in' else 'output'} {width}{port};" in header
    assert manifest["top"] == "proto"
    # 417 step bits in 32-bit beats: 14; 73 result bits: 3
    assert (manifest["axis"]["step_beats"], manifest["axis"]["result_beats"]) == (14, 3)
    assert manifest["axis"]["latency"] == CONFIG.latency + 4
    assert manifest["step_fields"] == CONFIG.step_fields and manifest["result_fields"] == CONFIG.result_fields
