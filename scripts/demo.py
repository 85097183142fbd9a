"""`make demo`: generate, check, regress and synthesise in one short run.

1. generate the `dpu` preset's Verilog and manifest into build/demo/,
2. the public known answers through the golden model,
3. a quick bit-exact regression of it on Icarus and Verilator,
4. synthesis with Yosys and the figures.
Stops at the first step that fails, with that step's exit status.
"""

import sys

from mxdpu.scripts.cli import main as mxdpu
from mxdpu.verif.kat import PUBLIC_KAT

STEPS = [
    ("generate Verilog and manifest", ["generate", "--preset", "dpu", "-o", "build/demo"]),
    ("known answers through the golden model", ["golden", "--check", str(PUBLIC_KAT)]),
    ("quick regression on Icarus and Verilator", ["regress", "--quick", "--preset", "dpu",
                                                  "--sim", "icarus,verilator"]),
    ("synthesis and figures", ["synth", "--preset", "dpu", "--target", "generic,cmos,ecp5"]),
]


def main():
    for number, (title, argv) in enumerate(STEPS, 1):
        print(f"\n== demo {number}/{len(STEPS)}: {title}: mxdpu {' '.join(argv)}", flush=True)
        status = mxdpu(argv)
        if status:
            print(f"demo: step {number} ({title}) failed with status {status}", file=sys.stderr)
            return status
    print("\ndemo: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
