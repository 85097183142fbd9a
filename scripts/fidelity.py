"""`mxdpu fidelity`: how far each accumulation mode lands from the exact dot product, against K.

For each data set (Gaussian, heavy-tailed Student t with 2 degrees of freedom, uniform [0, 1)) and
element format (E4M3, E5M2 for both operands), `--rows` pairs of FP32 vectors of length K_max are
quantised by the golden quantiser (verif/quantise.py, RCEIL, blocks of k = 128 as DeepGEMM's 1×128
groups) and dotted through the golden model, one step per block, in four ways:

- `exact`: SPEC §2, one RNE rounding per step;
- `blackwell`, `hopper`: SPEC §6, chained over all of K in the unit;
- `hopper+promote`: DeepSeek-V3's recipe, SPEC §6's last paragraph: each 128-element block in
  `hopper` mode with scale codes 127 from +0, its FP32 partial multiplied by the two block scales
  and added to an FP32 accumulator (RNE) outside the unit.

The error of a row at K (its first K elements, a prefix of the same chain) is |result − exact|
over |exact| and over sum |a_i · b_i| (which a near-zero exact value cannot blow up), both exact
values computed with Python integers from the dequantised codes. The command writes `fidelity.md`
(median and worst over the rows) and `fidelity.png` (error against K, one line per mode) into the
output folder.
"""

import math
import sys
import time
from fractions import Fraction

import numpy as np

from mxdpu.scripts.errors import UsageError
from mxdpu.scripts.options import output_dir
from mxdpu.verif.formats import LSB_EXP, VALUE, format_code
from mxdpu.verif.golden import accumulate, block_terms
from mxdpu.verif.modes import MODE_CODES, vendor_steps
from mxdpu.verif.quantise import quantise

BLOCK = 128
MODES = ("exact", "blackwell", "hopper", "hopper+promote")
DATA = ("gaussian", "heavy-tailed", "uniform")
FORMATS = ("e4m3", "e5m2")
KS = tuple(BLOCK << i for i in range(8))             # 128 .. 16384
_FACTS = ("S", "E", "nan", "invalid", "pinf", "ninf")


def add_arguments(parser):
    parser.add_argument("-o", "--output", default="build/fidelity", metavar="DIR",
                        help="folder for fidelity.md and fidelity.png (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=500,
                        help="dot products per data set, format and K (default: %(default)s)")
    parser.add_argument("--max-k", type=int, default=KS[-1],
                        help=f"largest K, a power of two from {BLOCK} to {KS[-1]} (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")


def draw(rng, data, shape):
    if data == "gaussian":
        return rng.standard_normal(shape)
    if data == "heavy-tailed":
        return rng.standard_t(2, size=shape)
    return rng.random(shape)


def _step(mode, fmt, d, a, b, sa, sb):
    """D of every row after one block in `mode` ("exact", "blackwell" or "hopper"): bits [rows]."""
    n = len(d)
    codes = np.full(n, format_code(fmt))
    if mode == "exact":
        terms = block_terms(codes, codes, a[:, None], b[:, None], sa[:, None], sb[:, None], (fmt,))
        bits, _ = accumulate(d, *(terms[key].reshape(-1) for key in _FACTS), wide=terms["wide"])
        return bits
    bits, _ = vendor_steps(np.full(n, MODE_CODES[mode]), codes, codes, a[:, None], b[:, None], sa[:, None],
                           sb[:, None], d[:, None, None], (fmt,))
    return bits[:, 0, 0]


def _fp32(bits):
    return np.asarray(bits, np.uint32).view(np.float32)


def dot_products(mode, fmt, qa, sa, qb, sb, ks):
    """{K: binary32 bits [rows]} of the quantised rows' dot products over their first K elements."""
    rows, n_blocks = sa.shape
    out = {}
    d = np.zeros(rows, np.uint32)
    acc = np.zeros(rows, np.float32)
    unit = np.full(rows, 127)
    for j in range(n_blocks):
        cut = slice(j * BLOCK, (j + 1) * BLOCK)
        if mode == "hopper+promote":
            partial = _fp32(_step("hopper", fmt, np.zeros(rows, np.uint32), qa[:, cut], qb[:, cut], unit, unit))
            # the two scales are powers of two: their product times the partial is exact in float64,
            # then one FP32 rounding, then one FP32 add (RNE), as a kernel's registers would
            scaled = np.ldexp(partial.astype(np.float64), sa[:, j].astype(np.int64) + sb[:, j] - 254)
            with np.errstate(over="ignore"):
                acc = acc + scaled.astype(np.float32)
            d = acc.view(np.uint32)
        else:
            d = _step(mode, fmt, d, qa[:, cut], qb[:, cut], sa[:, j], sb[:, j])
        if (j + 1) * BLOCK in ks:
            out[(j + 1) * BLOCK] = d.copy()
    return out


def exact_prefixes(fmt, qa, sa, qb, sb, ks, magnitudes=False):
    """{K: [Fraction] per row}: the exact dot products of the dequantised rows' first K elements
    (with `magnitudes`, of their absolute values: sum |a_i · b_i|)."""
    code = format_code(fmt)
    va, vb = VALUE[code][qa].astype(object), VALUE[code][qb].astype(object)
    if magnitudes:
        va, vb = np.abs(va), np.abs(vb)
    rows, n_blocks = sa.shape
    block_sums = (va * vb).reshape(rows, n_blocks, BLOCK).sum(axis=-1)     # Python ints
    lsb = 2 * int(LSB_EXP[code]) - 254
    shifts = sa.astype(np.int64) + sb
    low = int(shifts.min())
    out, total = {}, [0] * rows
    for j in range(n_blocks):
        for r in range(rows):
            total[r] += int(block_sums[r, j]) << (int(shifts[r, j]) - low)
        if (j + 1) * BLOCK in ks:
            out[(j + 1) * BLOCK] = [Fraction(t) * Fraction(2) ** (low + lsb) for t in total]
    return out


