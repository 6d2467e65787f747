"""The batch's terminal summary says how a handset was judged: the run's notes (identity, build) under its verdicts."""

from __future__ import annotations

import json
from pathlib import Path

from phonehome import exits
from phonehome.report.batch import Outcome, lines
from phonehome.report.html import render_run
from phonehome.report.view import RunView
from tests.unit.report.runs import handset_folder

CONFIRMED = (
    "identity: ADB runs only after setup on this build, so through its first boot the handset was known by its "
    "inventory entry (PT-0001); confirmed over ADB after setup (ro.serialno PT-0001)"
)


def _outcome(folder: Path) -> Outcome:
    evaluation = {"result": "PASS", "verdicts": [{"assertion": "transport", "result": "PASS"}]}
    return Outcome("adb:PT-0001", exits.PASS, "PASS", "", folder, evaluation)


def test_the_terminal_shows_the_runs_notes_under_its_verdicts(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"notes": [CONFIRMED, "build: x (user/release-keys)"]}))
    shown = lines([_outcome(tmp_path)])
    assert f"  note: {CONFIRMED}" in shown
    assert "  note: build: x (user/release-keys)" in shown
    assert shown.index(f"  note: {CONFIRMED}") < shown.index(f"  results: {tmp_path}")


def test_a_run_without_notes_or_record_shows_none(tmp_path: Path) -> None:
    assert not [line for line in lines([_outcome(tmp_path)]) if "note:" in line]
    (tmp_path / "run.json").write_text('{"notes": "not a list"}')
    assert not [line for line in lines([_outcome(tmp_path)]) if "note:" in line]


def test_a_note_cannot_draw_on_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"notes": ["identity: \x1b[2J\u202egone"]}))
    (note,) = [line for line in lines([_outcome(tmp_path)]) if "note:" in line]
    assert "\x1b" not in note
    assert "\u202e" not in note


def test_the_report_shows_where_the_identity_came_from(tmp_path: Path) -> None:
    folder = handset_folder(tmp_path)
    record = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    (folder / "run.json").write_text(json.dumps({**record, "notes": [CONFIRMED, "build: not shown here"]}))
    page = render_run(RunView.load(folder))
    identity = page[page.index('id="identity"') :]
    assert "confirmed over ADB after setup (ro.serialno PT-0001)" in identity
    assert "build: not shown here" not in page


def test_a_long_reason_is_cut_but_never_the_log_path(tmp_path: Path) -> None:
    why = (
        "<Handset tcp:127.0.0.1:5554> reset to first boot (fastboot-wipe): the bootloader is locked "
        + "x" * 700
    )
    (line,) = [
        line
        for line in lines([Outcome("adb:PT-0001", exits.NO_VERDICT, None, why, tmp_path, None)])
        if "NO VERDICT" in line
    ]
    assert line.startswith(
        "adb:PT-0001: NO VERDICT: bench or device error: <Handset tcp:127.0.0.1:5554> reset"
    )
    assert line.endswith(f" (log: {tmp_path / 'pytest.log'})")
