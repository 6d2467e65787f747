"""Removal in reverse, each step on its own (with records that need no privileges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench import undo
from phonehome.bench.records import (
    PathCreated,
    ProcessStarted,
    UnknownRecord,
    record_from_dict,
    record_to_dict,
)
from phonehome.bench.undo import link_record, netns_record, path_record, undo_all


def test_records_are_removed_newest_first_and_a_failure_does_not_stop_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, stuck = tmp_path / "first", tmp_path / "second", tmp_path / "stuck"
    first.mkdir()
    second.write_text("x")
    removed: list[str] = []
    remove = undo._remove_path

    def remove_or_fail(record: PathCreated) -> None:
        if record.path == str(stuck):
            raise OSError("device busy")
        removed.append(record.path)
        remove(record)

    monkeypatch.setattr(undo, "_remove_path", remove_or_fail)
    log: list[str] = []
    failures = undo_all([path_record(first), path_record(stuck), path_record(second)], log.append)
    assert not first.exists()
    assert not second.exists()
    assert removed == [str(second), str(first)]
    assert failures == log
    assert len(failures) == 1
    assert "device busy" in failures[0]


def test_a_record_of_a_kind_this_version_does_not_know_is_an_error_not_skipped() -> None:
    with pytest.raises(UnknownRecord, match="unknown undo record kind 'bogus'"):
        record_from_dict({"kind": "bogus"})
    with pytest.raises(UnknownRecord, match="expected"):
        record_from_dict({"kind": "path", "path": "/x", "mode": 1})


def test_records_round_trip_through_their_json_form() -> None:
    for record in (PathCreated("/etc/netns/x"), ProcessStarted("hostapd:wifi", 12, 345)):
        assert record_from_dict(record_to_dict(record)) == record


def test_links_inside_a_namespace_that_goes_too_are_left_to_go_with_it() -> None:
    # The namespace does not exist, so removing it is a no-op; the link inside must not even be tried.
    log: list[str] = []
    assert (
        undo_all(
            [netns_record("phonehome-000000-none"), link_record("phonehome-000000-none", "x")], log.append
        )
        == []
    )


def test_removing_twice_is_harmless(tmp_path: Path) -> None:
    target = tmp_path / "gone"
    records = [path_record(target)]
    assert undo_all(records, print) == []
    assert undo_all(records, print) == []