def relative_errors(bits, exact, norm=None):
    """|result − exact| / |norm| per row (norm: exact itself when None), skipping a zero norm;
    inf where the result is not finite."""
    errors = []
    for value, want, by in zip(_fp32(bits).tolist(), exact, exact if norm is None else norm):
        if by == 0:
            continue
        errors.append(float(abs(Fraction(value) - want) / abs(by)) if math.isfinite(value) else math.inf)
    return np.array(errors)


def measure(rows, ks, seed, progress=None):
    """{(metric, data, fmt, mode, K): (median, worst)}; progress(text) after each data set.

    metric "exact": |result − exact| / |exact|; "magnitudes": |result − exact| / sum |a_i · b_i|."""
    results = {}
    for number, data in enumerate(DATA):
        for fmt in FORMATS:
            rng = np.random.default_rng([seed, number, format_code(fmt)])
            qa, sa = quantise(draw(rng, data, (rows, ks[-1])).astype(np.float32), fmt, "rceil", block=BLOCK)
            qb, sb = quantise(draw(rng, data, (rows, ks[-1])).astype(np.float32), fmt, "rceil", block=BLOCK)
            qa, qb, sa, sb = (np.asarray(x, np.int64) for x in (qa, qb, sa, sb))
            exact = exact_prefixes(fmt, qa, sa, qb, sb, ks)
            norm = exact_prefixes(fmt, qa, sa, qb, sb, ks, magnitudes=True)
            for mode in MODES:
                for k, bits in dot_products(mode, fmt, qa, sa, qb, sb, ks).items():
                    for metric, by in (("exact", None), ("magnitudes", norm[k])):
                        errors = relative_errors(bits, exact[k], by)
                        results[metric, data, fmt, mode, k] = (float(np.median(errors)), float(errors.max()))
            if progress:
                progress(f"{data} {fmt} done")
    return results


def _percent(x):
    return "inf" if math.isinf(x) else f"{100 * x:.3g} %"


#: metric -> how the table and plot name it
METRICS = {"exact": "|result − exact| / |exact|", "magnitudes": "|result − exact| / Σ|a·b|"}


def write_table(results, ks, rows, path):
    lines = []
    for metric, title in METRICS.items():
        lines += [""] if lines else []
        lines += [f"Relative error {title} of K-long dot products, median / worst over {rows} rows "
                  "(RCEIL-quantised, blocks of 128).", "",
                  "| data | format | K | " + " | ".join(f"{m} median | {m} worst" for m in MODES) + " |",
                  "|---|---|---|" + "---|---|" * len(MODES)]
        for data in DATA:
            for fmt in FORMATS:
                for k in ks:
                    cells = []
                    for mode in MODES:
                        median, worst = results[metric, data, fmt, mode, k]
                        cells += [_percent(median), _percent(worst)]
                    lines.append(f"| {data} | {fmt} | {k} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def write_plot(results, ks, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(metric, fmt) for metric in METRICS for fmt in FORMATS]
    fig, axes = plt.subplots(len(panels), len(DATA), figsize=(15, 4 * len(panels)), sharex=True)
    colours = dict(zip(MODES, ("tab:green", "tab:blue", "tab:red", "tab:orange")))
    for col, data in enumerate(DATA):
        for row, (metric, fmt) in enumerate(panels):
            ax = axes[row][col]
            for mode in MODES:
                median = [max(results[metric, data, fmt, mode, k][0], 1e-12) for k in ks]
                worst = [min(max(results[metric, data, fmt, mode, k][1], 1e-12), 1e3) for k in ks]
                ax.plot(ks, median, "-o", color=colours[mode], label=f"{mode} median", markersize=3)
                ax.plot(ks, worst, "--", color=colours[mode], label=f"{mode} worst")
            ax.axhline(0.02, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{data}, {fmt} x {fmt}", fontsize=10)
            ax.set_xlabel("K")
            ax.set_ylabel(METRICS[metric])
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Dot-product relative error against K, solid median, dashed worst (an error of 0 is drawn at "
                 "10^-12; dotted: DeepSeek-V3's ~2 % for Hopper at K = 4096)")
    fig.tight_layout(rect=(0, 0, 1, 0.98))     # room for the title
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args):
    if args.rows < 1 or args.seed < 0 or args.max_k not in KS:
        raise UsageError(f"--rows must be at least 1, --seed at least 0 and --max-k one of "
                         f"{', '.join(map(str, KS))}, not {args.rows}, {args.seed}, {args.max_k}")
    out = output_dir(args.output, "--output")
    ks = tuple(k for k in KS if k <= args.max_k)
    began = time.monotonic()
    results = measure(args.rows, ks, args.seed,
                      lambda text: print(f"{text} ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True))
    write_table(results, ks, args.rows, out / "fidelity.md")
    write_plot(results, ks, out / "fidelity.png")
    print((out / "fidelity.md").read_text(), end="")
    print(f"wrote {out / 'fidelity.md'} and {out / 'fidelity.png'} in {time.monotonic() - began:.0f} s")
    return 0
