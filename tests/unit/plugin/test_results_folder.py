"""Each session's results folder is its own: unique, claimed exclusively, written whole, owner-only."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.pytest_plugin import DeviceSpec, Run
from phonehome.pytest_session import BadInput
from phonehome.report import folder as results
from tests.unit.plugin.fake_suite import ENV, fake, make_suite

QUICK = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def _run(parent: Path) -> Run:
    return Run(
        DeviceSpec("virtual", "aosp-clean"), bench_file=Path("b.yaml"), results_parent=parent, time_scale=1.0
    )


def test_two_sessions_of_one_handset_in_one_second_get_two_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results.time, "strftime", lambda fmt: "20190301-120000")
    first, second = _run(tmp_path).claim(), _run(tmp_path).claim()
    assert first != second
    assert first.parent == second.parent == tmp_path
    assert first.name.startswith("virtual-aosp-clean-20190301-120000-")


@pytest.mark.parametrize("left", [results.SESSION, results.EVALUATION, results.CAPTURE, results.IDENTITY])
def test_a_folder_holding_a_run_is_refused(tmp_path: Path, left: str) -> None:
    (tmp_path / left).write_text("{}")
    with pytest.raises(BadInput, match=f"already holds a run's results \\({left}\\)"):
        _run(tmp_path / "unused").claim(tmp_path)


def test_a_folder_is_claimed_once(tmp_path: Path) -> None:
    _run(tmp_path).claim(tmp_path / "r")
    with pytest.raises(BadInput):
        _run(tmp_path).claim(tmp_path / "r")


def test_a_given_folder_may_hold_the_callers_log(tmp_path: Path) -> None:
    (tmp_path / "pytest.log").write_text("")
    assert _run(tmp_path / "unused").claim(tmp_path) == tmp_path


def test_files_are_written_whole_and_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = results.write_json(tmp_path / "identity.json", {"imei": ["353867091234562"]})
    assert json.loads(path.read_text()) == {"imei": ["353867091234562"]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["identity.json"]  # no temporary file left


def test_a_full_disk_leaves_neither_a_half_file_nor_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evaluation.json").write_text('{"result": "PASS"}')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        results.write_json(tmp_path / "evaluation.json", {"result": "FAIL"})
    assert json.loads((tmp_path / "evaluation.json").read_text()) == {"result": "PASS"}
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.json"]


def _pytest(suite: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "--device=virtual:aosp-clean", "-q", *QUICK, *args],
        env={**os.environ, ENV: fake()}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_results_dir_names_the_sessions_folder_exactly(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    folder = tmp_path / "exactly-here"
    done = _pytest(suite, f"--results-dir={folder}")
    assert done.returncode == 0, done.stdout
    session = json.loads((folder / results.SESSION).read_text())
    evaluation = json.loads((folder / results.EVALUATION).read_text())
    assert session["state"] == "finished"
    assert session["run_id"] == evaluation["run_id"]
    assert {t["outcome"] for t in session["tests"]} == {"passed"}


def test_results_dir_holding_yesterdays_run_is_a_usage_error_that_touches_nothing(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    folder = tmp_path / "yesterday"
    folder.mkdir()
    (folder / results.SESSION).write_text('{"run_id": "yesterday", "state": "finished"}')
    done = _pytest(suite, f"--results-dir={folder}")
    assert done.returncode == 4  # pytest's usage error
    assert "already holds a run's results" in done.stderr
    assert json.loads((folder / results.SESSION).read_text())["run_id"] == "yesterday"
    assert sorted(p.name for p in folder.iterdir()) == [results.SESSION]
