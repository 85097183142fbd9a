"""Stimulus sets for the top-level bench: named streams of steps, with their expected results.

A `Stream` is a sequence of steps for one configuration (numpy arrays, one row per step) plus the
step indices before which the unit is reset. Every set is a function `(config, rng, limit) ->
Stream` registered in `SETS`; `limit` caps the number of steps (None: the whole set, exhaustive
where the set is). Expected results come from the golden model (`expected_results`) or, for the
public known answers, from the known-answer file itself (`Stream.expected`).
"""

import math
from dataclasses import dataclass

import numpy as np

from mxdpu.hw.config import FORMAT_CODES, REQUIRED_FORMATS

from .formats import FINITE, FORMATS, KIND, LSB_EXP, VALUE
from .modes import CHUNK, EXACT, MODE_CODES, VENDOR_MODES

__all__ = ["Stream", "StreamBuilder", "Expected", "SETS", "NEEDS", "MODE_NEEDS", "sets_for",
           "missing_modes", "expected_results", "make_stream", "random_chunks"]


STEP_FIELDS = ("a", "a_scale", "b", "b_scale", "a_format", "b_format", "slot", "first", "last", "mode")
E4M3, E5M2 = FORMAT_CODES["e4m3"], FORMAT_CODES["e5m2"]
NAN_SCALE = 0xFF


@dataclass
class Expected:
    """Results in output order: d (M,R,C) u32, flags (M,R,C), slot (M,), the index of the step
    whose `last` produced each (M,), and how many resets came before that step (M,)."""
    d: np.ndarray
    flags: np.ndarray
    slot: np.ndarray
    step: np.ndarray
    epoch: np.ndarray

    def __len__(self):
        return len(self.slot)


@dataclass
class Stream:
    """Steps as arrays: a (N,R,k), a_scale (N,R), b (N,C,k), b_scale (N,C), the rest (N,); mode
    holds SPEC §6 codes (None: every step exact)."""
    a: np.ndarray
    a_scale: np.ndarray
    b: np.ndarray
    b_scale: np.ndarray
    a_format: np.ndarray
    b_format: np.ndarray
    slot: np.ndarray
    first: np.ndarray
    last: np.ndarray
    mode: np.ndarray | None = None
    resets: tuple = ()
    #: known answers that replace the golden model's (None: ask the golden model)
    expected: Expected | None = None

    def __post_init__(self):
        if self.mode is None:
            self.mode = np.full(len(self.slot), EXACT, np.int64)

    def __len__(self):
        return len(self.slot)

    def step_kwargs(self, n):
        """Keyword arguments of step n for `Config.pack_step` / `GoldenTile.step` (Python ints)."""
        return {name: getattr(self, name)[n].tolist() for name in STEP_FIELDS}

    def arrays(self):
        return {name: getattr(self, name) for name in STEP_FIELDS}


class StreamBuilder:
    """Collects steps (one PE row/column value broadcast where a 1-D block is given) and resets."""

    def __init__(self, config):
        self.config = config
        self.rows = {name: [] for name in STEP_FIELDS}
        self.resets = []

    def __len__(self):
        return len(self.rows["slot"])

    def _operand(self, values, count):
        values = np.asarray(values, dtype=np.uint8)
        if values.ndim == 1:
            values = np.broadcast_to(values, (count, self.config.block))
        return values

    def step(self, a, a_scale, b, b_scale, a_format, b_format, slot=0, first=1, last=1, mode=EXACT):
        cfg = self.config
        self.rows["a"].append(self._operand(a, cfg.rows))
        self.rows["b"].append(self._operand(b, cfg.cols))
        self.rows["a_scale"].append(np.broadcast_to(np.asarray(a_scale, np.uint8), (cfg.rows,)))
        self.rows["b_scale"].append(np.broadcast_to(np.asarray(b_scale, np.uint8), (cfg.cols,)))
        for name, value in (("a_format", a_format), ("b_format", b_format), ("slot", slot),
                            ("first", first), ("last", last), ("mode", mode)):
            self.rows[name].append(int(value))

    def reset(self):
        self.resets.append(len(self))

    def build(self, expected=None):
        cfg = self.config
        shapes = {"a": (0, cfg.rows, cfg.block), "b": (0, cfg.cols, cfg.block),
                  "a_scale": (0, cfg.rows), "b_scale": (0, cfg.cols)}
        arrays = {}
        for name, rows in self.rows.items():
            if name in shapes:
                arrays[name] = np.stack(rows).astype(np.uint8) if rows else np.zeros(shapes[name], np.uint8)
            else:
                arrays[name] = np.asarray(rows, dtype=np.int64).reshape(-1)
        return Stream(**arrays, resets=tuple(self.resets), expected=expected)


def expected_results(config, stream):
    """The golden model's results for a stream, in output order (one bulk run per reset epoch)."""
    if stream.expected is not None:
        return stream.expected
    from mxdpu.verif.golden import GoldenTile
    bounds = [0, *stream.resets, len(stream)]
    d, flags, slot, step, epoch = [], [], [], [], []
    for number, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        part = slice(start, stop)
        results = GoldenTile(config).run_arrays(*(array[part] for array in stream.arrays().values()))
        for n, out in zip(start + np.flatnonzero(stream.last[part]), results):
            d.append(out["d"]), flags.append(out["flags"]), slot.append(out["slot"])
            step.append(n), epoch.append(number)
    return _expected(config, d, flags, slot, step, epoch)


def _expected(config, d, flags, slot, step, epoch):
    shape = (len(slot), config.rows, config.cols)
    return Expected(d=np.asarray(d, np.uint32).reshape(shape),
                    flags=np.asarray(flags, np.uint8).reshape(shape),
                    slot=np.asarray(slot, np.int64), step=np.asarray(step, np.int64),
                    epoch=np.asarray(epoch, np.int64))


# -- element classes -------------------------------------------------------------------------

def _code_classes(fmt):
    """(finite codes, special codes, floor log2 of the smallest and largest finite magnitude)."""
    from mxdpu.verif.formats import decode
    finite, special, exps = [], [], []
    for code in range(256):
        value = decode(fmt, code)
        if value.kind == "finite":
            finite.append(code)
            if value.mag:
                exps.append(value.mag.bit_length() - 1 + value.exp)
        else:
            special.append(code)
    return np.array(finite, np.uint8), np.array(special, np.uint8), min(exps), max(exps)


def _split_scale(rng, x, count):
    """`count` UE8M0 codes whose exponent, added to a partner's, gives x (x = sa + sb - 254)."""
    low, high = max(0, x), min(254, 254 + x)
    return rng.integers(low, high + 1, size=count)


