"""``--device`` with pytest-xdist is refused in one line: no worker may judge a handset on another's bench."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.plugin.fake_suite import ENV, fake, make_suite

QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *QUICK, *args],
        cwd=cwd, env={**os.environ, ENV: fake()}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("split", [["-n", "2"], ["-n", "auto"], ["--dist", "load", "--tx", "popen"]])
def test_device_with_xdist_is_refused_in_one_clear_line(tmp_path: Path, split: list[str]) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(tmp_path, str(suite), "--device=virtual:aosp-clean", f"--results={tmp_path / 'r'}", *split)
    assert done.returncode == 4, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert "pytest-xdist" in errors[0]
    assert "phonehome run --device A --device B" in errors[0]
    assert not (tmp_path / "r").exists()  # refused before any folder, bench or handset


def test_xdist_with_no_workers_is_one_session(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(
        tmp_path, str(suite), "--device=virtual:aosp-clean", f"--results={tmp_path / 'r'}", "-n", "0"
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_xdist_without_a_device_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    done = _pytest(tmp_path, "-n", "2", "-p", "no:phonehome")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _pytest(tmp_path, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
