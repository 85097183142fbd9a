"""scripts/cli.py and scripts/options.py: one-line errors for bad options and unusable output paths,
given before any work starts."""

import pytest

from mxdpu.scripts.cli import main


@pytest.mark.parametrize("argv, message", [
    (["generate", "--rows", "x", "-o", "out"], "mxdpu generate: error: argument --rows: must be an integer, not 'x'"),
    (["synth", "--freq", "fast"], "mxdpu synth: error: argument --freq: must be a number, not 'fast'"),
    (["synth", "--preset", "huge"], "mxdpu synth: error: argument --preset: invalid choice: 'huge' (choose from "
                                    "'deepgemm128', 'dpu', 'tile2x2', 'tile4x4')"),
    (["bogus"], "mxdpu: error: argument VERB: invalid choice: 'bogus'"),
])
def test_bad_option_is_one_line_naming_option_value_and_what_is_allowed(error_line, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert error_line().startswith(message)


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("")
    return path


@pytest.mark.parametrize("verb, option, where, message", [
    ("synth", "--json", "under_file", "cannot create its folder"),
    ("synth", "--json", "a_folder", "cannot write the file"),
    ("synth", "--build-dir", "under_file", "cannot create the folder"),
    ("report", "--output", "under_file", "cannot create the folder"),
    ("regress", "--junit", "under_file", "cannot create its folder"),
    ("fidelity", "--output", "under_file", "cannot create the folder"),
    ("crosscheck", "--vectors", "a_folder", "cannot write the file"),
])
def test_unusable_output_path_is_refused_before_any_work(monkeypatch, error_line, a_file, verb, option, where, message):
    # any tool run would be work done before the refusal: make it fail the test
    import mxdpu.scripts.flow as flow
    import mxdpu.sim.regress as regress
    monkeypatch.setattr(flow, "run_tool", lambda *a, **k: pytest.fail("a tool ran before the path check"))
    monkeypatch.setattr(regress, "prepare", lambda *a, **k: pytest.fail("a design was built before the path check"))
    path = a_file / "x" if where == "under_file" else a_file.parent
    assert main([verb, option, str(path)]) == 2
    line = error_line()
    assert line.startswith(f"mxdpu {verb}: error: {option} {path}: {message}"), line


def test_missing_junit_folder_is_created_before_the_run(tmp_path):
    from mxdpu.scripts.options import output_file
    path = output_file(tmp_path / "new" / "deeper" / "r.xml", "--junit")
    assert path.parent.is_dir() and not path.exists()
