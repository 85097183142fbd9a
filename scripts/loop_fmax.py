"""Fmax of Accumulate's loop alone on ECP5 (issue 8): how fast the accumulation can run when
the front end (Unpack, Multiply, Align, Sum) is not the limit.

The design placed: registered block inputs, Accumulate and the PE's SlotStore wired as in
`hw.pe.ProcessingElement` (slot read `prep_stages` after the block, write `acc_stages` later),
registered outputs; LFE5U-45F, nextpnr seed 1, 200 MHz constraint.

    .venv/bin/python -m mxdpu.scripts.loop_fmax [--acc-stages N] [--prep-stages N] [--build-dir D]
"""

import argparse

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mxdpu.hw.accumulate import Accumulate
from mxdpu.hw.config import PRESETS
from mxdpu.hw.formats import Grid
from mxdpu.hw.pe import SlotStore
from mxdpu.hw.pipeline import delay

from . import flow

__all__ = ["AccumulateLoop", "main"]


class AccumulateLoop(wiring.Component):
    """Accumulate and the slot store of one PE between input and output registers."""

    def __init__(self, config):
        self.config, self.grid = config, Grid(config)
        super().__init__({
            "sum": In(signed(self.grid.sum_width)), "scale": In(signed(10)), "specials": In(4),
            "slot": In(config.slot_width), "first": In(1), "last": In(1), "valid": In(1),
            "result": Out(32), "flags": Out(4),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.accumulate = acc = Accumulate(
            sum_width=self.grid.sum_width, grid_lsb=self.grid.lsb, stages=config.acc_stages,
            prepare_stages=config.prep_stages)
        m.submodules.slots = slots = SlotStore(config, ahead=config.slot_select_ahead)
        specials = delay(m, self.specials, 1, "in_specials")
        m.d.comb += [
            acc.sum.eq(delay(m, self.sum, 1, "in_sum")),
            acc.scale.eq(delay(m, self.scale, 1, "in_scale")),
            acc.nan.eq(specials[0]), acc.invalid.eq(specials[1]),
            acc.pos_inf.eq(specials[2]), acc.neg_inf.eq(specials[3]),
        ]
        control = [delay(m, value, 1 + config.prep_stages, f"read_{name}")
                   for name, value in (("slot", self.slot), ("first", self.first),
                                       ("last", self.last), ("valid", self.valid))]
        slot, first, last, valid = control
        write_slot, write_last, write = (delay(m, value, config.acc_stages, f"write_{i}")
                                         for i, value in enumerate((slot, last, valid)))
        # the slot store decodes its select a cycle ahead of the read when it can
        select_slot, select_first = (
            delay(m, value, 1 + config.prep_stages - config.slot_select_ahead, f"select_{name}")
            for name, value in (("slot", self.slot), ("first", self.first)))
        m.d.comb += [
            slots.read_slot.eq(select_slot), slots.read_first.eq(select_first),
            acc.d.eq(slots.d), acc.d_flags.eq(slots.d_flags),
            slots.write.eq(write), slots.write_slot.eq(write_slot),
            slots.write_last.eq(write_last),
            slots.write_d.eq(acc.result), slots.write_flags.eq(acc.flags),
        ]
        m.d.sync += [self.result.eq(acc.result), self.flags.eq(acc.flags)]
        return m


def main(argv=None):
    dpu = PRESETS["dpu"]
    parser = argparse.ArgumentParser(prog="loop_fmax", description=__doc__.splitlines()[0])
    parser.add_argument("--acc-stages", type=int, default=dpu.acc_stages)
    parser.add_argument("--prep-stages", type=int, default=dpu.prep_stages)
    parser.add_argument("--build-dir", default="build/loop_fmax")
    args = parser.parse_args(argv)
    config = dpu.replace(acc_stages=args.acc_stages, prep_stages=args.prep_stages)
    result = flow.place_and_route("ecp5", AccumulateLoop(config), "loop", args.build_dir, 200.0,
                                  "45k")
    print(f"Accumulate loop, acc_stages {config.acc_stages}, prep_stages {config.prep_stages}: "
          f"{result['fmax']:.1f} MHz, {result['total']['LUT4']} LUT4, "
          f"{result['total']['flip-flops']} FF (log: {args.build_dir})")


if __name__ == "__main__":
    main()
