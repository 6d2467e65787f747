"""`phonehome report RESULTS`: an archive judged again from its files alone, its reports rendered again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.cli import main
from phonehome.report import bundle
from phonehome.report import folder as results
from phonehome.report.view import REPORT
from phonehome.run import DeviceResult, finish
from tests.unit.report.runs import handset_folder

NOKIA = "virtual:nokia-7-plus-2019"


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """A `phonehome run` folder of two handsets (one with no verdict), finished as the run finishes it."""
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    nokia = handset_folder(run_dir)
    evaluation = json.loads((nokia / results.EVALUATION).read_text())
    broken = run_dir / "virtual-aosp-clean-x"
    broken.mkdir()
    outcomes = [
        DeviceResult(NOKIA, exits.FAIL, nokia, evaluation),
        DeviceResult("virtual:aosp-clean", exits.NO_VERDICT, broken, None, "dnsmasq did not start"),
    ]
    summary = [{"device": o.device, "status": o.status, "result": o.result, "reason": o.reason or None,
                "results": str(o.results), "verdicts": {}} for o in outcomes]  # fmt: skip
    results.write_json(run_dir / "summary.json", summary)
    finish(run_dir, outcomes)
    return run_dir


def test_a_handset_folder_is_judged_again_and_its_report_comes_out_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = handset_folder(tmp_path)
    before = (folder / REPORT).read_bytes()
    (folder / REPORT).unlink()
    assert main(["report", str(folder)]) == exits.FAIL
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"report: {folder / REPORT}"
    assert f"{NOKIA}: FAIL (reproduces the archived verdicts)" in out
    assert (folder / REPORT).read_bytes() == before
    assert bundle.verify(folder) == (len(json.loads((folder / bundle.EVIDENCE).read_text())["files"]), [])


def test_a_batch_is_judged_again_and_both_reports_come_out_byte_for_byte(batch: Path) -> None:
    nokia = next(batch.glob("virtual-nokia-*"))
    handset_before, batch_before = (nokia / REPORT).read_bytes(), (batch / REPORT).read_bytes()
    assert bundle.verify(batch)[1] == []
    assert main(["report", str(batch)]) == exits.BAD_INPUT  # the handset without a verdict cannot be judged
    assert (nokia / REPORT).read_bytes() == handset_before
    assert (batch / REPORT).read_bytes() == batch_before
    assert bundle.verify(batch)[1] == []


def test_the_batch_page_is_the_matrix_of_handsets_and_assertions(batch: Path) -> None:
    page = (batch / REPORT).read_text()
    assert '<table class="matrix">' in page
    assert 'class="cell FAIL"' in page
    assert "dnsmasq did not start" in page
    nokia = next(batch.glob("virtual-nokia-*"))
    assert f'href="{nokia.name}/report.html"' in page


def test_verdicts_that_are_not_reproduced_render_nothing_and_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = handset_folder(tmp_path)
    doc = json.loads((folder / results.EVALUATION).read_text())
    doc["verdicts"][0]["result"] = "PASS"
    (folder / results.EVALUATION).write_text(json.dumps(doc))
    (folder / REPORT).unlink()
    assert main(["report", str(folder)]) == exits.INTERNAL_ERROR
    assert "differ from the archived evaluation.json" in capsys.readouterr().out
    assert not (folder / REPORT).exists()


def test_a_moved_archive_renders_into_another_folder_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = handset_folder(tmp_path / "a")
    moved = tmp_path / "lab-b" / "received"
    shutil.copytree(folder, moved)
    out = tmp_path / "out"
    assert main(["report", str(moved), "--output", str(out), "--format", "json"]) == exits.FAIL
    doc = json.loads(capsys.readouterr().out)
    assert doc["report"] == str(out / REPORT)
    assert doc["handsets"][0]["reproduced"] is True
    assert (out / REPORT).read_bytes() == (folder / REPORT).read_bytes()
