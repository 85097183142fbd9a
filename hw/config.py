"""The one configuration object of mxdpu.

`Config` is both the hardware factory (`Config.create()`) and the golden model's parameter set.
Every derived number — payload layouts and widths, field offsets, the manifest — is a read-only
property computed here; nothing else keeps a copy.
"""

from dataclasses import dataclass, fields, replace

from amaranth.lib import data

from .accumulate import LOOP_CUTS, PREPARE_CUTS

__all__ = ["ConfigError", "Config", "PRESETS", "FORMAT_CODES", "REQUIRED_FORMATS", "MODE_CODES",
           "LANES_PER_FORMAT_COPY", "PIPELINE", "preset"]


class ConfigError(ValueError):
    """A parameter that cannot be built. The message is one line: parameter, value, what is allowed."""


#: Element format names and their 3-bit codes (SPEC §1).
FORMAT_CODES = {"e4m3": 0, "e5m2": 1, "e3m2": 2, "e2m3": 3, "e2m1": 4, "int8": 5, "hif8": 6}
#: Formats every build enables.
REQUIRED_FORMATS = ("e4m3", "e5m2")
#: Accumulation modes and their 2-bit `mode` step field codes (SPEC §6; code 3 is reserved).
MODE_CODES = {"exact": 0, "blackwell": 1, "hopper": 2}
BLOCK_SIZES = (16, 32, 64, 128)
#: Pipeline registers `hw.accumulate.Accumulate` can place in its loop and before the slot read.
ACC_STAGES = range(len(LOOP_CUTS))
PREP_STAGES = range(len(PREPARE_CUTS))
#: Registers after Unpack (1), and also before it (2).
PIPE_UNPACK = range(0, 3)
#: Lanes whose Unpacks read one registered copy of the step's format codes (pipe_unpack 2).
LANES_PER_FORMAT_COPY = 4
#: Registers after Multiply (1), or inside Multiply and PlaceOnGrid (2, 3).
PIPE_MULTIPLY = range(0, 4)
#: Levels between the registers of Sum's adder tree (0: none); a 32-lane tree has 5 levels.
PIPE_TREE = range(0, 6)
#: Bit slices Sum can cut the grid into.
SUM_SLICES = range(1, 5)