def _scales_for(config, rng, x):
    """Row and column scales: each PE (r, c) gets exponent x plus a small per-row/column jitter."""
    sa = _split_scale(rng, x, 1)[0]
    jitter_a = rng.integers(-2, 3, size=config.rows)
    jitter_b = rng.integers(-2, 3, size=config.cols)
    a_scale = np.clip(sa + jitter_a, 0, 254)
    b_scale = np.clip(x + 254 - sa + jitter_b, 0, 254)
    return a_scale, b_scale


def _take(rng, count, limit):
    """Indices of the `limit` (all when None) items of `count` a run covers, in random order."""
    order = rng.permutation(count)
    return order if limit is None or limit >= count else order[:limit]


# -- every operand pair ----------------------------------------------------------------------

#: Scale regimes of the operand-pair sets: where the exponent x = sa + sb - 254 is drawn from,
#: given the floor log2 of the smallest (lo) and largest (hi) product and log2 k.
REGIMES = {
    # every product and every block sum of the pair is a normal binary32
    "normal": lambda lo, hi, lk: (-126 - lo, 127 - hi - lk - 1),
    # products land in and below the binary32 subnormal range
    "subnormal": lambda lo, hi, lk: (-149 - hi - 2, -126 - lo),
    # the largest products and sums overflow, the smallest stay finite
    "overflow": lambda lo, hi, lk: (127 - hi - lk - 2, min(254, 128 - lo)),
}


def operand_pairs(config, rng, limit, a_format, b_format, regime):
    """Every (a, b) code pair of two formats, packed densely: lane i of a step puts R codes of A
    against C codes of B, so a step covers R·C·k pairs. Pairs with a NaN or Inf operand go one
    lane per step (their other lanes finite), so a special never hides finite pairs."""
    fin_a, spec_a, lo_a, hi_a = _code_classes(a_format)
    fin_b, spec_b, lo_b, hi_b = _code_classes(b_format)
    R, C, k = config.rows, config.cols, config.block
    x_low, x_high = REGIMES[regime](lo_a + lo_b, hi_a + hi_b + 2, math.ceil(math.log2(k)))

    def groups(codes, size):
        # codes in groups of `size` (the last wraps around) — one group fills a row/column lane
        n = math.ceil(len(codes) / size)
        return [np.resize(np.roll(codes, -g * size), size) for g in range(n)]

    ga_fin, gb_fin = groups(fin_a, R), groups(fin_b, C)
    finite = [(i, j) for i in range(len(ga_fin)) for j in range(len(gb_fin))]
    order = rng.permutation(len(finite))
    finite = [finite[o] for o in order]
    # special groups: a special code against every code of the other operand
    ga_all, gb_all = groups(np.concatenate([fin_a, spec_a]), R), groups(np.concatenate([fin_b, spec_b]), C)
    ga_spec, gb_spec = groups(spec_a, R), groups(spec_b, C)
    special = [(ga, gb) for ga in ga_spec for gb in gb_all] + [(ga, gb) for ga in ga_all for gb in gb_spec]
    steps_finite = math.ceil(len(finite) / k)
    total = steps_finite + len(special)
    builder = StreamBuilder(config)
    for n in sorted(_take(rng, total, limit)):
        a = np.zeros((k, R), np.uint8)
        b = np.zeros((k, C), np.uint8)
        if n < steps_finite:
            lanes = [finite[(n * k + i) % len(finite)] for i in range(k)]
            for i, (ia, ib) in enumerate(lanes):
                a[i], b[i] = ga_fin[ia], gb_fin[ib]
        else:
            for i in range(k):
                ia, ib = finite[rng.integers(len(finite))]
                a[i], b[i] = ga_fin[ia], gb_fin[ib]
            lane = rng.integers(k)
            a[lane], b[lane] = special[n - steps_finite]
        x = int(rng.integers(x_low, x_high + 1))
        a_scale, b_scale = _scales_for(config, rng, x)
        builder.step(a.T, a_scale, b.T, b_scale, a_format, b_format,
                     slot=len(builder) % config.depth)
    return builder.build()


# -- every scale pair ------------------------------------------------------------------------

def scale_pairs(config, rng, limit):
    """Every (sa, sb) pair of UE8M0 codes, 0xFF (NaN) included, on one fixed finite block: a step
    covers R·C pairs (row r's scale against column c's)."""
    fin_a, _, _, _ = _code_classes(E4M3)
    fin_b, _, _, _ = _code_classes(E5M2)
    fixed = np.random.default_rng(0)  # the block is fixed, whatever the seed
    a = fixed.choice(fin_a, size=config.block)
    b = fixed.choice(fin_b, size=config.block)
    codes = np.arange(256)
    row_groups = math.ceil(256 / config.rows)
    col_groups = math.ceil(256 / config.cols)
    builder = StreamBuilder(config)
    for n in sorted(_take(rng, row_groups * col_groups, limit)):
        g, h = divmod(int(n), col_groups)
        a_scale = np.resize(np.roll(codes, -g * config.rows), config.rows)
        b_scale = np.resize(np.roll(codes, -h * config.cols), config.cols)
        builder.step(a, a_scale, b, b_scale, E4M3, E5M2, slot=len(builder) % config.depth)
    return builder.build()


# -- known answers ---------------------------------------------------------------------------

def known_answers(config, rng, limit, path=None, formats=REQUIRED_FORMATS):
    """The public known answers (k = 32, one PE; or the file `path`): each case broadcast to every
    PE, its blocks zero-padded to k > 32; with k < 32 only cases whose elements beyond k are +0 on
    both sides. Expected values are the file's, not the golden model's: the answers of a build
    that enables `formats`, so a case naming a format this build enables beyond them (a rule-1
    case of the file) is left out."""
    from mxdpu.verif.kat import PUBLIC_KAT, read_kat
    k = config.block
    beyond = set(config.format_codes) - {FORMAT_CODES[name] for name in formats}
    builder = StreamBuilder(config)
    d, flags, slot, step = [], [], [], []
    cases = read_kat(path or PUBLIC_KAT)
    for case in cases:
        steps = case["steps"]
        if any(any(s[op][k:]) for s in steps for op in ("a", "b")):
            continue  # does not fit a block of k elements
        if any({s["a_format"], s["b_format"]} & beyond for s in steps):
            continue  # answered for a build without that format
        if limit is not None and len(builder) + len(steps) > limit:
            break
        t = len(d) % config.depth
        for j, s in enumerate(steps):
            pad = [0] * max(0, k - len(s["a"]))
            builder.step(list(s["a"][:k]) + pad, s["a_scale"], list(s["b"][:k]) + pad, s["b_scale"],
                         s["a_format"], s["b_format"], slot=t, first=j == 0, last=j == len(steps) - 1)
        d.append([[_hex(case["d"])] * config.cols] * config.rows)
        flags.append([[int(case["flags"])] * config.cols] * config.rows)
        slot.append(t)
        step.append(len(builder) - 1)
    return builder.build(expected=_expected(config, d, flags, slot, step, [0] * len(slot)))


