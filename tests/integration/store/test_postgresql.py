"""The store against a real PostgreSQL server that the test starts itself (Debian's package, a throwaway
cluster in a temp folder, dropping to the postgres user as root); skipped with the reason when none starts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.store.db import Store
from phonehome.store.records import RunRecord, read_run
from tests.unit.policy import captures
from tests.unit.store.folders import batch_folder, handset_folder
from tests.unit.store.test_db import check_store
from tests.unit.store.test_store_cli import phonehome


def test_the_postgresql_store_keeps_runs_as_they_were_read(postgresql: str, tmp_path: Path) -> None:
    with Store.open(postgresql) as store:
        check_store(store, handset_folder(tmp_path))


def test_handsets_finishing_together_index_into_one_postgresql_store(postgresql: str, tmp_path: Path) -> None:
    record = read_run(handset_folder(tmp_path))
    errors: list[BaseException] = []

    def index(i: int) -> None:
        try:
            with Store.open(postgresql) as store:  # each migrates first: the advisory lock serialises them
                store.add([RunRecord(**{**record.__dict__, "run_id": f"pg{i}", "batch": "together"})])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=index, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(postgresql) as store:
        assert len(store.runs(batch="together")) == 4


def test_diff_of_two_batches_stored_in_postgresql_names_the_newer_builds_endpoint_and_identifier(
    postgresql: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = captures.clean_packets()
    old = batch_folder(tmp_path, "run-20261206-030000-0003", [clean, clean, clean])
    new = batch_folder(tmp_path, "run-20261206-040000-0004", [clean, None, clean])
    status, out, err = phonehome(capsys, "store", "add", str(old), str(new), "--store", postgresql)
    assert status == exits.PASS, err
    assert "6 runs" in out
    assert "postgresql+psycopg://phonehome@/postgres" in out
    status, out, _ = phonehome(
        capsys,
        "diff",
        f"batch:{old.name}",
        f"batch:{new.name}",
        "--store",
        postgresql,
        "--gate",
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert status == exits.FAIL
    changes = doc["phases"]["setup-wizard"]
    (zzhc,) = [e for e in changes["endpoints_new"] if e["name"] == "zzhc.vnet.cn"]
    assert zzhc["devices"] == ["virtual:nokia-7-plus-2019-1"]
    assert "imei" in {s["identifier"] for s in changes["identifiers_new"]}
    status, _, _ = phonehome(
        capsys, "diff", f"batch:{new.name}", f"batch:{old.name}", "--store", postgresql, "--gate"
    )
    assert status == exits.PASS
