"""Fixtures every test folder uses."""

import pytest


@pytest.fixture
def error_line(capsys):
    """Reads the one line a refused command wrote to standard error (no traceback, no usage)."""
    def read():
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err and "usage:" not in err, err
        return lines[0]
    return read
