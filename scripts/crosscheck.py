"""`mxdpu crosscheck`: the vendor modes of the golden model against MMA-Sim, the model that defines them.

Needs the `crosscheck` extra (PyTorch 2.13.0 and mmasim 2.1.1; `make crosscheck` installs it).
For each mode and element-format pair it draws random chunks of 32 elements (subnormals, zeros,
cancelling pairs, extreme and NaN scales, Inf/NaN elements, FP32 zero/subnormal/huge/Inf/NaN
accumulators) and compares, bit for bit, `verif.modes.vendor_steps` with
`mmasim.arithmetic.fdpa.st_fdpa`, and, on chunks with unit scales where SPEC §6 names an
instruction, with mmasim's instruction class (`TCGen05MMABlockScale` mxf8f6f4 for blackwell,
`WGMMA` m64nNk32 for hopper). It prints a table and exits 1 on any mismatch.

It then draws whole steps (k = 16 to 128, 1 to 3 steps from +0, modes mixed), chains them
through mmasim (`MMA_ST_FDPA.dpa`, step after step) and checks GoldenTile on them. With
`--vectors FILE` it writes those as known-answer cases (JSON lines with `mode` keys) whose `d` is
mmasim's answer; `make test` checks the golden model against them without PyTorch. They carry no
`flags`: mmasim computes none.
"""

import sys
import time

import numpy as np

from mxdpu.scripts.errors import UsageError
from mxdpu.scripts.options import output_file
from mxdpu.scripts.golden import compute
from mxdpu.verif.formats import FORMATS
from mxdpu.verif.kat import write_kat
from mxdpu.verif.modes import CHUNK, MODES, VENDOR_MODES, mode_code, vendor_steps
from mxdpu.verif.stimulus import random_chunks

#: Every format any vendor mode takes: the build the cross-check models enables them all.
ENABLED = tuple(FORMATS[c].name for c in VENDOR_MODES[mode_code("blackwell")].formats)
#: mmasim's rounding name per mode (SPEC §6's rho column).
RHO = {"blackwell": "RZ-FP32", "hopper": "RZ-E8M13"}
#: mismatches printed in full
SHOWN_MISMATCHES = 5


def add_arguments(parser):
    parser.add_argument("--chunks", type=int, default=100_000,
                        help="random chunks per mode and format pair (default: %(default)s)")
    parser.add_argument("--mode", action="append", choices=MODES[1:],
                        help="check this mode; repeat for more (default: every vendor mode)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    parser.add_argument("--vectors", metavar="FILE",
                        help="also write known-answer cases with mmasim's answers here")
    parser.add_argument("--vector-cases", type=int, default=400,
                        help="cases written to --vectors (default: %(default)s)")


# -- the two models ----------------------------------------------------------------------------

def golden(mode, a_format, b_format, chunks):
    """The golden model on chunks (each a one-PE step with k = its length), binary32 bits [n]."""
    n = len(chunks["sa"])
    bits, _ = vendor_steps(np.full(n, mode_code(mode)), np.full(n, a_format), np.full(n, b_format),
                           chunks["a"][:, None, :], chunks["b"][:, None, :], chunks["sa"][:, None],
                           chunks["sb"][:, None], chunks["c"][:, None, None], ENABLED)
    return bits[:, 0, 0].astype(np.int64)


