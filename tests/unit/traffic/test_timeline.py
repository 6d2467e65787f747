from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.traffic import timeline
from phonehome.traffic.timeline import (
    CONSENT,
    PhaseMarker,
    Timeline,
    TimelineError,
    append_marker,
    load_timeline,
)


def test_markers_round_trip_through_a_jsonl_file_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    append_marker(path, PhaseMarker(20.0, CONSENT, {"accepted": False}))
    append_marker(path, PhaseMarker(10.0, "boot"))
    assert load_timeline(path) == [PhaseMarker(10.0, "boot"), PhaseMarker(20.0, CONSENT, {"accepted": False})]


def test_phase_at_is_the_last_marker_at_or_before_the_time() -> None:
    timeline = Timeline([PhaseMarker(10.0, "boot"), PhaseMarker(20.0, CONSENT)])
    assert timeline.phase_at(9.99) is None
    assert timeline.phase_at(10.0) == "boot"
    assert timeline.phase_at(19.5) == "boot"
    assert timeline.phase_at(20.0) == CONSENT
    assert timeline.first(CONSENT) == PhaseMarker(20.0, CONSENT)
    assert timeline.first("idle") is None


def test_a_broken_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"ts": 1, "phase": "boot"}\n{"phase": "x"}\n')
    with pytest.raises(TimelineError, match=r"timeline.jsonl:2:"):
        load_timeline(path)


# A timeline is hostile input like any other file: one TimelineError line, fast, whatever it holds.


def _error(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "timeline.jsonl"
    path.write_bytes(content)
    with pytest.raises(TimelineError) as info:
        load_timeline(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return message.removeprefix(f"{path}:")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"ts": NaN, "phase": "consent"}', "1: (top level): NaN is not a JSON number"),
        (b'{"ts": -Infinity, "phase": "consent"}', "1: (top level): -Infinity is not a JSON number"),
        (b'{"ts": 1e999, "phase": "consent"}', "1: (top level): the number '1e999' is out of range"),
        (b'{"ts": "5", "phase": "consent"}', "1: ts: must be a number of seconds since the epoch, got '5'"),
        (b'{"ts": true, "phase": "consent"}', "1: ts: must be a number of seconds since the epoch, got True"),
        (b'{"ts": 5, "phase": "consent", "ts": 1}', "1: ts: repeated in one object (write each key once)"),
        (
            b'{"ts": 5, "phase": {"a": 1}}',
            "1: phase: must be a phase name (printable, 1-200 characters), got a JSON",
        ),
        (
            b'{"ts": 5, "phase": "x\\u001b[2J"}',
            "1: phase: must be a phase name (printable, 1-200 characters), got 'x\\x1b[2J'",
        ),
        (
            b'{"ts": ' + b"1" * 5000 + b', "phase": "x"}',
            "1: (top level): an integer of 5000 digits is longer than",
        ),
        (b"[" * 30000 + b"]" * 30000, "1: (top level): nested more than 16 levels deep"),
        (
            b'{"ts": 5, "phase": "x", "d": ' + b"[" * 17 + b"]" * 17 + b"}",
            "1: (top level): nested more than 16",
        ),
        (b"[" * 70000, "1: (top level): longer than 64 KiB (one marker per line)"),
        (b'{"ts": 5, "phase": "x"}\n\xff', "2: (top level): not UTF-8: byte 0xff at offset 24 (write UTF-8)"),
        (b'"ts"', "1: (top level): not a phase marker"),
        (
            b'{"ts": 5, "phase": "x"}\n{"\x1b": 1',
            "2: (top level): not JSON: Invalid control character at column 3",
        ),
    ],
)
def test_hostile_lines_are_one_clear_error(tmp_path: Path, content: bytes, says: str) -> None:
    assert _error(tmp_path, content).startswith(says)


def test_a_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"ts": 1, "phase": "boot", "note": "a\u2028b"}\n', encoding="utf-8")
    assert load_timeline(path) == [PhaseMarker(1.0, "boot", {"note": "a\u2028b"})]


def test_a_timeline_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    content = b'{"ts": 1, "phase": "boot"}\n' * (timeline.MAX_BYTES // 27 + 1)
    assert "larger than 16 MiB, the limit for a timeline" in _error(tmp_path, content)


def test_an_unreadable_timeline_is_a_timeline_error(tmp_path: Path) -> None:
    with pytest.raises(TimelineError, match="cannot read"):
        load_timeline(tmp_path / "missing.jsonl")
    with pytest.raises(TimelineError, match="cannot read"):
        load_timeline(tmp_path)


@pytest.mark.parametrize(
    "detail", ['{"screen": "google_services"}', '{"accepted": "yes"}', '{"accepted": null}']
)
def test_a_consent_marker_without_a_decision_is_bad_input(tmp_path: Path, detail: str) -> None:
    path = tmp_path / "timeline.jsonl"
    body = detail[1:-1]
    path.write_text('{"ts": 1.0, "phase": "boot"}\n{"ts": 2.0, "phase": "consent", ' + body + "}\n")
    with pytest.raises(TimelineError, match=r":2: accepted: a consent marker must say true or false"):
        load_timeline(path)


def test_consent_markers_that_decide_load(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text(
        '{"ts": 2.0, "phase": "consent", "accepted": false}\n{"ts": 3.0, "phase": "consent", "accepted": true}\n'
    )
    assert [m.detail["accepted"] for m in load_timeline(path)] == [False, True]


def test_phase_at_ignores_end_markers_so_a_phase_lasts_until_the_next_begins() -> None:
    timeline = Timeline(
        [
            PhaseMarker(10.0, "boot"),
            PhaseMarker(12.0, "boot", {"end": True}),
            PhaseMarker(15.0, "setup-wizard"),
            PhaseMarker(18.0, "setup-wizard", {"end": True, "consent": "accept-all"}),
        ]
    )
    assert timeline.phase_at(12.0) == "boot"
    assert timeline.phase_at(14.9) == "boot"
    assert timeline.phase_at(18.5) == "setup-wizard"
    assert timeline.first("setup-wizard") == PhaseMarker(15.0, "setup-wizard")
    assert len(timeline.markers) == 4


def test_a_decision_inside_a_phase_stays_the_phase_after_the_enclosing_phase_ends() -> None:
    timeline = Timeline(
        [
            PhaseMarker(10.0, "setup-wizard"),
            PhaseMarker(11.0, CONSENT, {"accepted": True}),
            PhaseMarker(12.0, "setup-wizard", {"end": True}),
        ]
    )
    assert timeline.phase_at(12.5) == CONSENT
    assert Timeline([PhaseMarker(1.0, "idle", {"end": True})]).first("idle") is None
    assert Timeline([PhaseMarker(1.0, "idle", {"end": True})]).phase_at(2.0) is None


def test_an_end_marker_is_only_one_whose_end_is_true() -> None:
    assert PhaseMarker(1.0, "idle", {"end": True}).is_end
    assert not PhaseMarker(1.0, "idle", {"end": "yes"}).is_end
    assert not PhaseMarker(1.0, "idle").is_end
