"""``phonehome differential``: a folder that cannot be read is bad input in one line, never a verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome import exits
from phonehome.cli import main


def test_a_folder_that_is_no_run_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    assert main(["differential", str(tmp_path / "a"), str(tmp_path / "b")]) == exits.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "run.json: missing" in err[0]


def test_an_unreadable_batch_summary_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "summary.json").write_text("{not json")
    assert main(["differential", str(tmp_path)]) == exits.BAD_INPUT
    assert "summary.json: unreadable" in capsys.readouterr().err