class MMASim:
    """mmasim's functions with SPEC §1's element codes (FP4 moved to bits 5..2, as mmasim reads it)."""

    def __init__(self):
        try:
            import torch
            from mmasim.arithmetic import fdpa, helper
            from mmasim.nv_ptx import TCGen05MMABlockScale, WGMMA
        except ImportError as error:
            raise UsageError(f"mmasim or torch is missing ({error.name}); run `make crosscheck`, "
                             f"which installs the crosscheck extra") from None
        # one thread: on a small shared machine torch's thread pool makes these small ops ~10x slower
        torch.set_num_threads(1)
        self.torch, self.fdpa, self.helper = torch, fdpa, helper
        self.tcgen05, self.wgmma = TCGen05MMABlockScale, WGMMA
        self.dtype = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}

    def _operand(self, codes, fmt):
        """(tensor mmasim's functions take, its e_subnormal or None) for element codes of `fmt`."""
        torch = self.torch
        name = FORMATS[fmt].name
        codes = np.asarray(codes, np.int64) & ((1 << FORMATS[fmt].bits) - 1)
        if name == "e2m1":
            codes = codes << 2
        raw = torch.from_numpy(codes.astype(np.uint8))
        if name in self.dtype:
            return raw.view(self.dtype[name]), None
        return raw, self.helper.fp6_fp4_subnormal_exponent[name]

    def _scalars(self, chunks):
        torch = self.torch
        scale = [torch.from_numpy(chunks[key].astype(np.uint8)[:, None]).view(torch.float8_e8m0fnu)
                 for key in ("sa", "sb")]
        c = torch.from_numpy(chunks["c"].astype(np.uint32).view(np.int32)).view(torch.float32)
        return scale, c

    def st_fdpa(self, mode, a_format, b_format, chunks):
        """`st_fdpa` with mode's F and rho and e_zero −133, on each chunk: binary32 bits [n]."""
        vendor = VENDOR_MODES[mode_code(mode)]
        (alpha, beta), c = self._scalars(chunks)
        a, sub_a = self._operand(chunks["a"], a_format)
        b, sub_b = self._operand(chunks["b"], b_format)
        if sub_a is not None:
            a = self.helper.decode_uint8_to_fp6_fp4(a, FORMATS[a_format].name)
        if sub_b is not None:
            b = self.helper.decode_uint8_to_fp6_fp4(b, FORMATS[b_format].name)
        d = self.fdpa.st_fdpa(a, b, c, alpha, beta, vendor.f_bits, RHO[mode], -133, sub_a, sub_b)
        return d.view(self.torch.int32).numpy().astype(np.int64) & 0xFFFFFFFF

    def chained(self, mode, a_format, b_format, chunks):
        """`MMA_ST_FDPA.dpa` (st_fdpa over chunks of 32, one scale pair) for any length: bits [n]."""
        vendor = VENDOR_MODES[mode_code(mode)]
        (alpha, beta), c = self._scalars(chunks)
        a, _ = self._operand(chunks["a"], a_format)
        b, _ = self._operand(chunks["b"], b_format)
        op = self.fdpa.MMA_ST_FDPA(vendor.f_bits, RHO[mode], CHUNK, -133,
                                   FORMATS[a_format].name, FORMATS[b_format].name)
        d = op.dpa(a, b, c, alpha, beta)
        return d.view(self.torch.int32).numpy().astype(np.int64) & 0xFFFFFFFF

    def instruction(self, mode, a_format, b_format, chunks):
        """SPEC §6's "same as" instruction on the chunks (k = 32), via mmasim's class: bits [n]."""
        an, bn = FORMATS[a_format].name, FORMATS[b_format].name
        (alpha, beta), c = self._scalars(chunks)
        a, _ = self._operand(chunks["a"], a_format)
        b, _ = self._operand(chunks["b"], b_format)
        if mode == "blackwell":
            op = self.tcgen05("Blackwell", f"m128n8k32.kind::mxf8f6f4.block32.f32.{an}.{bn}.ue8m0")
            d = op.dpa(a, b, c, alpha, beta)
        else:
            d = self.wgmma("Hopper", f"m64n8k32.f32.{an}.{bn}").dpa(a, b, c)
        return d.view(self.torch.int32).numpy().astype(np.int64) & 0xFFFFFFFF


# -- the check ---------------------------------------------------------------------------------

def format_pairs(mode):
    codes = VENDOR_MODES[mode_code(mode)].formats
    return [(fa, fb) for fa in codes for fb in codes]


def _mismatch_line(mode, fa, fb, chunks, i, want, got, what):
    return (f"  {mode} {FORMATS[fa].name}x{FORMATS[fb].name} vs {what}: a={chunks['a'][i].tolist()} "
            f"b={chunks['b'][i].tolist()} sa={chunks['sa'][i]} sb={chunks['sb'][i]} c={chunks['c'][i]:#010x}: "
            f"mmasim {want:#010x}, golden {got:#010x}")


