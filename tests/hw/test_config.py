import pytest

from mxdpu.hw.config import PRESETS, Config, ConfigError, preset


def test_step_layout_offsets_follow_spec_order():
    cfg = Config(rows=2, cols=3, block=16, lanes=4, depth=5)
    f = cfg.step_fields
    assert f["a"] == {"offset": 0, "width": 2 * 16 * 8}
    assert f["a_scale"] == {"offset": 256, "width": 16}
    assert f["b"] == {"offset": 272, "width": 3 * 16 * 8}
    assert f["b_scale"] == {"offset": 656, "width": 24}
    assert f["a_format"] == {"offset": 680, "width": 3}
    assert f["b_format"] == {"offset": 683, "width": 3}
    assert f["slot"] == {"offset": 686, "width": 3}
    assert f["first"] == {"offset": 689, "width": 1}
    assert f["last"] == {"offset": 690, "width": 1}
    assert cfg.ports["step__payload"] == ("in", 691)


def test_result_layout_offsets_follow_spec_order():
    cfg = Config(rows=2, cols=3, depth=1)
    assert cfg.result_fields == {
        "d": {"offset": 0, "width": 192},
        "flags": {"offset": 192, "width": 24},
        "slot": {"offset": 216, "width": 1},
    }


def test_pack_step_places_element_r_i_at_r_k_plus_i():
    cfg = Config(rows=2, cols=1, block=16, lanes=16, depth=2)
    a = [[0] * 16, [0] * 16]
    a[1][3] = 0xAB
    bits = cfg.pack_step(a, [0, 0], [[0] * 16], [0], 0, 0, slot=1, first=1, last=0)
    assert (bits >> ((1 * 16 + 3) * 8)) & 0xFF == 0xAB
    assert (bits >> cfg.step_fields["slot"]["offset"]) & 1 == 1
    assert (bits >> cfg.step_fields["last"]["offset"]) & 1 == 0


def test_unpack_result_reads_pe_r_c_at_r_cols_plus_c():
    cfg = Config(rows=2, cols=2, depth=4)
    bits = (0x3F800000 << ((1 * 2 + 0) * 32)) | (0b1001 << (128 + (0 * 2 + 1) * 4)) | (3 << 144)
    out = cfg.unpack_result(bits)
    assert out["d"] == [[0, 0], [0x3F800000, 0]]
    assert out["flags"] == [[0, 0b1001], [0, 0]]
    assert out["slot"] == 3


def test_formats_always_include_e4m3_e5m2_in_code_order():
    assert Config(formats=("int8", "e2m1")).formats == ("e4m3", "e5m2", "e2m1", "int8")
    assert Config(formats="e3m2").formats == ("e4m3", "e5m2", "e3m2")


def test_modes_in_code_order_and_mode_field_only_with_several():
    assert Config().modes == ("exact",)
    assert Config(modes="hopper,exact").modes == ("exact", "hopper")
    assert "mode" not in Config(modes=("blackwell",)).step_fields
    cfg = Config(rows=2, cols=3, block=16, lanes=4, depth=5, modes=("exact", "blackwell", "hopper"))
    f = cfg.step_fields
    # SPEC §6: 2 bits right after b_format, the later fields move up by two
    assert f["b_format"] == {"offset": 683, "width": 3}
    assert f["mode"] == {"offset": 686, "width": 2}
    assert f["slot"] == {"offset": 688, "width": 3}
    assert cfg.ports["step__payload"] == ("in", 693)
    assert cfg.manifest()["parameters"]["modes"] == ["exact", "blackwell", "hopper"]
    bits = cfg.pack_step([[0] * 16] * 2, [0, 0], [[0] * 16] * 3, [0] * 3, 0, 0, slot=4, mode=2)
    assert (bits >> 686) & 0b11 == 2
    assert (bits >> 688) & 0b111 == 4


@pytest.mark.parametrize("params, message", [
    (dict(block=24), "Block size must be one of 16, 32, 64, 128, not 24"),
    (dict(lanes=5), "Lanes must divide the block size 32 (1, 2, 4, 8, 16, 32), not 5"),
    (dict(depth=0), "Depth must be an integer from 1 to 256, not 0"),
    (dict(rows=0), "Rows must be an integer from 1 to 16, not 0"),
    (dict(formats=("e4m3", "fp16")), "Format must be one of e4m3, e5m2, e3m2, e2m3, e2m1, int8, hif8, not fp16"),
    (dict(modes=("exact", "volta")), "Modes must be one or more of exact, blackwell, hopper, not 'volta'"),
    (dict(modes=()), "Modes must be one or more of exact, blackwell, hopper, not none"),
])
def test_invalid_parameter_refused_in_one_line(params, message):
    with pytest.raises(ConfigError) as info:
        Config(**params)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_presets_and_overrides():
    assert set(PRESETS) >= {"dpu", "tile2x2", "tile4x4", "deepgemm128"}
    assert PRESETS["dpu"].rows == PRESETS["dpu"].cols == 1
    assert PRESETS["deepgemm128"].block == 128
    assert preset("dpu", depth=2, rows=None).depth == 2
    with pytest.raises(ConfigError, match="Preset must be one of"):
        preset("huge")


