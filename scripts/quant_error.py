"""Quantisation error of HiF8 against MXFP8 (E4M3, E5M2), all with UE8M0 block scales.

    mxdpu quant-error [--elements N] [--seed S] [--plot FILE.png]

The same FP32 data (Gaussian, and heavy-tailed Student t with 2 degrees of freedom) is quantised
by the golden quantiser (SPEC §5) in blocks of k = 32 and 128 under the FLOOR (OCP MX) and RCEIL
(cuBLAS, DeepGEMM) scale rules, decoded exactly, and compared with the data: the table gives the
signal-to-quantisation-noise ratio, SQNR = 10 log10(sum x² / sum (x − q)²) in dB (higher is
better), and the share of nonzero values that became zero.

Column `hif8@3` is not SPEC §5: HiF8 with emax 3 (and 15 as the max_F of RCEIL), which puts a
block's largest value where HiF8 has 3 mantissa bits instead of 1, its headroom above unused.
"""

from fractions import Fraction

import numpy as np

from mxdpu.verif.formats import FORMATS as FORMAT_TABLE
from mxdpu.verif.formats import LSB_EXP, VALUE, format_code
from mxdpu.verif.quantise import quantise

from .errors import UsageError
from .options import output_file

__all__ = ["FORMATS", "RULES", "BLOCKS", "DATA", "dequantise", "measure", "table", "add_arguments", "run"]

_HIF8 = FORMAT_TABLE[format_code("hif8")]
#: column -> the verif.formats.Format the quantiser is given
FORMATS = {name: FORMAT_TABLE[format_code(name)] for name in ("e4m3", "e5m2", "hif8")}
FORMATS["hif8@3"] = _HIF8._replace(emax=3, max_finite=Fraction(15))
RULES = ("floor", "rceil")
BLOCKS = (32, 128)
#: data set name -> (numpy Generator, count) -> float32 values
DATA = {
    "gauss": lambda rng, n: rng.standard_normal(n).astype(np.float32),
    "heavy": lambda rng, n: rng.standard_t(2, n).astype(np.float32),
}


def dequantise(codes, scales, fmt, block):
    """The exact values (float64) of element codes with their UE8M0 scales (finite blocks only);
    fmt a verif.formats.Format."""
    code = fmt.code
    grid = VALUE[code][codes.astype(np.int64)].astype(np.float64)
    exponent = np.repeat(scales.astype(np.int64), block, axis=-1) - 127 + LSB_EXP[code]
    return np.ldexp(grid, exponent)


def measure(values, fmt, rule, block):
    """(SQNR in dB, share of nonzero values quantised to zero) of one format, rule and k."""
    codes, scales = quantise(values, fmt, rule, block)
    q = dequantise(codes, scales, fmt, block)
    x = values.astype(np.float64)
    noise = np.sum((x - q) ** 2)
    sqnr = float("inf") if noise == 0 else 10 * np.log10(np.sum(x ** 2) / noise)
    return sqnr, float(np.mean(q[x != 0] == 0))


def table(elements, seed):
    """{(data, k, rule, format): (SQNR dB, flushed share)} over every combination."""
    out = {}
    for data_name, draw in DATA.items():
        values = draw(np.random.default_rng(seed), elements)
        for block in BLOCKS:
            for rule in RULES:
                for name, fmt in FORMATS.items():
                    out[data_name, block, rule, name] = measure(values, fmt, rule, block)
    return out


def format_table(results):
    head = "| data | k | rule | " + " | ".join(f"{f} SQNR dB (zeroed)" for f in FORMATS) + " |"
    lines = [head, "|" + "---|" * (3 + len(FORMATS))]
    for data_name in DATA:
        for block in BLOCKS:
            for rule in RULES:
                cells = [f"{results[data_name, block, rule, f][0]:.2f} "
                         f"({100 * results[data_name, block, rule, f][1]:.3f}%)" for f in FORMATS]
                lines.append(f"| {data_name} | {block} | {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(d, k, r) for d in DATA for k in BLOCKS for r in RULES]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(FORMATS)
    for i, fmt in enumerate(FORMATS):
        ax.bar([g + i * width for g in range(len(groups))], [results[(*g, fmt)][0] for g in groups],
               width, label=fmt)
    ax.set_xticks([g + width for g in range(len(groups))], [f"{d}\nk={k} {r}" for d, k, r in groups],
                  fontsize=7)
    ax.set_ylabel("SQNR (dB)")
    ax.set_title("Quantisation error with UE8M0 block scales")
    ax.set_ylim(0, 40)
    ax.legend(ncols=len(FORMATS), loc="upper center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser):
    parser.add_argument("--elements", type=int, default=1 << 20,
                        help="values per data set, a multiple of 128 (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default: %(default)s)")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the SQNR as a bar chart")


def run(args):
    if args.elements <= 0 or args.elements % max(BLOCKS):
        raise UsageError(f"Elements must be a positive multiple of {max(BLOCKS)}, not {args.elements}")
    if args.seed < 0:
        raise UsageError(f"Seed must be 0 or more, not {args.seed}")
    if args.plot:
        output_file(args.plot, "--plot")
    results = table(args.elements, args.seed)
    print(format_table(results))
    if args.plot:
        plot(results, args.plot)
    return 0