def _hex(value):
    return int(value, 16) if isinstance(value, str) else int(value)


# -- corners of SPEC §2 ----------------------------------------------------------------------

def corners(config, rng, limit):
    """The SPEC §2 corner list, each case a short accumulation on its own slot: rules 1-6 and
    their precedence, signed zeros, a NaN scale on a zero block, E5M2 infinities, subnormal
    results, overflow, the ±254 scale exponents."""
    k = config.block
    one4, one5, max4, max5, sub = 0x38, 0x3C, 0x7E, 0x7B, 0x01
    nan4, inf5, ninf5, nan5 = 0x7F, 0x7C, 0xFC, 0x7D
    neg = 0x80

    def blk(*codes):
        return list(codes) + [0] * (k - len(codes))

    cases = []  # each a list of (a, sa, b, sb, fa, fb)
    enabled = set(config.format_codes)
    for code in range(8):  # rule 1: a format the build does not enable (and reserved codes)
        if code not in enabled:
            cases.append([(blk(one4), 127, blk(one4), 127, code, E4M3)])
            cases.append([(blk(one4), 127, blk(nan4), 127, E4M3, code)])
    cases += [
        # rule 2: +Inf and -Inf enter the same sum, from products or from D
        [(blk(inf5, ninf5), 127, blk(one5, one5), 127, E5M2, E5M2)],
        [(blk(inf5), 127, blk(one5), 127, E5M2, E5M2), (blk(ninf5), 127, blk(one5), 127, E5M2, E5M2)],
        [(blk(inf5, one5), 127, blk(one5, one5 | neg), 127, E5M2, E5M2)],
        # rule 2 beside a NaN element, and with D NaN: still invalid
        [(blk(inf5, ninf5, nan5), 127, blk(one5, one5, one5), 127, E5M2, E5M2)],
        [(blk(nan4), 127, blk(one4), 127, E4M3, E4M3), (blk(inf5, inf5), 127, blk(one4, one4 | neg), 127, E5M2, E4M3)],
        # rule 3: Inf × 0 (and × -0), also beside a NaN element and a NaN scale
        [(blk(inf5), 127, blk(0), 127, E5M2, E4M3)],
        [(blk(0, ninf5), 127, blk(0, neg), 127, E4M3, E5M2)],
        [(blk(inf5, nan5), 127, blk(0, one5), 127, E5M2, E5M2)],
        [(blk(inf5), NAN_SCALE, blk(0), 127, E5M2, E5M2)],
        # rule 4: NaN element, NaN scale (also on an all-zero block), NaN carried in D
        [(blk(nan4), 127, blk(one4), 127, E4M3, E4M3)],
        [(blk(one5), 127, blk(nan5 + 2), 127, E5M2, E5M2)],
        [(blk(), NAN_SCALE, blk(), 127, E4M3, E4M3)],
        [(blk(), 127, blk(), NAN_SCALE, E5M2, E4M3)],
        [(blk(nan4), 127, blk(one4), 127, E4M3, E4M3), (blk(one4), 127, blk(one4), 127, E4M3, E4M3)],
        [(blk(nan4, inf5), 127, blk(one4, one5), 127, E4M3, E5M2)],
        # rule 5: Inf products and D = ±Inf with finite addends
        [(blk(inf5, max5), 127, blk(one5, max5), 127, E5M2, E5M2)],
        [(blk(ninf5), 127, blk(one4), 127, E5M2, E4M3), (blk(max4), 200, blk(max4), 200, E4M3, E4M3)],
        [(blk(inf5, inf5), 127, blk(one5, one5), 127, E5M2, E5M2)],
        # signed zeros: -0 products, exact cancellation (+0), a tiny negative rounding to -0
        [(blk(neg, neg), 127, blk(0, neg), 127, E4M3, E4M3)],
        [(blk(one4, one4 | neg), 127, blk(one4, one4), 127, E4M3, E4M3)],
        [(blk(sub | neg), 0, blk(sub), 0, E4M3, E4M3)],
        [(blk(sub | neg), 0, blk(sub), 0, E4M3, E4M3), (blk(), 127, blk(), 127, E4M3, E4M3)],
        [(blk(one4), 127, blk(one4), 127, E4M3, E4M3), (blk(one4 | neg), 127, blk(one4), 127, E4M3, E4M3)],
        # the ±254 scale exponents
        [(blk(max4), 254, blk(max4), 254, E4M3, E4M3)],
        [(blk(sub), 254, blk(sub), 254, E5M2, E5M2)],
        [(blk(max5), 0, blk(max5), 0, E5M2, E5M2)],
        [(blk(), 254, blk(), 254, E4M3, E4M3)],
        [(blk(), 0, blk(), 0, E5M2, E5M2)],
    ]
    # subnormal results and the underflow boundary: one block swept through the scale exponents
    # that put it around 2^-126 .. 2^-149; overflow: around the largest finite binary32
    small = blk(*([one4, sub, 0x08, 0x39, 0x3F] * k)[:k])
    for x in range(-160, -118, 2):
        sa = max(0, x); cases.append([(small, sa, small, x + 254 - sa, E4M3, E4M3)])
    big = blk(*([max5, 0x7A, one5] * k)[:k])
    for x in range(80, 100):
        sa = min(254, x + 127); cases.append([(big, sa, big, x + 254 - sa, E5M2, E5M2)])
    return _case_stream(config, cases, limit)


def _case_stream(config, cases, limit):
    """Cases (each a list of steps (a, sa, b, sb, fa, fb), or (a, sa, b, sb, fa, fb, mode)), each a
    short accumulation on its own slot, as far as `limit` steps allow."""
    builder = StreamBuilder(config)
    for number, case in enumerate(cases):
        if limit is not None and len(builder) + len(case) > limit:
            break
        for j, (a, sa, b, sb, fa, fb, *mode) in enumerate(case):
            builder.step(a, sa, b, sb, fa, fb, slot=number % config.depth, first=j == 0,
                         last=j == len(case) - 1, mode=mode[0] if mode else EXACT)
    return builder.build()


# -- realistic data --------------------------------------------------------------------------

