"""State files, slots and staleness across processes, in a private run folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome.bench import runtime
from phonehome.bench.records import PathCreated
from phonehome.bench.runtime import ProcessId, claim, host_lock, read_states


@pytest.fixture(autouse=True)
def private_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHONEHOME_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("PHONEHOME_RUN_DIRS", str(tmp_path / "registry"))
    return tmp_path / "run"


def dead_process() -> ProcessId:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    found = ProcessId.of(proc.pid)
    assert found is not None
    proc.wait()
    return found


def test_each_claim_gets_its_own_slot_and_run_id() -> None:
    me = ProcessId.of(os.getpid())
    with host_lock():
        first = claim("a", me, {})
        second = claim("b", me, {})
    assert (first.slot, second.slot) == (0, 1)
    assert first.run_id != second.run_id
    assert {s.run_id for s in read_states()} == {first.run_id, second.run_id}


def test_a_freed_slot_is_reused() -> None:
    with host_lock():
        first = claim("a", None, {})
        claim("b", None, {})
    first.path.unlink()
    with host_lock():
        assert claim("c", None, {}).slot == 0


def test_a_bench_whose_owner_died_is_stale_and_a_detached_one_is_not() -> None:
    with host_lock():
        orphan = claim("a", dead_process(), {})
        detached = claim("b", None, {})
        mine = claim("c", ProcessId.of(os.getpid()), {})
    assert orphan.stale()
    assert not detached.stale()
    assert not mine.stale()


def test_a_reused_pid_is_not_mistaken_for_the_owner() -> None:
    me = ProcessId.of(os.getpid())
    assert me is not None
    assert me.alive()
    assert not ProcessId(me.pid, me.start + 1).alive()


def test_all_slots_taken_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "SLOTS", 1)
    with host_lock():
        claim("a", None, {})
        with pytest.raises(RuntimeError, match="phonehome bench clean"):
            claim("b", None, {})


def test_state_files_are_replaced_whole(private_run_dir: Path) -> None:
    with host_lock():
        state = claim("a", None, {})
    state.undo.append(PathCreated("/nonexistent"))
    state.save()
    assert read_states()[0].undo == [PathCreated("/nonexistent")]
    assert [p.name for p in (private_run_dir / "benches").iterdir()] == [state.path.name]


def test_a_state_file_of_another_version_keeps_its_bench_from_being_swept(private_run_dir: Path) -> None:
    with host_lock():
        mine = claim("a", None, {})
    theirs = private_run_dir / "benches" / "abc123.json"
    theirs.write_text(
        '{"name": "b", "run_id": "abc123", "slot": 7, "owner": null,'
        ' "undo": [{"kind": "tls-service", "pid": 1}]}'
    )
    assert [s.run_id for s in read_states()] == [mine.run_id]
    assert runtime.unreadable_run_ids() == {"abc123"}


def test_a_port_without_an_access_point_is_written_as_older_versions_read_it() -> None:
    from phonehome.bench.topology import Port

    port = Port("wlan", "veth", "lan", "ph1-wlan", "ph1-br0", "172.16.0.1", "172.16.0.0/24")
    assert "ssid" not in port.to_dict()
    assert Port.from_dict(port.to_dict()) == port
    wifi = Port("ap", "hostapd", "lan", "wlx1", "ph1-br0", "172.16.0.1", "172.16.0.0/24", ssid="lab")
    assert Port.from_dict(wifi.to_dict()).ssid == "lab"


def test_benches_of_another_run_folder_are_seen_and_never_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Namespaces and slots are host-wide: a test's own run folder must not make another's bench a leftover."""
    from phonehome.bench import cleanup

    me = ProcessId.of(os.getpid())
    with host_lock():
        theirs = claim("theirs", None, {})  # detached: even --all leaves it to its own folder
    monkeypatch.setenv("PHONEHOME_RUN_DIR", str(tmp_path / "other-run"))
    with host_lock():
        mine = claim("mine", me, {})
    assert mine.slot != theirs.slot
    assert {s.run_id for s in read_states()} == {theirs.run_id, mine.run_id}
    assert [s.run_id for s in read_states(everywhere=False)] == [mine.run_id]
    swept: list[set[str]] = []
    monkeypatch.setattr(cleanup, "_sweep", lambda live, log: swept.append(live) or [])
    monkeypatch.setattr(cleanup.owned, "clean", lambda log, everything: [])
    cleanup.clean_stale(log=print, everything=True)
    assert swept == [{theirs.run_id, mine.run_id}]
    assert theirs.path.exists()


def test_a_run_folder_that_went_is_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with host_lock():
        claim("a", None, {})
    monkeypatch.setenv("PHONEHOME_RUN_DIR", str(tmp_path / "other-run"))
    with host_lock():
        pass
    assert len(runtime.run_dirs()) == 2
    shutil.rmtree(tmp_path / "run")
    assert runtime.run_dirs() == [tmp_path / "other-run"]
    assert len(list((tmp_path / "registry").glob("*.dir"))) == 1
