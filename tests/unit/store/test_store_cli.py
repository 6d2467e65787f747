"""``phonehome store add`` and ``phonehome diff`` as a lab runs them: the newer build's endpoint and identifier
named and a non-zero status, from folders and from the store; bad input exits 4; and a run indexed as it ends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.cli import main
from phonehome.store.db import Store
from phonehome.store.hook import STORE_ENV, index_finished
from tests.unit.policy import captures
from tests.unit.store.folders import batch_folder, checkin_in_tls, handset_folder


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two batches of two handsets: the clean build, then one that adds the 2019 self-registration."""
    parent = tmp_path_factory.mktemp("results")
    old = batch_folder(
        parent, "run-20261206-010000-0001", [captures.clean_packets(), captures.clean_packets()]
    )
    new = batch_folder(parent, "run-20261206-020000-0002", [captures.clean_packets(), None])
    return old, new


def phonehome(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_diff_of_two_batch_folders_names_what_the_newer_build_added(
    builds: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = builds
    status, out, _ = phonehome(capsys, "diff", str(old), str(new), "--gate")
    assert status == exits.FAIL
    assert "+ endpoint zzhc.vnet.cn:9999/tcp" in out
    assert "+ sends imei to zzhc.vnet.cn:9999/tcp" in out
    assert out.splitlines()[-1].startswith("REGRESSION")


def test_the_older_against_the_newer_is_no_regression(
    builds: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = builds
    status, out, _ = phonehome(capsys, "diff", str(new), str(old), "--gate")
    assert status == exits.PASS, out
    assert "- endpoint zzhc.vnet.cn:9999/tcp" in out


def test_diff_of_batches_in_the_store_as_json(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = builds
    store = str(tmp_path / "store.sqlite")
    status, out, _ = phonehome(capsys, "store", "add", str(old), str(new), "--store", store)
    assert status == exits.PASS, out
    assert "4 runs" in out
    status, out, _ = phonehome(capsys, "store", "batches", "--store", store, "--format", "json")
    assert {b["batch"]: b["runs"] for b in json.loads(out)} == {old.name: 2, new.name: 2}
    status, out, _ = phonehome(
        capsys,
        "diff",
        f"batch:{old.name}",
        f"batch:{new.name}",
        "--store",
        store,
        "--gate",
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert status == doc["status"] == exits.FAIL
    changes = doc["phases"]["setup-wizard"]
    assert "zzhc.vnet.cn" in {e["name"] for e in changes["endpoints_new"]}
    assert {"imei", "iccid", "wifi_mac"} <= {s["identifier"] for s in changes["identifiers_new"]}
    assert {v["assertion"] for v in doc["verdicts"] if v["regression"]} >= {"identifier-recipients"}


def test_the_diff_from_the_store_is_the_diff_from_the_folders(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = builds
    store = str(tmp_path / "store.sqlite")
    phonehome(capsys, "store", "add", str(old), str(new), "--store", store)
    _, folders, _ = phonehome(capsys, "diff", str(old), str(new), "--format", "json")
    _, stored, _ = phonehome(
        capsys, "diff", f"batch:{old.name}", f"batch:{new.name}", "--store", store, "--format", "json"
    )
    a, b = json.loads(folders), json.loads(stored)
    assert (a["phases"], a["verdicts"], a["reasons"] != []) == (
        b["phases"],
        b["verdicts"],
        b["reasons"] != [],
    )


@pytest.mark.parametrize(
    "side",
    ["missing-folder", "batch:nope", "run:nope", "empty-folder"],
)
def test_a_side_that_cannot_be_read_is_bad_input(
    builds: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    old, _ = builds
    store = tmp_path / "store.sqlite"
    Store.open(str(store)).close()
    (tmp_path / "empty-folder").mkdir()
    given = str(tmp_path / side) if "folder" in side else side
    status, _, err = phonehome(capsys, "diff", str(old), given, "--store", str(store))
    assert status == exits.BAD_INPUT
    assert err.startswith("phonehome diff: ")


def test_a_store_query_without_a_store_is_bad_input_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = phonehome(capsys, "diff", "batch:a", "batch:b", "--results", str(tmp_path / "r"))
    assert status == exits.BAD_INPUT
    assert "no store at" in err
    assert not (tmp_path / "r").exists()


def test_store_add_refuses_a_folder_changed_since_it_was_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = handset_folder(tmp_path / "r")
    evaluation = folder / "evaluation.json"
    evaluation.write_text(evaluation.read_text().replace('"FAIL"', '"PASS"'))
    store = str(tmp_path / "store.sqlite")
    status, _, err = phonehome(capsys, "store", "add", str(folder), "--store", store)
    assert status == exits.BAD_INPUT
    assert "not what the run sealed" in err
    with Store.open(store) as opened:
        assert opened.batches() == []


def test_a_folder_claiming_a_stored_runs_id_cannot_rewrite_it_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crafted folder, sealed and consistent, that reuses a failed run's id must not turn the history the
    regression gate compares against into a PASS; the same folder indexed again is no change."""
    from phonehome.report import bundle

    store = str(tmp_path / "store.sqlite")
    failed = handset_folder(tmp_path / "r")
    assert phonehome(capsys, "store", "add", str(failed), "--store", store)[0] == exits.PASS
    assert phonehome(capsys, "store", "add", str(failed), "--store", store)[0] == exits.PASS  # idempotent
    with Store.open(store) as opened:
        (run,) = opened.runs()
    assert run.result == "FAIL"
    crafted = handset_folder(tmp_path / "crafted", captures.clean_packets())
    for name in ("run.json", "evaluation.json"):
        data = json.loads((crafted / name).read_text())
        data["run_id"] = run.run_id
        (crafted / name).write_text(json.dumps(data))
    bundle.seal(crafted)
    status, _, err = phonehome(capsys, "store", "add", str(crafted), "--store", store)
    assert status == exits.BAD_INPUT
    assert f"run {run.run_id} is stored already from {failed}" in err
    assert "--replace" in err
    with Store.open(store) as opened:
        assert [(r.folder, r.result) for r in opened.runs()] == [(str(failed), "FAIL")]
    status, _, _ = phonehome(capsys, "store", "add", str(crafted), "--store", store, "--replace")
    assert status == exits.PASS
    with Store.open(store) as opened:
        assert [(r.folder, r.result) for r in opened.runs()] == [(str(crafted), "INCONCLUSIVE")]  # not FAIL


def test_store_add_of_something_that_is_not_results_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = phonehome(capsys, "store", "add", str(tmp_path), "--store", str(tmp_path / "s.sqlite"))
    assert status == exits.BAD_INPUT
    assert "neither a handset's results folder nor a batch" in err


def test_a_finished_batch_is_indexed_in_the_results_parents_store(
    builds: tuple[Path, Path], tmp_path: Path
) -> None:
    old, _ = builds
    copy = tmp_path / "results" / old.name
    shutil.copytree(old, copy)
    assert index_finished([copy], results_parent=tmp_path / "results") is None
    with Store.open(str(tmp_path / "results" / "phonehome.sqlite")) as store:
        assert [r.batch for r in store.runs(batch=old.name)] == [old.name, old.name]


def test_a_store_that_fails_costs_the_index_not_the_run(
    builds: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = builds
    monkeypatch.setenv(STORE_ENV, "postgresql://lab@127.0.0.1:1/phonehome")
    why = index_finished([old], results_parent=old.parent)
    assert why is not None
    assert "phonehome store add" in capsys.readouterr().err


def test_deep_diff_names_an_identifier_newly_sent_in_tls_to_a_declared_recipient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = handset_folder(tmp_path / "old", captures.clean_packets())
    packets, keylog = checkin_in_tls()
    new = handset_folder(tmp_path / "new", packets, keylog=keylog)
    status, out, _ = phonehome(capsys, "diff", str(old), str(new))
    assert "sends imei" not in out
    status, out, _ = phonehome(capsys, "diff", str(old), str(new), "--deep")
    assert status == exits.FAIL, out
    assert "+ sends imei to android.googleapis.com:443/tcp" in out
    store = str(tmp_path / "s.sqlite")
    phonehome(capsys, "store", "add", str(old), "--batch", "old", "--store", store)
    phonehome(capsys, "store", "add", str(new), "--batch", "new", "--deep", "--store", store)
    status, out, _ = phonehome(capsys, "diff", "batch:old", "batch:new", "--store", store)
    assert status == exits.FAIL
    assert "+ sends imei to android.googleapis.com:443/tcp" in out