def realistic(config, rng, limit, rule, tails, blocks=16, formats=(E4M3, E5M2)):
    """Gaussian or heavy-tailed (Student t, 2 degrees of freedom) matrices quantised by the
    golden quantiser under one scale rule (each operand in a format drawn from `formats`) and
    multiplied as R×C output tiles over K = blocks·k:
    `blocks` steps (fewer when `limit` is smaller) accumulate in a slot, tiles interleaved over
    the slots."""
    from mxdpu.verif.quantise import quantise
    R, C, k = config.rows, config.cols, config.block
    blocks = min(blocks, limit or blocks)
    tiles = max(1, (limit or 64 * blocks) // blocks)
    group = min(config.depth, tiles)
    builder = StreamBuilder(config)
    for base in range(0, tiles, group):
        members = []
        for _ in range(min(group, tiles - base)):
            fa, fb = (int(f) for f in rng.choice(formats, size=2))
            magnitude = 2.0 ** rng.uniform(-20, 20)
            if tails == "gauss":
                A = rng.standard_normal((R, blocks * k)) * magnitude
                B = rng.standard_normal((C, blocks * k))
            else:
                A = rng.standard_t(2, size=(R, blocks * k)) * magnitude
                B = rng.standard_t(2, size=(C, blocks * k))
            qa, sa = quantise(A.astype(np.float32), _name(fa), rule, block=k)
            qb, sb = quantise(B.astype(np.float32), _name(fb), rule, block=k)
            members.append((fa, fb, np.asarray(qa), np.asarray(sa), np.asarray(qb), np.asarray(sb)))
        for kb in range(blocks):
            for t, (fa, fb, qa, sa, qb, sb) in enumerate(members):
                cut = slice(kb * k, (kb + 1) * k)
                builder.step(qa[:, cut], sa[:, kb], qb[:, cut], sb[:, kb], fa, fb, slot=t,
                             first=kb == 0, last=kb == blocks - 1)
    return builder.build()


def _name(code):
    return next(name for name, c in FORMAT_CODES.items() if c == code)


# -- slot patterns, hazards, reset, throughput -------------------------------------------------

def _random_block(config, rng, fa, fb, special=0.02):
    """Random codes: finite mostly, a NaN/Inf with probability `special` per element."""
    out = []
    for fmt, count in ((fa, config.rows), (fb, config.cols)):
        fin, spec, _, _ = _code_classes(fmt)
        codes = rng.choice(fin, size=(count, config.block))
        mask = rng.random(codes.shape) < special
        if len(spec):
            codes[mask] = rng.choice(spec, size=int(mask.sum()))
        out.append(codes)
    return out


def _random_step(builder, config, rng, slot, first, last, special=0.02):
    fa, fb = (int(f) for f in rng.choice([E4M3, E5M2], size=2))
    a, b = _random_block(config, rng, fa, fb, special)
    x = int(rng.integers(-40, 41))
    a_scale, b_scale = _scales_for(config, rng, x)
    builder.step(a, a_scale, b, b_scale, fa, fb, slot=slot, first=first, last=last)


def _hazard_slots(config, rng, count):
    """Slot sequence in which every reuse distance from 1 to beyond acc_latency occurs."""
    depth = config.depth
    reach = max(config.acc_latency, depth) + 2
    slots = []
    while len(slots) < count:
        for distance in range(1, reach + 1):
            s = int(rng.integers(depth))
            others = [o for o in range(depth) if o != s] or [s]
            slots.append(s)
            slots += [others[j % len(others)] for j in range(distance - 1)]
            slots.append(s)
        slots += rng.integers(depth, size=reach).tolist()
    return slots[:count]


def hazards(config, rng, limit):
    """Random steps over a slot sequence that hits every reuse distance 1 .. acc_latency + 2,
    with random first/last."""
    builder = StreamBuilder(config)
    for slot in _hazard_slots(config, rng, limit or 4096):
        _random_step(builder, config, rng, slot, rng.random() < 0.25, rng.random() < 0.25)
    return builder.build()


def reset_midstream(config, rng, limit):
    """Random accumulations with resets in the middle: results begun before a reset are not
    expected, everything after it is exact."""
    builder = StreamBuilder(config)
    count = limit or 4096
    resets = set(rng.choice(np.arange(4, max(5, count - 4)), size=min(3, max(1, count // 16)),
                            replace=False).tolist())
    for n, slot in enumerate(_hazard_slots(config, rng, count)):
        if n in resets:
            builder.reset()
        _random_step(builder, config, rng, slot, rng.random() < 0.3, rng.random() < 0.3)
    return builder.build()


def throughput(config, rng, limit):
    """A long stream rotating the slots at acc_latency (or every slot, when depth is smaller),
    each slot accumulating 8 blocks: with no idle and no backpressure the unit must accept one
    step every cycles_per_step cycles."""
    distance = min(config.acc_latency, config.depth)
    builder = StreamBuilder(config)
    count = limit or 2048
    for n in range(count):
        turn = n // distance
        _random_step(builder, config, rng, slot=n % distance, first=turn % 8 == 0,
                     last=turn % 8 == 7 or n + distance >= count, special=0.0)
    return builder.build()


def raw_random(config, rng, limit):
    """Raw random bytes: every element code, scale code and format code (disabled and reserved
    ones too), random slots and first/last."""
    builder = StreamBuilder(config)
    R, C, k = config.rows, config.cols, config.block
    for _ in range(limit or 4096):
        builder.step(rng.integers(256, size=(R, k)), rng.integers(256, size=R),
                     rng.integers(256, size=(C, k)), rng.integers(256, size=C),
                     int(rng.integers(8)), int(rng.integers(8)), slot=int(rng.integers(config.depth)),
                     first=rng.random() < 0.3, last=rng.random() < 0.3)
    return builder.build()


def _sets():
    sets = {"kat": known_answers, "corners": corners}
    for fa, fb in ((E4M3, E4M3), (E4M3, E5M2), (E5M2, E4M3), (E5M2, E5M2)):
        for regime in REGIMES:
            sets[f"pairs_{_name(fa)}_{_name(fb)}_{regime}"] = (
                lambda c, r, n, fa=fa, fb=fb, regime=regime: operand_pairs(c, r, n, fa, fb, regime))
    sets["scales"] = scale_pairs
    for tails in ("gauss", "heavy"):
        for rule in ("floor", "ceil", "rceil", "even"):
            sets[f"{tails}_{rule}"] = lambda c, r, n, rule=rule, tails=tails: realistic(c, r, n, rule, tails)
    sets.update(hazards=hazards, reset=reset_midstream, random=raw_random, throughput=throughput)
    return sets


#: name -> (config, numpy Generator, limit) -> Stream
SETS = _sets()


def make_stream(config, name, seed, limit):
    """Stream `name` for a configuration, drawn from a seed; `limit` caps its steps."""
    if name not in SETS:
        raise KeyError(f"Stimulus set must be one of {', '.join(SETS)}, not {name!r}")
    return SETS[name](config, np.random.default_rng(seed), limit)


# -- HiFloat8 (format code 6): sets for builds that enable it ---------------------------------

HIF8 = FORMAT_CODES["hif8"]


def hif8_corners(config, rng, limit):
    """HiF8's corners (SPEC §1, §2): ±Inf (0x6F/0xEF) under rules 2, 3 and 5, also from D and
    against E5M2's; NaN 0x80; 0x00 the only zero; 32768 and the denormals at the scales that put
    them at binary32's edges (overflow, subnormal results); then every code alone against 1.0 of
    HiF8, E4M3 and E5M2 on either side, which crosses every dot-field boundary."""
    k = config.block
    one_h, one4, one5, inf5, ninf5 = 0x08, 0x38, 0x3C, 0x7C, 0xFC
    top, least, pinf, ninf, nan = 0x6E, 0x01, 0x6F, 0xEF, 0x80
    neg = 0x80

    def blk(*codes):
        return list(codes) + [0] * (k - len(codes))

    H = HIF8
    cases = [
        [(blk(pinf, ninf), 127, blk(one_h, one_h), 127, H, H)],                      # rule 2
        [(blk(pinf), 127, blk(one_h), 127, H, H), (blk(ninf), 127, blk(one_h), 127, H, H)],
        [(blk(pinf), 127, blk(one5), 127, H, E5M2), (blk(inf5), 127, blk(one_h | neg), 127, E5M2, H)],
        [(blk(pinf, ninf5), 127, blk(one_h, one5), 127, H, E5M2)],
        [(blk(pinf), 127, blk(0), 127, H, E4M3)],                                    # rule 3
        [(blk(0, ninf), 127, blk(ninf, 0), 127, H, H)],
        [(blk(pinf, nan), 127, blk(0, one_h), 127, H, H)],
        [(blk(nan), 127, blk(one_h), 127, H, H)],                                    # rule 4
        [(blk(nan, pinf), 127, blk(one5, one5), 127, H, E5M2)],
        [(blk(), 0xFF, blk(), 127, H, H)],
        [(blk(pinf, top), 127, blk(one_h, top), 127, H, H)],                         # rule 5
        [(blk(ninf), 127, blk(one4), 127, H, E4M3), (blk(top), 254, blk(top), 254, H, H)],
        [(blk(top, top | neg), 127, blk(top, top), 127, H, H)],                      # exact +0
        [(blk(least | neg), 0, blk(least), 0, H, H)],                                 # rounds to -0
        [(blk(*[top] * k), 254, blk(*[top] * k), 254, H, H)],                        # overflow
        [(blk(*[top] * k), 127, blk(*[top] * k), 127, H, H)],
        [(blk(*[least] * k), 254, blk(*[least] * k), 254, H, H)],
        [(blk(*[top] * k), 127, blk(*[least] * k), 127, H, H)],
        [(blk(*[top, least] * (k // 2)), 127, blk(*[top, top | neg] * (k // 2)), 127, H, H)],
    ]
    # the least products (2^-44) swept through the binary32 subnormal range; 32768² to overflow
    for x in range(-120, -90, 2):
        sa = max(0, x + 127); cases.append([(blk(*[least] * k), sa, blk(least, 0x07), x + 254 - sa, H, H)])
    for x in range(90, 100):
        sa = min(254, x + 127); cases.append([(blk(*[top] * k), sa, blk(top, 0x66), x + 254 - sa, H, H)])
    for code in range(256):
        cases.append([(blk(code), 127, blk(one_h), 127, H, H)])
        cases.append([(blk(one4), 127, blk(code), 127, E4M3, H)])
        cases.append([(blk(code), 100, blk(one5), 140, H, E5M2)])
    return _case_stream(config, cases, limit)


def _hif8_sets():
    from mxdpu.verif.kat import HIF8_KAT
    sets = {"kat_hif8": lambda c, r, n: known_answers(c, r, n, HIF8_KAT, REQUIRED_FORMATS + ("hif8",)),
            "corners_hif8": hif8_corners}
    for fa, fb in ((HIF8, HIF8), (HIF8, E4M3), (E4M3, HIF8), (HIF8, E5M2), (E5M2, HIF8)):
        for regime in REGIMES:
            sets[f"pairs_{_name(fa)}_{_name(fb)}_{regime}"] = (
                lambda c, r, n, fa=fa, fb=fb, regime=regime: operand_pairs(c, r, n, fa, fb, regime))
    for tails in ("gauss", "heavy"):
        for rule in ("floor", "ceil", "rceil", "even"):
            sets[f"{tails}_hif8_{rule}"] = (lambda c, r, n, rule=rule, tails=tails:
                                            realistic(c, r, n, rule, tails, formats=(HIF8, HIF8, E4M3, E5M2)))
    return sets


_HIF8_SETS = _hif8_sets()
SETS.update(_HIF8_SETS)
#: Sets that need formats beyond the required two: name -> the format names they need.
NEEDS = dict.fromkeys(_HIF8_SETS, ("hif8",))


# -- vendor-mode chunks (SPEC §6): one PE, one chunk, C given ------------------------------------


def _codes(fmt, finite):
    """Byte codes of a format, finite or special (NaN/Inf), as an array."""
    kind = KIND[fmt][:1 << FORMATS[fmt].bits]
    return np.flatnonzero((kind == FINITE) == finite)


def random_elements(rng, fmt, shape, special=0.003):
    """Codes of `fmt`: a mix per row of uniform finite codes, subnormal-heavy, sparse (zeros) and
    few-distinct-exponent rows, then a NaN/Inf code with probability `special` per element (where
    the format has them). High bits above a narrow format are random: SPEC §1 ignores them."""
    finite = _codes(fmt, True)
    bits = FORMATS[fmt].bits
    codes = rng.choice(finite, shape)
    style = rng.integers(0, 4, shape[:-1] + (1,))
    small = finite[np.abs(VALUE[fmt][finite]) < (8 << max(FORMATS[fmt].mbits, 1))]   # subnormals and the first binades
    codes = np.where(style == 1, rng.choice(small, shape), codes)
    codes = np.where((style == 2) & (rng.random(shape) < 0.6), 0, codes)
    specials = _codes(fmt, False)
    if specials.size:
        codes = np.where(rng.random(shape) < special, rng.choice(specials, shape), codes)
    high = rng.integers(0, 256, shape) >> bits << bits if bits < 8 else 0
    return (codes | high).astype(np.int64)


def random_scales(rng, n):
    """UE8M0 codes: mostly near 127, else anywhere, the extremes 0, 1, 253, 254, or NaN (0xFF)."""
    scale = 127 + rng.integers(-12, 13, n)
    pick = rng.random(n)
    scale = np.where(pick < 0.15, rng.integers(0, 255, n), scale)
    scale = np.where((pick >= 0.15) & (pick < 0.25), rng.choice([0, 1, 2, 252, 253, 254], n), scale)
    return np.where(pick >= 0.997, 0xFF, scale)


def random_accumulators(rng, a_format, b_format, a, b, sa, sb):
    """FP32 bits for C: zero, −0, a value near the chunk's products (often cancelling the first
    product exactly), subnormal, near the top of the range, ±Inf or a NaN."""
    n = len(sa)
    x = sa + sb - 254
    exp = np.clip(x + 127 + rng.integers(-30, 20, n), 1, 254)
    bits = (rng.integers(0, 2, n) << 31) | (exp << 23) | rng.integers(0, 1 << 23, n)
    # minus the first product, exact in binary32 when it is in range (else Inf or zero: fine too)
    first = (VALUE[a_format, a[:, 0]].astype(np.float64) * VALUE[b_format, b[:, 0]]
             * np.exp2((LSB_EXP[a_format] + LSB_EXP[b_format] + x).astype(np.float64)))
    with np.errstate(over="ignore"):
        cancel = (-first).astype(np.float32).view(np.uint32).astype(np.int64)
    pick = rng.random(n)
    choices = [
        (0.10, np.zeros(n, np.int64)),
        (0.13, np.full(n, 0x80000000, np.int64)),
        (0.33, cancel),
        (0.43, (rng.integers(0, 2, n) << 31) | rng.integers(1, 1 << 23, n)),             # subnormal
        (0.48, (rng.integers(0, 2, n) << 31) | (254 << 23) | rng.integers(0, 1 << 23, n)),  # huge
        (0.50, (rng.integers(0, 2, n) << 31) | 0x7F800000),                               # ±Inf
        (0.52, (rng.integers(0, 2, n) << 31) | 0x7F800000 | rng.integers(1, 1 << 23, n)),   # NaN
    ]
    for bound, value in reversed(choices):
        bits = np.where(pick < bound, value, bits)
    return bits


def cancelling(rng, a, b):
    """Rows where the second half repeats the first with a flipped sign: big exact cancellation."""
    rows = rng.random(len(a)) < 0.15
    half = a.shape[1] // 2
    a = a.copy()
    b = b.copy()
    a[rows, half:2 * half] = a[rows, :half]
    b[rows, half:2 * half] = b[rows, :half] ^ 0x80     # the sign bit of an 8-bit format
    return a, b


def random_chunks(rng, a_format, b_format, n, length=CHUNK):
    """n random chunks of one format pair: dict of a, b [n, length], sa, sb, c [n] (int64)."""
    a = random_elements(rng, a_format, (n, length))
    b = random_elements(rng, b_format, (n, length))
    if FORMATS[b_format].bits == 8:
        a, b = cancelling(rng, a, b)
    sa, sb = random_scales(rng, n), random_scales(rng, n)
    c = random_accumulators(rng, a_format, b_format, a, b, sa, sb)
    return {"a": a, "b": b, "sa": sa, "sb": sb, "c": c}


# -- accumulation modes (SPEC §6): sets for builds that have them -------------------------------

E4M3_ONE, E5M2_ONE, E5M2_INF, SIGN_BIT = 0x38, 0x3C, 0x7C, 0x80


def _mode_formats(config, mode):
    """Format codes a step in `mode` may name on this build: the mode's list (every code for
    exact, a mode not built or the reserved code) that the build enables."""
    allowed = VENDOR_MODES[mode].formats if mode in VENDOR_MODES else range(8)
    return [code for code in config.format_codes if code in allowed]


def _mode_step(builder, rng, mode, slot, first, last, outside=0.0):
    """A random step in `mode` (`random_elements`: uniform, subnormal-heavy, sparse rows, a NaN or
    Inf now and then; `random_scales`); with probability `outside` one operand names a format
    code outside the mode's list or the build's, with random bytes (0x7FFFFFFF, invalid)."""
    config = builder.config
    take = _mode_formats(config, mode)
    fa, fb = (int(f) for f in rng.choice(take, size=2))
    a = random_elements(rng, fa, (config.rows, config.block))
    b = random_elements(rng, fb, (config.cols, config.block))
    if rng.random() < outside:
        wrong = int(rng.choice([code for code in range(8) if code not in take]))
        if rng.random() < 0.5:
            fa, a = wrong, rng.integers(256, size=a.shape)
        else:
            fb, b = wrong, rng.integers(256, size=b.shape)
    builder.step(a, random_scales(rng, config.rows), b, random_scales(rng, config.cols), fa, fb,
                 slot=slot, first=first, last=last, mode=mode)


def mode_random(config, rng, limit, mode):
    """Random steps in one vendor mode over a slot sequence with every reuse distance 1 ..
    acc_latency + 2, random first/last: the formats the mode takes, and one step in 16 naming a
    format code outside its list or the build's."""
    builder = StreamBuilder(config)
    for slot in _hazard_slots(config, rng, limit or 2048):
        _mode_step(builder, rng, mode, slot, rng.random() < 0.3, rng.random() < 0.3, outside=1 / 16)
    return builder.build()


def _fill(config, rng, fmt, count, special=0.0):
    """[count, k] codes of `fmt` from `random_elements` (no NaN/Inf unless `special`)."""
    return random_elements(rng, fmt, (count, config.block), special)


def mode_specials(config, rng, limit, mode, rounds=3):
    """SPEC §2's rules 1–5 per chunk in one vendor mode: an accumulator set by a first step (in
    the mode) to +0, ±Inf, NaN, a subnormal or a value near 2^127, then a block with a NaN
    element, a ±Inf product, +Inf and −Inf products, Inf × 0, Inf beside NaN, a NaN scale (also
    on a zero block), a zero block or a finite one; specials in a random lane (any chunk), the
    other lanes random. `rounds` draws of every pair, in random order."""
    R, C, k = config.rows, config.cols, config.block
    take = _mode_formats(config, mode)

    def lone(code, fmt):                                  # one element, the rest zero
        block = np.zeros(k, np.int64)
        block[rng.integers(k)] = code
        return block, fmt

    def scaled(x):
        return _scales_for(config, rng, x)

    def preload(kind):
        if kind == "zero":
            return []
        if kind in ("+inf", "-inf", "nan"):
            a, fa = lone({"+inf": E5M2_INF, "-inf": E5M2_INF | SIGN_BIT, "nan": 0x7F}[kind],
                         E5M2 if kind != "nan" else E4M3)
            b = np.full(k, E5M2_ONE)
            return [(a, 127, b, 127, fa, E5M2, mode)]
        x = int(rng.integers(-170, -140)) if kind == "subnormal" else int(rng.integers(98, 110))
        sa, sb = scaled(x)
        return [(_fill(config, rng, E4M3, R), sa, _fill(config, rng, E4M3, C), sb, E4M3, E4M3, mode)]

    def special(kind):
        side = int(rng.integers(2))                       # the operand that carries the special
        fmt = [int(f) for f in rng.choice(take, size=2)]
        fmt[side] = int(rng.choice([E4M3, E5M2])) if kind == "nan" else E5M2
        ops = [_fill(config, rng, fmt[0], R), _fill(config, rng, fmt[1], C)]
        scales = list(scaled(int(rng.integers(-10, 11))))
        carrier, partner = ops[side], ops[1 - side]
        i, j = rng.choice(k, size=2, replace=False)
        nonzero = _codes(fmt[1 - side], True)
        nonzero = nonzero[VALUE[fmt[1 - side], nonzero] != 0]
        if kind == "nan":
            carrier[:, i] = 0x7F | int(rng.integers(2)) * SIGN_BIT       # NaN in E4M3 and E5M2
        elif kind in ("+inf", "-inf", "both_inf", "inf_nan"):
            carrier[:, i], partner[:, i] = E5M2_INF | (kind == "-inf") * SIGN_BIT, rng.choice(nonzero)
            if kind == "both_inf":
                carrier[:, j], partner[:, j] = E5M2_INF | SIGN_BIT, rng.choice(nonzero)
            if kind == "inf_nan":
                carrier[:, j] = 0x7E
        elif kind == "inf_zero":
            carrier[:, i], partner[:, i] = E5M2_INF, 0
        elif kind in ("nan_scale", "nan_scale_zero"):
            scales[side] = np.full((R, C)[side], NAN_SCALE)
        if kind in ("zero", "nan_scale_zero"):
            ops = [np.zeros_like(ops[0]), np.zeros_like(ops[1])]
        return (ops[0], scales[0], ops[1], scales[1], fmt[0], fmt[1], mode)

    preloads = ("zero", "+inf", "-inf", "nan", "subnormal", "huge")
    specials = ("finite", "nan", "+inf", "-inf", "both_inf", "inf_nan", "inf_zero", "nan_scale",
                "nan_scale_zero", "zero")
    cases = [preload(p) + [special(q)] for _ in range(rounds) for p in preloads for q in specials]
    return _case_stream(config, [cases[n] for n in rng.permutation(len(cases))], limit)


def _e5m2_power(e):
    """E5M2 code of 2^e, e = -16 .. 15."""
    return (e + 15) << 2 if e >= -14 else 1 << (e + 16)


def mode_corners(config, rng, limit, mode):
    """Truncation corners of one vendor mode (SPEC §6), each a short accumulation on its own
    slot, in random order: products 2^-g below an accumulator of ±1.0 (g = 0 .. 48: kept, cut to
    F bits, lost; below zero when they subtract); an accumulator cancelled exactly by the block's
    first product beside small ones (the grid is the cancelled exponent's); sums swept across
    2^-126 .. 2^-152 and 2^124 .. 2^129; the ladder 2^127 + 2^126 + ... (2^128 − 2^103 is
    0x7F7FFFFF in blackwell, Inf in exact); SPEC §6's 1 + 2^-23 (made in exact or blackwell when
    built) before a zero block (hopper: 1.0); −0 products and x − x giving +0."""
    R, C, k = config.rows, config.cols, config.block
    take = _mode_formats(config, mode)
    # the mode that makes a wide accumulator: exact, else blackwell, else this one
    wide = next((c for c in (EXACT, MODE_CODES["blackwell"]) if c in config.mode_codes), mode)
    unit = np.arange(E4M3_ONE, E4M3_ONE + 8)              # E4M3 codes of [1, 2)

    def blk(*codes):
        return np.array(list(codes) + [0] * (k - len(codes)), np.int64)

    def binade(count, signs=False, negative=False):
        codes = rng.choice(unit, size=(count, k))
        return codes | (rng.integers(2, size=codes.shape) * SIGN_BIT if signs else 0) | negative * SIGN_BIT

    def at(x):
        return _scales_for(config, rng, x)

    one = (blk(E4M3_ONE), 127, blk(E4M3_ONE), 127, E4M3, E4M3, mode)
    minus_one = (blk(E4M3_ONE | SIGN_BIT), 127, blk(E4M3_ONE), 127, E4M3, E4M3, mode)
    cases = []
    for g in range(49):                                   # products far below C
        sa, sb = at(-g)
        a = binade(R, negative=g % 4 == 0) if g % 3 else binade(R, signs=True)
        cases.append([(one, minus_one)[g % 2], (a, sa, binade(C), sb, E4M3, E4M3, mode)])
    for _ in range(24):                                   # C cancelled by the block's first product
        p, q = (int(c) for c in rng.choice(np.arange(0x5C, 0x7C), size=2))   # E5M2 256 .. 57344
        a, b = _fill(config, rng, E5M2, R), _fill(config, rng, E5M2, C)
        a[:, 0], b[:, 0] = p | SIGN_BIT, q
        x = int(rng.integers(-150, 90))
        sa, sb = 127 + x // 2, 127 + x - x // 2
        cases.append([(blk(p), sa, blk(q), sb, E5M2, E5M2, mode), (a, sa, b, sb, E5M2, E5M2, mode)])
    grows = math.ceil(math.log2(k)) + 1                   # log2 of a sum of k products in [1, 4)
    for target in range(-152, -118, 2):                  # across FP32's subnormals
        sa, sb = at(target - grows)
        cases.append([(binade(R, signs=target % 4 == 0), sa, binade(C), sb, E4M3, E4M3, mode)])
    for target in range(124, 130):                        # up to and past 2^128
        sa, sb = at(target - grows)
        cases.append([(binade(R), sa, binade(C), sb, E4M3, E4M3, mode)])
    for terms in (24, 25, 26, 30):                        # the ladder, over as many steps as k needs
        for top in (126, 127, 128):
            powers = [_e5m2_power(15 - i) for i in range(terms)]
            steps = []
            for i in range(0, terms, k):
                part = powers[i:i + k]
                steps.append((blk(*part), top - 15 + 127, blk(*[E5M2_ONE] * len(part)), 127, E5M2, E5M2, mode))
            cases.append(steps)
    # 1 + 2^-23 (1.0 · 1.0 + 2^-16 · 2^-7) then a zero block; also after a random wide value
    ulp = (blk(E5M2_ONE, 0x01), 127, blk(E5M2_ONE, _e5m2_power(-7)), 127, E5M2, E5M2, wide)
    zero = (blk(), 127, blk(), 127, E4M3, E4M3, mode)
    cases.append([ulp, zero])
    cases.append([ulp, zero, zero])
    for _ in range(8):
        fa, fb = (int(f) for f in rng.choice(take, size=2))
        sa, sb = at(int(rng.integers(-30, 30)))
        cases.append([(_fill(config, rng, fa, R), sa, _fill(config, rng, fb, C), sb, fa, fb, wide), zero])
    cases.append([(blk(SIGN_BIT, SIGN_BIT), 127, blk(E4M3_ONE, 0), 127, E4M3, E4M3, mode)])     # −0 products
    cases.append([(blk(E4M3_ONE, E4M3_ONE | SIGN_BIT), 127, blk(E4M3_ONE, E4M3_ONE), 127, E4M3, E4M3, mode)])
    cases.append([minus_one, (blk(E4M3_ONE), 127, blk(E4M3_ONE), 127, E4M3, E4M3, mode)])   # C − C
    return _case_stream(config, [cases[n] for n in rng.permutation(len(cases))], limit)


def mode_chains(config, rng, limit, mode, blocks=64):
    """Long accumulations onto a large D, where hopper's 14 bits show: a first block of large
    products puts D near 2^(x + 17), then blocks − 1 blocks (fewer when `limit` is smaller) of
    random products 2^-6 .. 2^-24 below it, random signs, in the formats the mode takes; tiles
    interleaved over the slots like `realistic`."""
    R, C = config.rows, config.cols
    take = _mode_formats(config, mode)
    big = np.arange(0x68, 0x7F)                           # E4M3 64 .. 448
    blocks = min(blocks, limit or blocks)
    tiles = max(1, (limit or 16 * blocks) // blocks)
    group = min(config.depth, tiles)
    builder = StreamBuilder(config)
    for base in range(0, tiles, group):
        members = [int(rng.integers(-40, 41)) for _ in range(min(group, tiles - base))]
        for kb in range(blocks):
            for t, x in enumerate(members):
                if kb == 0:
                    fa = fb = E4M3
                    a, b = rng.choice(big, size=(R, config.block)), rng.choice(big, size=(C, config.block))
                    sa, sb = _scales_for(config, rng, x)
                else:
                    fa, fb = (int(f) for f in rng.choice(take, size=2))
                    a, b = _fill(config, rng, fa, R), _fill(config, rng, fb, C)
                    sa, sb = _scales_for(config, rng, x - int(rng.integers(6, 25)))
                builder.step(a, sa, b, sb, fa, fb, slot=t, first=kb == 0, last=kb == blocks - 1, mode=mode)
    return builder.build()


def mode_switch(config, rng, limit):
    """Accumulations whose steps change mode (each step one of the modes built, random) on one
    slot, over a slot sequence with every reuse distance 1 .. acc_latency + 2, random first/last."""
    builder = StreamBuilder(config)
    for slot in _hazard_slots(config, rng, limit or 2048):
        _mode_step(builder, rng, int(rng.choice(config.mode_codes)), slot, rng.random() < 0.2,
                   rng.random() < 0.2)
    return builder.build()


def mode_absent(config, rng, limit):
    """Steps naming a mode code the build lacks (the reserved 3 on every build): NaN 0x7FC00000
    with invalid (SPEC §6), one step in three, the others in the modes built, over hazard slots."""
    lacking = [code for code in range(4) if code not in config.mode_codes]
    builder = StreamBuilder(config)
    for slot in _hazard_slots(config, rng, limit or 1024):
        codes = lacking if rng.random() < 1 / 3 else config.mode_codes
        _mode_step(builder, rng, int(rng.choice(codes)), slot, rng.random() < 0.3, rng.random() < 0.3)
    return builder.build()


def mmasim_answers(config, rng, limit):
    """MMA-Sim's answers for the vendor modes (`verif.kat.MMASIM_KAT`): the cases of k equal to
    the build's block whose modes it builds and formats it enables, each broadcast to every PE on
    its own slot. Expected d is the file's (mmasim's); flags the golden model's (the file has
    none)."""
    from mxdpu.verif.kat import MMASIM_KAT, read_kat
    builder = StreamBuilder(config)
    answers = []
    for case in read_kat(MMASIM_KAT):
        steps = case["steps"]
        if case["k"] != config.block or any(
                s.get("mode", "exact") not in config.modes
                or not {s["a_format"], s["b_format"]} <= set(config.format_codes) for s in steps):
            continue
        if limit is not None and len(builder) + len(steps) > limit:
            break
        t = len(answers) % config.depth
        for j, s in enumerate(steps):
            builder.step(s["a"], s["a_scale"], s["b"], s["b_scale"], s["a_format"], s["b_format"], slot=t,
                         first=j == 0, last=j == len(steps) - 1, mode=MODE_CODES[s.get("mode", "exact")])
        answers.append(case["d"])
    golden = expected_results(config, builder.build())
    d = np.broadcast_to(np.asarray(answers, np.uint32)[:, None, None], golden.d.shape)
    return builder.build(expected=Expected(d=d.copy(), flags=golden.flags, slot=golden.slot,
                                           step=golden.step, epoch=golden.epoch))


def _mode_sets():
    sets = {"kat_mmasim": mmasim_answers}
    for name in ("blackwell", "hopper"):
        for kind, make in (("random", mode_random), ("specials", mode_specials),
                           ("corners", mode_corners), ("chains", mode_chains)):
            sets[f"mode_{kind}_{name}"] = lambda c, r, n, make=make, code=MODE_CODES[name]: make(c, r, n, code)
    sets.update(mode_switch=mode_switch, mode_absent=mode_absent)
    return sets


def _builds(*modes):
    return lambda config: set(modes) <= set(config.modes)


_MODE_SETS = _mode_sets()
SETS.update(_MODE_SETS)
#: Sets that need accumulation modes (SPEC §6): name -> (what they need, in words; a test of a
#: Config). The public known answers are exact-mode answers.
MODE_NEEDS = {
    "kat": ("mode exact", _builds("exact")),
    "kat_hif8": ("mode exact", _builds("exact")),
    "kat_mmasim": ("mode blackwell or hopper", lambda config: config.modes != ("exact",)),
    **{name: (f"mode {name.rsplit('_', 1)[1]}", _builds(name.rsplit("_", 1)[1]))
       for name in _MODE_SETS if name.endswith(("_blackwell", "_hopper"))},
    "mode_switch": ("two or more modes", lambda config: config.has_mode_field),
    "mode_absent": ("two or more modes", lambda config: config.has_mode_field),
}


def missing_modes(name, config):
    """What set `name` needs of the modes that `config` does not build, in words (None: nothing)."""
    what, has = MODE_NEEDS.get(name, (None, None))
    return None if has is None or has(config) else what


def sets_for(config):
    """Names of the sets a configuration runs: every set whose formats it enables and whose
    modes it builds."""
    return [name for name in SETS if set(NEEDS.get(name, ())) <= set(config.formats)
            and missing_modes(name, config) is None]
