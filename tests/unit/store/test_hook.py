"""Runs are indexed where their folders are sealed: `phonehome run`'s batch, and a pytest session's own
folder (a child pytest of the real suite and plugin, the bench faked); given --results-dir, it leaves that
to its caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.cli import main
from phonehome.report import folder as results
from phonehome.run import DeviceResult, finish
from phonehome.store.db import Store
from phonehome.store.hook import BATCH_ENV, STORE_ENV, index_finished, use_store
from tests.unit.plugin.fake_suite import ENV, fake, make_suite
from tests.unit.policy import captures
from tests.unit.store.folders import batch_folder

QUICK = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
REPO = Path(__file__).resolve().parents[3]


def test_phonehome_run_indexes_its_batch_when_it_seals_it(tmp_path: Path) -> None:
    run_dir = batch_folder(tmp_path / "results", "run-20261206-050000-0005", [None, captures.clean_packets()])
    outcomes = []
    for entry in json.loads((run_dir / "summary.json").read_text()):
        folder = Path(entry["results"])
        evaluation = json.loads((folder / results.EVALUATION).read_text())
        outcomes.append(DeviceResult(entry["device"], exits.FAIL, folder, evaluation))
    finish(run_dir, outcomes)
    with Store.open(str(tmp_path / "results" / "phonehome.sqlite")) as store:
        runs = store.runs(batch=run_dir.name)
    assert sorted(r.device for r in runs) == ["virtual:nokia-7-plus-2019-0", "virtual:nokia-7-plus-2019-1"]
    assert any(e.name == "zzhc.vnet.cn" for r in runs for e in r.endpoints)


def _pytest(suite: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "--device=virtual:aosp-clean", "-q", *QUICK, *args],
        env={**os.environ, ENV: fake(verdicts={"consent": "FAIL"}), **(env or {})},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_a_pytest_session_indexes_the_folder_it_made(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    store = tmp_path / "elsewhere.sqlite"
    done = _pytest(
        suite, f"--results={tmp_path / 'results'}", env={STORE_ENV: str(store), BATCH_ENV: "nightly"}
    )
    assert done.returncode == 1, done.stdout + done.stderr
    with Store.open(str(store)) as opened:
        (run,) = opened.runs(batch="nightly")
    assert (run.device, run.result, run.verdicts["consent"]) == ("virtual:aosp-clean", "FAIL", "FAIL")


def test_a_pytest_session_given_its_folder_leaves_indexing_to_its_caller(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    done = _pytest(suite, f"--results-dir={tmp_path / 'r' / 'h'}", f"--results={tmp_path / 'r'}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert not (tmp_path / "r" / "phonehome.sqlite").exists()


def test_phonehome_run_refuses_a_store_that_cannot_be_one_before_any_bench(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(STORE_ENV, "")  # (set, so that the test's end removes what the run may set)
    status = main(["run", "--device", "virtual:aosp-clean", "--store", "mysql://lab:secret@db/x"])
    err = capsys.readouterr().err
    assert status == exits.BAD_INPUT
    assert "only postgresql" in err
    assert "secret" not in err
    assert os.environ[STORE_ENV] == ""


def test_phonehome_run_store_and_batch_reach_the_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(STORE_ENV, "")  # (set, so that the test's end removes what use_store sets)
    monkeypatch.setenv(BATCH_ENV, "")
    store = str(tmp_path / "lab.sqlite")
    assert use_store(store, "build-42") is None
    run_dir = batch_folder(tmp_path / "results", "run-20261206-060000-0006", [None])
    assert index_finished([run_dir], results_parent=tmp_path / "results") is None
    with Store.open(store) as opened:
        assert [r.batch for r in opened.runs(batch="build-42")] == ["build-42"]
    assert not (tmp_path / "results" / "phonehome.sqlite").exists()
