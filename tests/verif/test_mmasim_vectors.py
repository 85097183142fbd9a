"""The committed vendor-mode known answers (verif/vectors/mmasim_modes.jsonl, `d` computed by
MMA-Sim through `mxdpu crosscheck`) through the golden model, without PyTorch."""

from mxdpu.scripts.golden import compute
from mxdpu.verif.kat import MMASIM_KAT, read_kat

ALL_MODE_FORMATS = ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1")


def test_golden_model_gives_mmasims_answers():
    cases = read_kat(MMASIM_KAT)
    answers = compute(cases, ALL_MODE_FORMATS)
    checked = 0
    for case, (d, _) in zip(cases, answers, strict=True):
        assert d == case["d"], case["name"]
        checked += 1
    assert checked == len(cases) >= 300


def test_vectors_cover_both_modes_every_k_and_chained_steps():
    cases = read_kat(MMASIM_KAT)
    modes = {step["mode"] for case in cases for step in case["steps"]}
    assert modes == {"blackwell", "hopper"}
    assert {case["k"] for case in cases} == {16, 32, 64, 128}
    assert max(len(case["steps"]) for case in cases) == 3
    assert all("flags" not in case for case in cases)