def check_pair(sim, rng, mode, fa, fb, count, batch=20_000):
    """(chunks checked against st_fdpa, mismatches, instruction chunks checked, their mismatches, lines)."""
    checked = wrong = i_checked = i_wrong = 0
    lines = []
    for start in range(0, count, batch):
        chunks = random_chunks(rng, fa, fb, min(batch, count - start))
        want, got = sim.st_fdpa(mode, fa, fb, chunks), golden(mode, fa, fb, chunks)
        bad = np.flatnonzero(want != got)
        checked += len(want)
        wrong += bad.size
        lines += [_mismatch_line(mode, fa, fb, chunks, i, want[i], got[i], "st_fdpa") for i in bad[:SHOWN_MISMATCHES]]
        # the instruction takes no scales on Hopper and one UE8M0 pair per 32 on Blackwell: unit scales
        unit = {key: value[: len(value) // 10] for key, value in chunks.items()}
        unit["sa"] = np.full(len(unit["sa"]), 127)
        unit["sb"] = np.full(len(unit["sb"]), 127)
        want, got = sim.instruction(mode, fa, fb, unit), golden(mode, fa, fb, unit)
        bad = np.flatnonzero(want != got)
        i_checked += len(want)
        i_wrong += bad.size
        lines += [_mismatch_line(mode, fa, fb, unit, i, want[i], got[i], "instruction") for i in bad[:SHOWN_MISMATCHES]]
    return checked, wrong, i_checked, i_wrong, lines[:SHOWN_MISMATCHES]


def known_answer_cases(sim, rng, count):
    """Cases for a 1 × 1 tile: 1-3 steps from +0, k of 16, 32, 64 or 128, each step blackwell or
    hopper with formats of its mode, d chained through mmasim step after step."""
    cases = []
    for number in range(count):
        k = int(rng.choice([16, 32, 32, 64, 128]))
        steps, d = [], np.zeros(1, np.int64)
        for _ in range(int(rng.integers(1, 4))):
            mode = "hopper" if rng.random() < 0.4 else "blackwell"
            fa, fb = (int(x) for x in rng.choice(VENDOR_MODES[mode_code(mode)].formats, 2))
            chunk = random_chunks(rng, fa, fb, 1, k)
            chunk["c"] = d
            d = sim.chained(mode, fa, fb, chunk)
            steps.append({"a_format": fa, "b_format": fb, "a": chunk["a"][0].tolist(), "b": chunk["b"][0].tolist(),
                          "a_scale": int(chunk["sa"][0]), "b_scale": int(chunk["sb"][0]), "mode": mode})
        cases.append({"name": f"mmasim_{number}", "k": k, "steps": steps, "d": int(d[0])})
    return cases


def run(args):
    if args.chunks < 1 or args.vector_cases < 0 or args.seed < 0:
        raise UsageError(f"--chunks must be at least 1, --vector-cases and --seed at least 0, not "
                         f"{args.chunks}, {args.vector_cases}, {args.seed}")
    if args.vectors:
        output_file(args.vectors, "--vectors")
    sim = MMASim()
    rng = np.random.default_rng(args.seed)
    modes = args.mode or list(MODES[1:])
    began = time.monotonic()
    rows, lines, total_wrong = [], [], 0
    pairs = [(mode, fa, fb) for mode in modes for fa, fb in format_pairs(mode)]
    for number, (mode, fa, fb) in enumerate(pairs, 1):
        checked, wrong, i_checked, i_wrong, shown = check_pair(sim, rng, mode, fa, fb, args.chunks)
        rows.append((mode, FORMATS[fa].name, FORMATS[fb].name, checked, wrong, i_checked, i_wrong))
        lines += shown
        total_wrong += wrong + i_wrong
        print(f"[{number}/{len(pairs)}] {mode} {FORMATS[fa].name} x {FORMATS[fb].name}: {checked} chunks, "
              f"{wrong + i_wrong} mismatches ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)

    print("| mode | a | b | chunks vs st_fdpa | mismatches | chunks vs instruction | mismatches |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    for line in lines[:SHOWN_MISMATCHES * 2]:
        print(line)
    # whole steps (k up to 128, chained over chunks and 1-3 steps, modes mixed) on their own stream,
    # so that the --vectors file depends on --seed and --vector-cases only
    cases = known_answer_cases(sim, np.random.default_rng([args.seed, 1]), args.vector_cases)
    answers = compute(cases, ENABLED)
    chained_wrong = [case["name"] for case, (d, _) in zip(cases, answers) if d != case["d"]]
    total_wrong += len(chained_wrong)
    print(f"whole steps chained through mmasim: {len(cases)} cases, {len(chained_wrong)} mismatches"
          + (f" ({', '.join(chained_wrong[:SHOWN_MISMATCHES])})" if chained_wrong else ""))
    if args.vectors:
        try:
            with open(args.vectors, "w", encoding="utf-8") as file:
                write_kat(cases, file)
        except OSError as error:
            raise UsageError(f"cannot write {args.vectors}: {error.strerror or error}") from None
        print(f"wrote {len(cases)} known-answer cases with mmasim's answers to {args.vectors}")
    print(f"{sum(r[3] + r[5] for r in rows)} chunks, {total_wrong} mismatches, "
          f"{time.monotonic() - began:.0f} s")
    return 1 if total_wrong else 0
