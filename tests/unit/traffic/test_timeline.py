from __future__ import annotations

from pathlib import Path

import pytest

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