def test_cycles_per_step_is_block_over_lanes():
    assert Config(block=128, lanes=32).cycles_per_step == 4


@pytest.mark.parametrize("params, message", [
    (dict(pipe_unpack=3), "Pipe unpack must be 0, 1 or 2, not 3"),
    (dict(pipe_multiply=-1), "Pipe multiply must be an integer from 0 to 3, not -1"),
    (dict(pipe_multiply=4), "Pipe multiply must be an integer from 0 to 3, not 4"),
    (dict(pipe_sum=True), "Pipe sum must be 0 or 1, not True"),
    (dict(acc_stages=13), "Acc stages must be an integer from 0 to 12, not 13"),
    (dict(prep_stages=7), "Prep stages must be an integer from 0 to 6, not 7"),
    (dict(pipe_place=2), "Pipe place must be 0 or 1, not 2"),
    (dict(pipe_tree=6), "Pipe tree must be an integer from 0 to 5, not 6"),
    (dict(sum_slices=0), "Sum slices must be an integer from 1 to 4, not 0"),
    (dict(rows=2, cols=3, block=32, lanes=8, acc_share=4),
     "Acc share must be one of 1, 2, 3 (at most block / lanes = 4 PEs, dividing rows × cols = 6), not 4"),
    (dict(lanes=32, rows=2, acc_share=2),
     "Acc share must be one of 1 (at most block / lanes = 1 PEs, dividing rows × cols = 2), not 2"),
])
def test_invalid_pipeline_setting_refused_in_one_line(params, message):
    with pytest.raises(ConfigError) as info:
        Config(**params)
    assert str(info.value) == message


@pytest.mark.parametrize("stages, prep_stages", [(0, 0), (3, 1), (8, 4), (11, 6)])
def test_accumulate_latency_is_that_of_the_accumulate_stage(stages, prep_stages):
    from amaranth.hdl import Fragment

    from mxdpu.hw.accumulate import Accumulate
    from mxdpu.hw.formats import Grid
    config = Config(acc_stages=stages, prep_stages=prep_stages)
    grid = Grid(config)
    accumulate = Accumulate(sum_width=grid.sum_width, grid_lsb=grid.lsb, stages=stages,
                            prepare_stages=prep_stages)
    Fragment.get(accumulate, None)  # elaborated, as in the tile
    assert (accumulate.prepare_latency, accumulate.loop_latency) \
        == (config.prepare_latency, config.accumulate_latency)


def test_manifest_has_pipeline_settings_latency_and_acc_latency():
    cfg = Config(pipe_unpack=1, acc_stages=3)
    manifest = cfg.manifest("top")
    assert {k: manifest["parameters"][k] for k in ("pipe_unpack", "pipe_multiply", "pipe_sum", "acc_stages")} \
        == {"pipe_unpack": 1, "pipe_multiply": 1, "pipe_sum": 1, "acc_stages": 3}
    # the README's formulas: latency 1 + 1 + (1 + 1) + 0 + 3 + 1, acc_latency ceil((3 + 1) / 1)
    assert (manifest["latency"], manifest["acc_latency"], manifest["cycles_per_step"]) == (8, 4, 1)


def test_shared_accumulate_adds_share_minus_one_to_latency_only():
    cfg = Config(rows=2, cols=2, block=32, lanes=8, acc_stages=8, prep_stages=4)
    shared = cfg.replace(acc_share=4)
    assert shared.manifest()["parameters"]["acc_share"] == 4
    assert shared.share_latency == 3 and shared.latency == cfg.latency + 3
    assert shared.acc_latency == cfg.acc_latency


@pytest.mark.parametrize("name, latency, acc_latency, cycles, step_bits, result_bits", [
    ("dpu", 33, 13, 1, 540, 40), ("tile2x2", 18, 5, 2, 1067, 147), ("tile4x4", 22, 3, 4, 2122, 578),
    ("deepgemm128", 19, 3, 4, 2074, 38)])
def test_preset_figures_are_the_readme_table(name, latency, acc_latency, cycles, step_bits, result_bits):
    config = PRESETS[name]
    assert (config.latency, config.acc_latency, config.cycles_per_step, config.step_layout.size,
            config.result_layout.size) == (latency, acc_latency, cycles, step_bits, result_bits)
    assert config.depth >= config.acc_latency  # a stream rotating over the slots runs at full rate


@pytest.mark.parametrize("params, tree_registers, front_latency", [
    (dict(lanes=32), 0, 2),
    (dict(lanes=32, pipe_tree=1, sum_slices=3, pipe_place=1), 4, 9),
    (dict(lanes=32, pipe_tree=2), 2, 4),
    (dict(lanes=1, pipe_tree=1, sum_slices=2), 0, 3),
])
def test_front_latency_counts_every_front_end_register(params, tree_registers, front_latency):
    config = Config(**params)
    assert config.tree_registers == tree_registers and config.front_latency == front_latency
    assert config.latency == (config.cycles_per_step + config.pipe_unpack + front_latency
                              + config.acc_stages + 1)
