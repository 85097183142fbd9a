"""`mxdpu bench`: golden-model throughput, in steps per second, on realistic streams.

The stream: each step's A rows and B columns are normal random data with a per-row magnitude,
quantised (RCEIL) to E4M3 or E5M2, the format drawn per step; slots rotate and each slot
accumulates `--chain` steps (first on the first, last on the last), as a K = chain · k dot
product would. Two paths are timed: `GoldenTile.run` on the whole stream (batched) and
`GoldenTile.step` one step at a time.
"""

import time

import numpy as np

from mxdpu.hw.config import PRESETS
from mxdpu.scripts.errors import UsageError
from mxdpu.verif.golden import GoldenTile
from mxdpu.verif.quantise import quantise

BENCH_PRESETS = ("dpu", "tile4x4")
FORMATS = ("e4m3", "e5m2")


def add_arguments(parser):
    parser.add_argument("--preset", action="append", choices=sorted(PRESETS),
                        help="measure this preset; repeat for more (default: dpu and tile4x4)")
    parser.add_argument("--steps", type=int, default=20000,
                        help="steps in the batched stream (default: %(default)s)")
    parser.add_argument("--single-steps", type=int, default=1000,
                        help="steps timed one at a time through GoldenTile.step (default: %(default)s)")
    parser.add_argument("--chain", type=int, default=8,
                        help="steps accumulated per result (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")


def realistic_stream(config, n_steps, chain, rng):
    """Arrays for `GoldenTile.run_arrays`: n_steps quantised-normal steps, slots rotating."""
    k = config.block

    def operand(count):
        values = rng.standard_normal((n_steps, count, k)) * np.exp2(rng.integers(-8, 9, (n_steps, count, 1)))
        fmt = rng.integers(0, len(FORMATS), n_steps)
        codes = np.empty((n_steps, count, k), np.uint8)
        scales = np.empty((n_steps, count), np.uint8)
        for code, name in enumerate(FORMATS):
            sel = fmt == code
            codes[sel], scale = quantise(values[sel].astype(np.float32), name, "rceil", block=k)
            scales[sel] = scale[..., 0]
        return codes, scales, fmt

    a, a_scale, a_format = operand(config.rows)
    b, b_scale, b_format = operand(config.cols)
    n = np.arange(n_steps)
    # round-robin over the slots; each slot's accumulation runs `chain` of its steps
    position = (n // config.depth) % chain
    return dict(a=a, a_scale=a_scale, b=b, b_scale=b_scale, a_format=a_format, b_format=b_format,
                slot=n % config.depth, first=position == 0, last=position == chain - 1)


def measure(config, stream, single_steps):
    """(batched steps/s, single steps/s) for one configuration and stream."""
    GoldenTile(config).run_arrays(**{key: value[:8] for key, value in stream.items()})  # warm-up
    start = time.perf_counter()
    GoldenTile(config).run_arrays(**stream)
    batched = len(stream["slot"]) / (time.perf_counter() - start)
    tile = GoldenTile(config)
    steps = [{key: value[n] for key, value in stream.items()} for n in range(single_steps)]
    start = time.perf_counter()
    for step in steps:
        tile.step(**step)
    single = single_steps / (time.perf_counter() - start) if single_steps else float("nan")
    return batched, single


def run(args):
    for name, value, low in (("--steps", args.steps, 1), ("--single-steps", args.single_steps, 0),
                             ("--chain", args.chain, 1), ("--seed", args.seed, 0)):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, not {value}")
    single_steps = min(args.single_steps, args.steps)
    rng = np.random.default_rng(args.seed)
    print(f"golden-model throughput: {args.steps} batched steps, {single_steps} single steps, "
          f"{args.chain} steps per result, E4M3/E5M2 mixed")
    print(f"{'preset':<12} {'tile':>10} {'batched steps/s':>16} {'PE-steps/s':>12} {'single steps/s':>15}")
    for name in args.preset or BENCH_PRESETS:
        config = PRESETS[name]
        stream = realistic_stream(config, args.steps, args.chain, rng)
        batched, single = measure(config, stream, single_steps)
        pes = config.rows * config.cols
        print(f"{name:<12} {f'{config.rows}x{config.cols} k{config.block}':>10} {batched:>16,.0f} "
              f"{batched * pes:>12,.0f} {single:>15,.0f}")
    return 0
