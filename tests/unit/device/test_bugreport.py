"""The bug report step: what bugreportz's output says, and a missing handset as a note, not a crash."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.device.bugreport import BUGREPORT, take_bugreport, zip_path
from phonehome.device.handset import Handset


def test_the_ok_line_names_the_zip_after_begin_and_progress() -> None:
    out = "BEGIN:/data/x/bugreport-a.zip\nPROGRESS:10/100\nPROGRESS:100/100\nOK:/data/x/bugreport-a.zip\n"
    assert zip_path(out) == ("/data/x/bugreport-a.zip", "")


def test_a_fail_line_or_no_ok_line_is_the_reason() -> None:
    assert zip_path("BEGIN:/x\nFAIL:Could not take bugreport: busy\n") == (
        None,
        "Could not take bugreport: busy",
    )
    assert zip_path("/system/bin/sh: bugreportz: not found\n") == (
        None,
        "no OK line (/system/bin/sh: bugreportz: not found)",
    )
    assert zip_path("") == (None, "no OK line (no output)")
    assert zip_path("OK:\n") == (None, "no OK line (OK:)")


def test_no_handset_at_the_end_is_a_note_and_no_file(tmp_path: Path) -> None:
    result = take_bugreport(None, tmp_path, timeout=1)
    assert result.path is None
    assert result.note is not None
    assert "not on ADB" in result.note
    assert not (tmp_path / BUGREPORT).exists()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_bugreportz_output_gives_a_path_or_a_reason(output: str) -> None:
    path, reason = zip_path(output)
    assert (path is None) == bool(reason)
    assert path is None or path.strip()


def test_a_zero_timeout_takes_none_and_says_so(tmp_path: Path) -> None:
    result = take_bugreport(cast("Handset", object()), tmp_path, timeout=0)
    assert result.path is None
    assert result.note == "bugreport: not taken: its timeout is 0"
