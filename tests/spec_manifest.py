"""SPEC §4's manifest shape and SPEC §3's payload packing, written out from the SPEC (not read from
hw.config), for the tests of everything that writes a manifest."""

import math

#: SPEC §4: the top-level keys and the parameters every manifest has (more may be added).
TOP_KEYS = {"top", "parameters", "ports", "step_fields", "result_fields", "latency", "acc_latency",
            "cycles_per_step"}
PARAMETER_KEYS = {"rows", "cols", "block", "lanes", "depth", "formats"}


def packed(fields):
    """{name: {offset, width}} of (name, width) pairs packed from bit 0 upward in order."""
    table, offset = {}, 0
    for name, width in fields:
        table[name] = {"offset": offset, "width": width}
        offset += width
    return table


def check_manifest(manifest, rows, cols, block, depth):
    """Assert the SPEC §4 keys and the SPEC §3 field offsets for an R × C, k = block, depth tile."""
    assert TOP_KEYS <= manifest.keys(), TOP_KEYS - manifest.keys()
    assert PARAMETER_KEYS <= manifest["parameters"].keys(), PARAMETER_KEYS - manifest["parameters"].keys()
    assert {key: manifest["parameters"][key] for key in ("rows", "cols", "block", "depth")} == \
        {"rows": rows, "cols": cols, "block": block, "depth": depth}
    for name, port in manifest["ports"].items():
        assert set(port) == {"direction", "width"}, name
        assert port["direction"] in ("in", "out") and port["width"] >= 1, name
    slot = max(1, math.ceil(math.log2(depth)))
    assert manifest["step_fields"] == packed([
        ("a", rows * block * 8), ("a_scale", rows * 8), ("b", cols * block * 8), ("b_scale", cols * 8),
        ("a_format", 3), ("b_format", 3), ("slot", slot), ("first", 1), ("last", 1)])
    assert manifest["result_fields"] == packed([("d", rows * cols * 32), ("flags", rows * cols * 4),
                                                ("slot", slot)])
    for port, fields in (("step__payload", "step_fields"), ("result__payload", "result_fields")):
        last = max(manifest[fields].values(), key=lambda f: f["offset"])
        assert manifest["ports"][port]["width"] == last["offset"] + last["width"], port
