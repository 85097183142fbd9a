"""The installed package: `pip install <repo>` into a clean venv outside the repository gives a
working `mxdpu` command that needs no repository files (the known answers travel with it) and
puts nothing with a generic name (`hw`, `sim`, ...) into the environment."""

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_outside_the_repo_runs_generate_and_golden(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, mxdpu = env_dir / "bin" / "python", env_dir / "bin" / "mxdpu"
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT)], check=True, cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*argv):
        return subprocess.run([str(a) for a in argv], cwd=work, capture_output=True, text=True)

    generated = run(mxdpu, "generate", "--preset", "dpu", "-o", "x")
    assert generated.returncode == 0, generated.stderr
    assert (work / "x" / "mxdpu.v").is_file() and (work / "x" / "mxdpu.json").is_file()
    kat = run(python, "-c", "from mxdpu.verif.kat import PUBLIC_KAT; print(PUBLIC_KAT)").stdout.strip()
    assert not Path(kat).is_relative_to(ROOT), kat
    checked = run(mxdpu, "golden", "--check", kat)
    assert checked.returncode == 0 and "0 mismatches" in checked.stdout, checked.stdout + checked.stderr
    for generic in ("hw", "sim", "verif", "scripts"):
        assert run(python, "-c", f"import {generic}").returncode != 0, f"`import {generic}` works"
