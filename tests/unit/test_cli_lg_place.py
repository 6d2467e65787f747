"""``phonehome run --lg-place`` and LG_PLACE on the command line: what goes with what, one line each."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome import cli, exits
from phonehome.virtual.testing import free_port

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "run", *args],
        cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_a_place_and_a_device_together_are_a_usage_error(tmp_path: Path) -> None:
    status, lines = _run("--lg-place", "desk-1", "--device", "adb:X", "--results", str(tmp_path))
    assert status == exits.USAGE
    (line,) = lines
    assert "the place lends the handset" in line
    assert "drop --device and --inventory" in line


def test_without_a_device_or_a_place_the_run_says_what_it_needs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LG_PLACE"}
    status, lines = _run("--results", str(tmp_path), env=env)
    assert status == exits.USAGE
    assert lines == ["phonehome run: --device is required (or --lg-place PLACE, or LG_PLACE)"]


def test_lg_place_names_the_place_when_no_device_is_given(tmp_path: Path) -> None:
    pytest.importorskip("labgrid", reason="the labgrid extra: pip install 'phonehome[labgrid]'")
    env = {**os.environ, "LG_PLACE": "desk-7", "LG_COORDINATOR": f"127.0.0.1:{free_port()}"}
    status, lines = _run("--results", str(tmp_path), env=env)
    assert status == exits.NO_VERDICT
    (line,) = lines
    assert line.startswith("phonehome run: --lg-place desk-7: coordinator: ")


def test_lg_place_is_ignored_when_devices_are_named(tmp_path: Path) -> None:
    env = {**os.environ, "LG_PLACE": "desk-7"}
    status, lines = _run("--device", "virtual:aosp-claen", "--results", str(tmp_path), env=env)
    assert status == exits.BAD_INPUT
    assert "aosp-claen" in lines[0]
    assert not any("desk-7" in line for line in lines)


def test_without_labgrid_installed_the_run_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "labgrid" else real(name, *a)
    )
    assert cli.main(["run", "--lg-place", "desk-1", "--results", str(tmp_path)]) == exits.USAGE
    assert "pip install 'phonehome[labgrid]'" in capsys.readouterr().err
