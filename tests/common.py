"""Configurations and constants that several test files use: one copy of each.

(Module-level values for `parametrize` live here; fixtures live in tests/conftest.py.)
"""

import pytest

from mxdpu.hw.config import FORMAT_CODES, PRESETS, Config

#: every element format the generator knows, in code order (SPEC §1)
ALL_FORMATS = tuple(FORMAT_CODES)
E4M3, E5M2 = FORMAT_CODES["e4m3"], FORMAT_CODES["e5m2"]

#: configurations of the top level (Amaranth simulator in hw/test_top.py; export, lint and
#: Icarus elaboration in sim/test_export.py)
TOP_CONFIGS = {
    "dpu": PRESETS["dpu"],
    "r2c2_k32_depth2": Config(rows=2, cols=2, block=32, lanes=16, depth=2),
    "k128_lanes32": Config(block=128, lanes=32),
    "r1c2_k16_lanes4_depth1": Config(rows=1, cols=2, block=16, lanes=4, depth=1),
}
#: the one of TOP_CONFIGS that `make check` keeps; the others are marked slow
QUICK_TOP_CONFIG = "r1c2_k16_lanes4_depth1"
#: 2×3 PEs, k 16 in one cycle, 2 slots (stimulus and golden-model tests)
TILE_2X3_K16 = Config(rows=2, cols=3, block=16, lanes=16, depth=2)
#: 1×2 PEs, k 16 in two 8-lane cycles, 2 slots: 417-bit steps, 73-bit results (AXIS, FuseSoC)
TILE_1X2_K16 = Config(rows=1, cols=2, block=16, lanes=8, depth=2)


def config_args(config):
    """The options that select exactly `config` on any verb: every generator parameter (a preset
    fills in only what is not given)."""
    return [arg for name, value in config.parameters().items()
            for arg in (f"--{name.replace('_', '-')}", ",".join(value) if isinstance(value, list) else str(value))]


def config_params(configs, quick=(QUICK_TOP_CONFIG,)):
    """parametrize("config") over {id: Config}; every id not in `quick` is marked slow."""
    return pytest.mark.parametrize("config", [
        pytest.param(config, id=name, marks=() if name in quick else pytest.mark.slow)
        for name, config in configs.items()])
