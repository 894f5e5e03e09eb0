"""The package type-checks and lints clean (settings in pyproject.toml): a new mypy error or
ruff finding fails the suite, and so CI."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_mypy_finds_no_error_in_the_package():
    proc = _run("mypy", "--no-incremental")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_finds_nothing_in_the_repository():
    proc = _run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_package_ships_its_py_typed_marker():
    assert (ROOT / "geventio" / "py.typed").is_file()
    setup = (ROOT / "setup.py").read_text()
    assert '"py.typed"' in setup