@dataclass(frozen=True)
class Config:
    """Parameters of one mxdpu build.

    rows, cols -- the tile is rows × cols processing elements.
    block      -- k, elements per operand per step (16, 32, 64 or 128).
    lanes      -- products summed per cycle in each PE; a step takes block / lanes cycles.
    depth      -- FP32 accumulator slots per PE.
    formats    -- element formats enabled at run time; e4m3 and e5m2 are always included.
    modes      -- accumulation modes built (SPEC §6): one or more of exact, blackwell, hopper;
                  with more than one, each step picks its mode in a 2-bit `mode` field.

    Pipeline settings (they change latency and acc_latency, never results):
    pipe_unpack   -- 1: a register after the operand decode (Unpack); 2: also one before it,
                     on the cycle's elements and on copies of the format codes, one per
                     LANES_PER_FORMAT_COPY lanes (no net from one flip-flop to every Unpack).
    pipe_multiply -- 1: a register after the significand products (Multiply); 2: two, one
                     inside Multiply on the unsigned product, the other after PlaceOnGrid's
                     first shift step and its negation; 3: also one
                     inside Multiply after the partial products' first adds.
    pipe_place    -- 1: a register after the products are placed on the grid (PlaceOnGrid).
    pipe_tree     -- a register after every pipe_tree-th level of Sum's adder tree but the last,
                     0 to 5 (0: none).
    sum_slices    -- Sum cuts the grid into 1 to 4 bit slices, each with its own adder tree, and
                     joins them one slice a cycle: no carry chain is longer than a slice.
    pipe_sum      -- 1: a register after the exact block sum (Sum).
    prep_stages   -- pipeline registers in Accumulate's prepare part, before the slot read, 0 to 6
                     (they add latency, not acc_latency).
    acc_stages    -- pipeline registers in Accumulate's loop, slot read to slot write, 0 to 12.
    acc_share     -- PEs per Accumulate, 1 (none shared) to cycles_per_step, dividing rows × cols:
                     the PEs, in row-major order, are taken in groups of acc_share, and a group's
                     block sums enter its one Accumulate a cycle apart (latency + acc_share - 1;
                     acc_latency unchanged).
    """

    rows: int = 1
    cols: int = 1
    block: int = 32
    lanes: int = 32
    depth: int = 4
    formats: tuple = REQUIRED_FORMATS
    modes: tuple = ("exact",)
    pipe_unpack: int = 0
    pipe_multiply: int = 1
    pipe_place: int = 0
    pipe_tree: int = 0
    sum_slices: int = 1
    pipe_sum: int = 1
    prep_stages: int = 0
    acc_stages: int = 2
    acc_share: int = 1

    def __post_init__(self):
        # Formats: accept any iterable, store a canonical tuple in code order.
        for name in ("formats", "modes"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, tuple(f for f in getattr(self, name).split(",") if f))
        problems = []

        def check_int(value, ok, allowed):
            if not isinstance(value, int) or isinstance(value, bool) or not ok(value):
                problems.append(f"{allowed}, not {value!r}")

        check_int(self.rows, lambda v: 1 <= v <= 16, "Rows must be an integer from 1 to 16")
        check_int(self.cols, lambda v: 1 <= v <= 16, "Cols must be an integer from 1 to 16")
        check_int(self.block, lambda v: v in BLOCK_SIZES,
                  "Block size must be one of 16, 32, 64, 128")
        if isinstance(self.lanes, int) and not isinstance(self.lanes, bool) \
                and isinstance(self.block, int) and self.block in BLOCK_SIZES:
            check_int(self.lanes, lambda v: v >= 1 and self.block % v == 0,
                      f"Lanes must divide the block size {self.block} "
                      f"({', '.join(str(d) for d in range(1, self.block + 1) if self.block % d == 0)})")
        else:
            check_int(self.lanes, lambda v: v >= 1, "Lanes must be a positive integer")
        check_int(self.depth, lambda v: 1 <= v <= 256,
                  "Depth must be an integer from 1 to 256")
        check_int(self.pipe_unpack, lambda v: v in PIPE_UNPACK, "Pipe unpack must be 0, 1 or 2")
        for name in ("pipe_place", "pipe_sum"):
            check_int(getattr(self, name), lambda v: v in (0, 1),
                      f"{name.capitalize().replace('_', ' ')} must be 0 or 1")
        check_int(self.pipe_multiply, lambda v: v in PIPE_MULTIPLY,
                  f"Pipe multiply must be an integer from {PIPE_MULTIPLY[0]} to {PIPE_MULTIPLY[-1]}")
        check_int(self.pipe_tree, lambda v: v in PIPE_TREE,
                  f"Pipe tree must be an integer from {PIPE_TREE[0]} to {PIPE_TREE[-1]}")
        check_int(self.sum_slices, lambda v: v in SUM_SLICES,
                  f"Sum slices must be an integer from {SUM_SLICES[0]} to {SUM_SLICES[-1]}")
        check_int(self.prep_stages, lambda v: v in PREP_STAGES,
                  f"Prep stages must be an integer from {PREP_STAGES[0]} to {PREP_STAGES[-1]}")
        check_int(self.acc_stages, lambda v: v in ACC_STAGES,
                  f"Acc stages must be an integer from {ACC_STAGES[0]} to {ACC_STAGES[-1]}")
        if all(isinstance(getattr(self, n), int) and not isinstance(getattr(self, n), bool)
               for n in ("rows", "cols", "block", "lanes")) \
                and self.block in BLOCK_SIZES and self.lanes >= 1 and self.block % self.lanes == 0:
            pes, cycles = self.rows * self.cols, self.block // self.lanes
            shares = [s for s in range(1, cycles + 1) if pes % s == 0]
            check_int(self.acc_share, lambda v: v in shares,
                      f"Acc share must be one of {', '.join(map(str, shares))} (at most block / "
                      f"lanes = {cycles} PEs, dividing rows × cols = {pes})")
        else:
            check_int(self.acc_share, lambda v: v >= 1, "Acc share must be a positive integer")

        def check_names(field, codes, refusal, required=()):
            # a list of names: known ones only (at least one unless some are required), kept in
            # code order with the required ones added
            try:
                names = tuple(getattr(self, field))
            except TypeError:
                problems.append(f"{field.capitalize()} must be a list of {field[:-1]} names, "
                                f"not {getattr(self, field)!r}")
                return
            unknown = [n for n in names if n not in codes]
            if unknown or not (names or required):
                problems.append(refusal(unknown))
                return
            chosen = set(names) | set(required)
            object.__setattr__(self, field, tuple(n for n in codes if n in chosen))

        check_names("formats", FORMAT_CODES, required=REQUIRED_FORMATS, refusal=lambda unknown:
                    f"Format must be one of {', '.join(FORMAT_CODES)}, not {', '.join(map(str, unknown))}")
        check_names("modes", MODE_CODES, refusal=lambda unknown:
                    f"Modes must be one or more of {', '.join(MODE_CODES)}, "
                    f"not {', '.join(map(repr, unknown)) or 'none'}")
        if problems:
            raise ConfigError("; ".join(problems))

    # -- construction ------------------------------------------------------------------------

    def replace(self, **changes):
        """A copy with some parameters changed (checked again)."""
        return replace(self, **changes)

    @classmethod
    def parameter_names(cls):
        return tuple(f.name for f in fields(cls))

    def create(self):
        """Elaborate-ready top-level Component for this configuration."""
        from .top import MXDPU  # deferred: configuration must not need the datapath to load
        return MXDPU(self)

    # -- derived facts -------------------------------------------------------------------------

    @property
    def format_codes(self):
        """Codes (SPEC §1) of the enabled formats."""
        return tuple(FORMAT_CODES[n] for n in self.formats)

    @property
    def mode_codes(self):
        """Codes (SPEC §6) of the accumulation modes built."""
        return tuple(MODE_CODES[n] for n in self.modes)

    @property
    def has_mode_field(self):
        """A step carries the 2-bit `mode` field only when more than one mode is built (SPEC §6)."""
        return len(self.modes) > 1

    @property
    def vendor_modes(self):
        """The modes built other than exact: those `hw.vendor.VendorPath` computes (SPEC §6)."""
        return tuple(n for n in self.modes if n != "exact")

    @property
    def chunk_length(self):
        """Elements per vendor-mode chunk, L = min(block, 32) (SPEC §6)."""
        return min(self.block, 32)

    @property
    def cycles_per_step(self):
        """Cycles a step occupies the input: block / lanes (SPEC §4)."""
        return self.block // self.lanes

    @property
    def prepare_latency(self):
        """Cycles from the block sum to the slot read: one per register of Accumulate's prepare."""
        return self.prep_stages

    @property
    def registers_before_unpack(self):
        """pipe_unpack's register before Unpack (with 2): 0 or 1."""
        return int(self.pipe_unpack == 2)

    @property
    def registers_after_unpack(self):
        """pipe_unpack's register after Unpack (with 1 or 2): 0 or 1."""
        return min(self.pipe_unpack, 1)

    @property
    def format_copies(self):
        """Registered copies of the step's two format codes before Unpack, one per
        LANES_PER_FORMAT_COPY lanes; 0 without that register."""
        return -(-self.lanes // LANES_PER_FORMAT_COPY) * self.registers_before_unpack

    @property
    def slot_select_ahead(self):
        """The slot read's one-hot select is decoded a cycle before the read, into a register
        (`hw.pe.SlotStore`): whenever a register holds the read's slot a cycle earlier, that is
        with at least one prepare register."""
        return self.prepare_latency >= 1

    @property
    def accumulate_latency(self):
        """Cycles from the slot read to the result: one per register in Accumulate's loop."""
        return self.acc_stages

    @property
    def tree_registers(self):
        """Registers inside Sum's adder tree: after every pipe_tree-th of its log2(lanes) levels
        but the last."""
        levels = (self.lanes - 1).bit_length()
        return (levels - 1) // self.pipe_tree if self.pipe_tree and levels else 0

    @property
    def sum_latency(self):
        """Cycles through Sum: its tree registers, and one per join of two bit slices."""
        return self.tree_registers + self.sum_slices - 1

    @property
    def multiply_registers(self):
        """Registers inside Multiply: pipe_multiply's but the one inside PlaceOnGrid, with 2 or 3
        (with 1 the register sits after Multiply, see `place_cut`)."""
        return self.pipe_multiply - 1 if self.place_cut else 0

    @property
    def place_cut(self):
        """PlaceOnGrid holds the last of pipe_multiply's registers, between its shift's steps."""
        return self.pipe_multiply >= 2

    @property
    def front_latency(self):
        """Cycles from a step's last chunk at Multiply to its block sum entering Accumulate."""
        return self.pipe_multiply + self.pipe_place + self.sum_latency + self.pipe_sum

    @property
    def share_latency(self):
        """Cycles the last PE of an Accumulate's group waits after the first: its block sum
        enters the shared Accumulate acc_share - 1 cycles later, and the tile's result leaves
        with it."""
        return self.acc_share - 1

    @property
    def latency(self):
        """Cycles from a `last` step's acceptance to its result's valid, without stalls (SPEC §4).

        1 into the input register, where the step issues its first chunk; cycles_per_step - 1
        more chunks; pipe_unpack; the front end's registers (`front_latency`); the wait of a
        shared Accumulate's last PE (`share_latency`); Accumulate's prepare and loop latencies;
        and 1 through the result buffer.
        """
        return (self.cycles_per_step + self.pipe_unpack + self.front_latency + self.share_latency
                + self.prepare_latency + self.accumulate_latency + 1)

    @property
    def acc_latency(self):
        """Slot reuse distance, in steps, that sustains one step every `cycles_per_step` cycles.

        A step reads its slot `prepare_latency` cycles after its block sum enters Accumulate
        (the same delay for every step, so it does not count) and writes it back
        `accumulate_latency` cycles later; the next step on that slot must read at least one
        cycle after the write, so consecutive uses must issue accumulate_latency + 1 cycles apart.
        (A `first` step does not read its slot and never waits for it.) A shared Accumulate reads
        and writes its group's PE j j cycles later than its PE 0: the same distance.
        """
        return -(-(self.accumulate_latency + 1) // self.cycles_per_step)

    @property
    def result_buffer(self):
        """Entries of the result buffer: every result that can be in flight at full rate, plus one.

        A `last` step issues only while buffered plus in-flight results are fewer than this; a
        result holds its place from its issue to the cycle after it leaves (its place is freed
        from a register), latency cycles when the output is always ready, and steps issue
        `cycles_per_step` apart.
        """
        return -(-self.latency // self.cycles_per_step) + 1

    @property
    def slot_width(self):
        # max(1, ceil(log2 depth)) bits name a slot (SPEC §3); depth 1 still has a 1-bit field.
        return max(1, (self.depth - 1).bit_length())

    @property
    def step_layout(self):
        """`step__payload` layout, fields packed from bit 0 in SPEC §3 order."""
        return data.StructLayout({
            "a": data.ArrayLayout(data.ArrayLayout(8, self.block), self.rows),
            "a_scale": data.ArrayLayout(8, self.rows),
            "b": data.ArrayLayout(data.ArrayLayout(8, self.block), self.cols),
            "b_scale": data.ArrayLayout(8, self.cols),
            "a_format": 3,
            "b_format": 3,
            **({"mode": 2} if self.has_mode_field else {}),
            "slot": self.slot_width,
            "first": 1,
            "last": 1,
        })

    @property
    def result_layout(self):
        """`result__payload` layout: PE (r, c) at index [r][c] of `d` and `flags`."""
        return data.StructLayout({
            "d": data.ArrayLayout(data.ArrayLayout(32, self.cols), self.rows),
            "flags": data.ArrayLayout(data.ArrayLayout(4, self.cols), self.rows),
            "slot": self.slot_width,
        })

    @staticmethod
    def _field_table(layout):
        return {name: {"offset": f.offset, "width": f.width} for name, f in layout}

    @property
    def step_fields(self):
        return self._field_table(self.step_layout)

    @property
    def result_fields(self):
        return self._field_table(self.result_layout)

    @property
    def ports(self):
        """Top-level Verilog ports (SPEC §3), name -> (direction, width)."""
        return {
            "clk": ("in", 1),
            "rst": ("in", 1),
            "step__valid": ("in", 1),
            "step__ready": ("out", 1),
            "step__payload": ("in", self.step_layout.size),
            "result__valid": ("out", 1),
            "result__ready": ("in", 1),
            "result__payload": ("out", self.result_layout.size),
        }

    def parameters(self):
        """The generator parameters as plain JSON values."""
        return {
            "rows": self.rows, "cols": self.cols, "block": self.block, "lanes": self.lanes,
            "depth": self.depth, "formats": list(self.formats), "modes": list(self.modes),
            **{name: getattr(self, name) for name in PIPELINE},
            "acc_share": self.acc_share,
        }

    def manifest(self, top="mxdpu"):
        """The manifest dictionary of SPEC §4."""
        result = {
            "top": top,
            "parameters": self.parameters(),
            "ports": {name: {"direction": d, "width": w} for name, (d, w) in self.ports.items()},
            "step_fields": self.step_fields,
            "result_fields": self.result_fields,
            "cycles_per_step": self.cycles_per_step,
            "latency": self.latency,
            "acc_latency": self.acc_latency,
        }
        return result

    # -- packing (pure Python ints; the benches and the golden CLI share these) ----------------

    def pack_step(self, a, a_scale, b, b_scale, a_format, b_format, slot=0, first=1, last=1,
                  mode=MODE_CODES["exact"]):
        """`step__payload` bits from nested lists: a[r][i], a_scale[r], b[c][i], b_scale[c].

        `mode` (a SPEC §6 code) is packed only when the build has the field; with one mode built
        every step runs in it whatever `mode` says.
        """
        mode_field = {"mode": int(mode)} if self.has_mode_field else {}
        return self.step_layout.const({
            **mode_field,
            "a": [[int(x) for x in row] for row in a],
            "a_scale": [int(x) for x in a_scale],
            "b": [[int(x) for x in col] for col in b],
            "b_scale": [int(x) for x in b_scale],
            "a_format": int(a_format), "b_format": int(b_format),
            "slot": int(slot), "first": int(first), "last": int(last),
        }).as_bits()

    def unpack_result(self, bits):
        """`result__payload` bits -> dict(d=[[u32]*C]*R, flags=[[u4]*C]*R, slot=int)."""
        view = self.result_layout.from_bits(int(bits))
        return {
            "d": [[int(view.d[r][c]) for c in range(self.cols)] for r in range(self.rows)],
            "flags": [[int(view.flags[r][c]) for c in range(self.cols)] for r in range(self.rows)],
            "slot": int(view.slot),
        }


#: The pipeline settings, in dataflow order.
PIPELINE = ("pipe_unpack", "pipe_multiply", "pipe_place", "pipe_tree", "sum_slices", "pipe_sum",
            "prep_stages", "acc_stages")

#: Accumulate's first four prepare and eight loop registers: the loop split for timing (issue 8);
#: acc_latency is then 9 steps at one cycle per step, 5 at two, 3 at four. The presets other
#: than dpu keep them (their shared Accumulate's area was measured with them).
_FAST_ACC = dict(prep_stages=4, acc_stages=8)
#: Every pipeline register (issue 8: the fastest placed setting, 2x the Fmax of the default front
#: end with _FAST_ACC on ECP5, and half its LUT4): registers before and after Unpack, inside and after
#: Multiply and after PlaceOnGrid, after every level of Sum's tree, three bit slices, every
#: Accumulate cut.
_EVERY_REGISTER = dict(pipe_unpack=PIPE_UNPACK[-1], pipe_multiply=PIPE_MULTIPLY[-1], pipe_place=1,
                       pipe_tree=1, sum_slices=3, pipe_sum=1, prep_stages=PREP_STAGES[-1],
                       acc_stages=ACC_STAGES[-1])

#: Named presets. Explicit parameters override a preset's values. Each has depth >= acc_latency,
#: so a stream rotating over its slots runs at full rate.
PRESETS = {
    "dpu": Config(rows=1, cols=1, block=32, lanes=32, depth=16, **_EVERY_REGISTER),
    "tile2x2": Config(rows=2, cols=2, block=32, lanes=16, depth=8, acc_share=2, **_FAST_ACC),
    "tile4x4": Config(rows=4, cols=4, block=32, lanes=8, depth=4, acc_share=4, **_FAST_ACC),
    "deepgemm128": Config(rows=1, cols=1, block=128, lanes=32, depth=4, **_FAST_ACC),
}


def preset(name, **overrides):
    """A preset with some parameters overridden; unknown names are refused in one line."""
    if name not in PRESETS:
        raise ConfigError(f"Preset must be one of {', '.join(PRESETS)}, not {name!r}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
