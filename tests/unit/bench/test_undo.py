"""Removal in reverse, each step on its own (with records that need no privileges)."""

from __future__ import annotations

from pathlib import Path

from phonehome.bench.undo import link_record, netns_record, path_record, undo_all


def test_records_are_removed_newest_first_and_a_failure_does_not_stop_the_rest(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.write_text("x")
    log: list[str] = []
    failures = undo_all([path_record(first), {"kind": "bogus"}, path_record(second)], log.append)
    assert not first.exists()
    assert not second.exists()
    assert failures == log
    assert len(failures) == 1
    assert "unknown undo record kind 'bogus'" in failures[0]


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
