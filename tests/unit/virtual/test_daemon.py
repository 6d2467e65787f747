from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.virtual import daemon


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(daemon.RUN_DIR_ENV, str(tmp_path))
    return tmp_path


def _record(run_dir: Path, name: str, pid: int) -> Path:
    path = run_dir / f"{name}.json"
    fields = {"name": name, "pid": pid, "profile": "aosp-clean", "adb_serial": "127.0.0.1:1", "serial": "S",
              "netns": None, "started_at": 0.0, "log": str(run_dir / f"{name}.log")}  # fmt: skip
    path.write_text(json.dumps(fields))
    return path


def test_a_record_of_a_dead_process_is_stale_and_stop_removes_it(run_dir: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    path = _record(run_dir, "gone", int(dead.stdout))
    (instance,) = daemon.list_instances()
    assert instance.name == "gone"
    assert not instance.alive
    assert daemon.stop_instance("gone")
    assert not path.exists()
    assert not daemon.stop_instance("gone")


def test_a_live_record_is_alive(run_dir: Path) -> None:
    _record(run_dir, "me", os.getpid())
    assert daemon.list_instances()[0].alive


def test_unreadable_records_are_skipped(run_dir: Path) -> None:
    (run_dir / "junk.json").write_text("{not json")
    assert daemon.list_instances() == []


def test_start_refuses_a_missing_namespace_before_spawning(run_dir: Path) -> None:
    with pytest.raises(daemon.DaemonError, match="'ph-nope' does not exist"):
        daemon.start_detached("aosp-clean", netns="ph-nope")
    assert list(run_dir.iterdir()) == []
