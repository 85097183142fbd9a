"""The vendor-mode chunk (hw/vendor.py: Unpack, VendorTerms, VendorAccumulate) in Amaranth's
simulator against the golden model's vendor modes (verif/modes.py, itself cross-checked against
MMA-Sim), every bit of d and flags."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from mxdpu.hw.config import FORMAT_CODES, MODE_CODES, Config
from mxdpu.sim.amaranth_sim import run_stream
from mxdpu.verif.golden import GoldenTile
from mxdpu.hw.formats import Grid
from mxdpu.hw.unpack import Unpack
from mxdpu.hw.vendor import VendorAccumulate, VendorTerms, formats_invalid
from mxdpu.verif.modes import vendor_steps
from mxdpu.verif.stimulus import random_chunks
from tests.common import QUICK_TOP_CONFIG, TOP_CONFIGS, config_params

ALL_MODE_FORMATS = ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")


class Chunk:
    """One chunk from raw codes: Unpack, VendorTerms, VendorAccumulate and the mode's format
    check, as the tile and VendorPath wire them."""

    def __init__(self, config):
        self.config = config
        self.length = config.chunk_length
        self.a, self.b = (Signal(data.ArrayLayout(8, self.length), name=n) for n in "ab")
        self.a_format, self.b_format, self.mode = Signal(3), Signal(3), Signal(2)
        self.a_scale, self.b_scale, self.c = Signal(8), Signal(8), Signal(32)
        self.d, self.flags = Signal(32), Signal(4)

    def elaborate(self, platform):
        m = Module()
        grid = Grid(self.config)
        m.submodules.terms = terms = VendorTerms(grid, self.length)
        m.submodules.acc = acc = VendorAccumulate(grid, self.length)
        for side in "ab":
            for i in range(self.length):
                m.submodules[f"unpack_{side}{i}"] = unpack = Unpack(grid)
                m.d.comb += [unpack.code.eq(getattr(self, side)[i]),
                             unpack.format.eq(getattr(self, f"{side}_format")),
                             getattr(terms, side)[i].eq(unpack.out)]
        m.d.comb += [
            terms.a_format.eq(self.a_format), terms.b_format.eq(self.b_format),
            acc.terms.eq(terms.terms),
            acc.scale.eq(self.a_scale + self.b_scale - 254),
            acc.nan.eq((self.a_scale == 0xFF) | (self.b_scale == 0xFF)),
            acc.invalid.eq(formats_invalid(self.config, grid, self.mode, self.a_format, self.b_format)),
            acc.hopper.eq(self.mode == MODE_CODES["hopper"]),
            acc.c.eq(self.c),
            self.d.eq(acc.d), self.flags.eq(acc.flags),
        ]
        return m


def simulate(dut, cases):
    """[(d, flags)] of the chunk for each case (mode, a_format, b_format, a, b, sa, sb, c)."""
    out = []

    async def testbench(ctx):
        for mode, fa, fb, a, b, sa, sb, c in cases:
            for port, value in ((dut.a, [int(x) for x in a]), (dut.b, [int(x) for x in b]), (dut.mode, mode),
                                (dut.a_format, fa), (dut.b_format, fb), (dut.a_scale, sa), (dut.b_scale, sb),
                                (dut.c, c)):
                ctx.set(port, value if isinstance(value, list) else int(value))
            out.append((ctx.get(dut.d), ctx.get(dut.flags)))

    sim = Simulator(dut.elaborate(None))
    sim.add_testbench(testbench)
    sim.run()
    return out


def _random_cases(rng, modes, length, count):
    cases = []
    for _ in range(count):
        mode = str(rng.choice(modes))
        codes = (0, 1) if mode == "hopper" else (0, 1, 2, 3, 4)
        fa, fb = (int(x) for x in rng.choice(codes, 2))
        ch = random_chunks(rng, fa, fb, 1, length)
        cases.append((MODE_CODES[mode], fa, fb, ch["a"][0], ch["b"][0], int(ch["sa"][0]), int(ch["sb"][0]),
                      int(ch["c"][0])))
    return cases


def _golden(cases, formats, built):
    mode, fa, fb, a, b, sa, sb, c = (np.array(x) for x in zip(*cases))
    bits, flags = vendor_steps(mode, fa, fb, a[:, None], b[:, None], sa[:, None], sb[:, None], c[:, None, None],
                               formats, built)
    return [(int(x), int(y)) for x, y in zip(bits[:, 0, 0], flags[:, 0, 0])]


@pytest.mark.parametrize("block", [16, 32])
def test_random_chunks_both_modes_every_format_match_golden(block):
    config = Config(block=block, lanes=block, formats=ALL_MODE_FORMATS, modes=("blackwell", "hopper"))
    dut = Chunk(config)
    cases = _random_cases(np.random.default_rng(block), ["blackwell", "hopper"], dut.length, 300)
    got = simulate(dut, cases)
    want = _golden(cases, config.formats, config.modes)
    mismatches = [(case, g, w) for case, g, w in zip(cases, got, want) if g != w]
    assert not mismatches[:3]
    assert len(got) == len(want) == len(cases)


def test_format_outside_mode_or_not_enabled():
    config = Config(block=16, lanes=16, formats=("e2m1",), modes=("blackwell", "hopper"))
    dut = Chunk(config)
    zeros = [0] * 16
    one = [0x38] + zeros[1:]                                                 # E4M3 1.0
    cases = [(MODE_CODES["hopper"], 4, 0, zeros, zeros, 127, 127, 0),        # FP4: not hopper's
             (MODE_CODES["blackwell"], 2, 0, zeros, zeros, 127, 127, 0),     # E3M2 not enabled
             (MODE_CODES["blackwell"], 4, 4, zeros, zeros, 127, 127, 0x3F800001),
             (MODE_CODES["hopper"], 0, 0, one, one, 127, 127, 0x3F800001)]   # 14 bits kept
    got = simulate(dut, cases)
    assert got == _golden(cases, config.formats, config.modes)
    assert got == [(0x7FFFFFFF, 1), (0x7FFFFFFF, 1), (0x3F800001, 0), (0x40000000, 0)]


# -- the modes in the top level (Amaranth simulator, golden model), SPEC §6 ----------------------

THREE_MODES = ("exact", "blackwell", "hopper")
#: TOP_CONFIGS with every mode built (the 1×1 one with every format a vendor mode takes)
#: TOP_CONFIGS and two PEs sharing one Accumulate (the vendor path's results staggered alike)
SHARED = "r1c2_k16_lanes4_share2"
MODE_CONFIGS = {name: config.replace(modes=THREE_MODES, **({"formats": ALL_MODE_FORMATS} if name == "dpu" else {}))
                for name, config in {**TOP_CONFIGS, SHARED: TOP_CONFIGS[QUICK_TOP_CONFIG].replace(
                    acc_share=2)}.items()}


class ModeSteps:
    """Steps as `GoldenTile.step` keyword dicts (with `mode`), in the shape `run_stream` drives."""

    def __init__(self, steps):
        self.steps, self.last, self.resets = steps, [s["last"] for s in steps], ()

    def __len__(self):
        return len(self.steps)

    def step_kwargs(self, n):
        return self.steps[n]


def random_step(rng, config, mode, slot, first, last):
    """One step in `mode` (a code): a format pair the mode takes (one in ten any enabled pair),
    vendor-chunk elements (subnormal-heavy rows, zeros, cancelling halves, a few NaN/Inf) and
    scales (near 2^0, extremes, rarely NaN) for every row and column."""
    takes = {MODE_CODES["hopper"]: ("e4m3", "e5m2")}.get(mode, config.formats)
    names = [n for n in takes if n in config.formats] if rng.random() < 0.9 else list(config.formats)
    fa, fb = (FORMAT_CODES[str(n)] for n in rng.choice(names, 2))
    n = max(config.rows, config.cols)
    ch = random_chunks(rng, fa, fb, n, config.block)
    return dict(a=ch["a"][:config.rows].tolist(), a_scale=ch["sa"][:config.rows].tolist(),
                b=ch["b"][:config.cols].tolist(), b_scale=ch["sb"][:config.cols].tolist(),
                a_format=fa, b_format=fb, slot=slot, first=int(first), last=int(last), mode=mode)


def run_and_check(config, steps, **stream_options):
    """Every result of the steps against the golden model, every bit; returns the results."""
    want = GoldenTile(config).run(steps)
    run = run_stream(config, ModeSteps(steps), **stream_options)
    mismatches = [(n, got, expected) for n, (got, expected) in enumerate(zip(run.results, want))
                  if got != expected]
    assert not mismatches[:3]
    assert len(run.results) == len(want) == sum(s["last"] for s in steps)
    return run.results


def mixed_steps(config, seed, count, modes=(0, 1, 2), slots=None):
    """Random modes, slots, first and last; `slots` fixes the slot sequence."""
    rng = np.random.default_rng(seed)
    return [random_step(rng, config, int(rng.choice(modes)),
                        int(rng.integers(config.depth)) if slots is None else slots[n],
                        rng.random() < 0.25, rng.random() < 0.35) for n in range(count)]


@config_params(MODE_CONFIGS, quick=(QUICK_TOP_CONFIG, SHARED))
def test_modes_mixed_on_random_slots_idle_backpressure(config):
    steps = mixed_steps(config, 31, 80, modes=(0, 1, 2, 1, 2, 3))
    results = run_and_check(config, steps, idle=0.2, backpressure=0.3, seed=7)
    assert len(results) > 10


@config_params(MODE_CONFIGS, quick=(QUICK_TOP_CONFIG, SHARED))
def test_modes_mixed_on_one_slot_back_to_back(config):
    # every step reads the slot the step before wrote: a chain of modes, first and last inside
    steps = mixed_steps(config, 37, 40, slots=[0] * 40)
    for n, step in enumerate(steps):
        step["first"], step["last"] = int(n % 7 == 0), int(n % 7 == 6 or n == 39)
    run_and_check(config, steps)


SINGLE_MODE_BUILDS = {"blackwell": ("blackwell",), "hopper": ("hopper",),
                      "exact_hopper": ("exact", "hopper")}


@pytest.mark.parametrize("acc_share", [1, 2])
@pytest.mark.parametrize("modes", list(SINGLE_MODE_BUILDS.values()), ids=list(SINGLE_MODE_BUILDS))
def test_builds_without_every_mode(modes, acc_share):
    # one mode built: no mode field, every step runs in it; exact and hopper: a step naming
    # blackwell or 3 gives SPEC §2's NaN with invalid (sticky in its slot); with acc_share 2 the
    # second PE's vendor path (and exact path) runs a cycle later
    config = Config(rows=1, cols=2, block=32, lanes=16, depth=2, formats=ALL_MODE_FORMATS, modes=modes,
                    acc_share=acc_share)
    steps = mixed_steps(config, 41, 40, modes=(0, 1, 2, 3))
    for step in steps:
        step["last"] = 1
    results = run_and_check(config, steps, idle=0.1, backpressure=0.2, seed=8)
    missing = [n for n, step in enumerate(steps) if config.has_mode_field and step["mode"] not in config.mode_codes]
    assert bool(missing) == config.has_mode_field
    for n in missing:
        assert results[n]["d"] == [[0x7FC00000] * 2] and all(f & 1 for f in results[n]["flags"][0])


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [128, 64, 8])
def test_k128_lanes_above_and_below_the_chunk(lanes):
    # lanes > 32: several chunks a cycle; lanes < 32: a chunk over several cycles
    config = Config(block=128, lanes=lanes, depth=4, modes=THREE_MODES)
    run_and_check(config, mixed_steps(config, 43, 40), idle=0.2, backpressure=0.2, seed=9)


def test_specials_in_every_mode():
    config = Config(rows=1, cols=1, block=32, lanes=32, depth=2, formats=ALL_MODE_FORMATS, modes=THREE_MODES)
    one, zero = [0x38] * 32, [0] * 32                  # E4M3 1.0, +0
    E5M2_INF, E4M3_NAN = 0x7C, 0x7F
    B, H, X = MODE_CODES["blackwell"], MODE_CODES["hopper"], MODE_CODES["exact"]

    def step(a, b, mode, first=0, last=0, sa=127, sb=127, fa=0, fb=0, slot=0):
        return dict(a=[a], a_scale=[sa], b=[b], b_scale=[sb], a_format=fa, b_format=fb,
                    slot=slot, first=first, last=last, mode=mode)

    def with_element(base, i, code):
        return base[:i] + [code] + base[i + 1:]

    tiny = with_element(zero, 0, 0x01)                  # E4M3 2^-9
    steps = [
        step(with_element(one, 3, E4M3_NAN), one, H, first=1, last=1),         # NaN element
        step(one, with_element(one, 5, E5M2_INF), B, first=1, fb=1),           # +Inf product
        step(one, with_element(one, 9, E5M2_INF | 0x80), H, fb=1, last=1),     # +Inf C, -Inf
        step(with_element(zero, 0, E5M2_INF), zero, B, first=1, fa=1, last=1),  # Inf × 0
        step([0x7E] * 32, [0x7E] * 32, B, first=1, sa=254, sb=254),           # overflow to Inf
        step(one, one, X, last=1),                                             # exact after it
        step(one, one, H, first=1, sa=0xFF, last=1),                           # NaN scale
        step(one, one, H, first=1, fa=4, last=1),                              # FP4: not hopper's
        step(one, one, 3, first=1, slot=1, last=1),                            # reserved mode
        step(one, one, 3, first=1, slot=1),
        step(one, one, B, slot=1, last=1),                                     # its NaN as C
        step(with_element(zero, 0, 0x38), with_element(zero, 0, 0x38), B, first=1),  # 1
        step(tiny, tiny, B, sb=122),                                           # + 2^-23
        step(zero, zero, H, last=1),                                           # zeros truncate C
    ]
    results = run_and_check(config, steps)
    # SPEC §6's rules, independently of the golden model
    assert [(r["d"][0][0], r["flags"][0][0]) for r in results] == [
        (0x7FFFFFFF, 0), (0x7FFFFFFF, 1), (0x7FFFFFFF, 1), (0x7F800000, 2), (0x7FFFFFFF, 0),
        (0x7FFFFFFF, 1), (0x7FC00000, 1), (0x7FFFFFFF, 1), (0x3F800000, 0)]


def test_lane_chunks_keep_their_order_through_the_register_before_unpack():
    # pipe_unpack 2: each cycle's lane chunk is selected, then registered before Unpack; the lane
    # chunks in another order would change the vendor modes' results (an exact sum is the same in
    # any order), each 32-element chunk being two of them
    config = Config(block=64, lanes=16, depth=2, formats=ALL_MODE_FORMATS, modes=THREE_MODES, pipe_unpack=2)
    run_and_check(config, mixed_steps(config, 47, 40, modes=(1, 2)), idle=0.2, backpressure=0.2, seed=10)
