"""cocotb test module of the mxdpu top level: one test per job file named in $MXDPU_JOBS.

The runner (`sim/runner.py`) writes the job files (stream, expected results, options) into the
run directory; this module only drives and compares, writes each job's summary JSON, then makes
the closing assertions. Several jobs share one simulator start; the DUT is reset before each.
"""

import json
import os
from pathlib import Path

import cocotb

from mxdpu.verif.bench.job import check_summary, load_job
from mxdpu.verif.bench.tb import TB

#: job name (<test>-<seed>) -> job file
JOBS = {Path(path).stem: path for path in os.environ.get("MXDPU_JOBS", "").split(os.pathsep) if path}


@cocotb.test()
@cocotb.parametrize(job=list(JOBS))
async def run_job(dut, job):
    stream, expected, options = load_job(JOBS[job])
    tb = TB(dut, options.manifest)
    summary = await tb.run(stream, expected, options)
    with open(options.summary, "w") as f:
        json.dump(summary, f, indent=1)
    check_summary(summary, options)
