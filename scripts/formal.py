"""`mxdpu formal`: prove Accumulate's fast stages equal to their references with Yosys' SAT.

The stage proofs take seconds each and also run in the test suite (tests/sim/test_formal.py).
`--whole` adds the whole Accumulate against `ReferenceAccumulate` (exact add on a 580-bit grid,
one rounding): a proof that does not complete yet (sim/formal.py says why), with a time limit.
"""

from mxdpu.hw.config import Config
from mxdpu.hw.formats import Grid
from mxdpu.sim.formal import STAGE_PROOFS, FormalError, WholeMiter, prove

from .errors import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("--whole", action="store_true",
                        help="also prove the whole Accumulate against its exact reference")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="time limit of each proof (default: %(default)s)")
    parser.add_argument("--build-dir", default="build/formal", metavar="DIR",
                        help="where the miters and Yosys logs go (default: %(default)s)")


def run(args):
    if not args.timeout > 0:
        raise UsageError(f"Timeout must be a positive number of seconds, not {args.timeout:g}")
    proofs = dict(STAGE_PROOFS)
    if args.whole:
        grid = Grid(Config())
        proofs["whole"] = lambda: WholeMiter(sum_width=grid.sum_width, grid_lsb=grid.lsb)
    for name, miter in proofs.items():
        try:
            seconds = prove(miter(), name, args.build_dir, timeout=args.timeout)
        except FormalError as error:
            raise UsageError(str(error)) from None
        print(f"{name:14} proved in {seconds:.1f} s")
    return 0
