"""The store on SQLite: its migrations build exactly the schema, a run goes in and comes back the same,
indexing twice keeps it once, and a store it cannot use is refused with a clear error.
(The same tests against a real PostgreSQL: tests/integration/store/test_postgresql.py.)"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from phonehome.store.db import HEAD, Store, StoreError, store_url
from phonehome.store.records import RunRecord, read_run
from phonehome.store.schema import metadata
from tests.unit.policy import captures
from tests.unit.store.folders import handset_folder


@pytest.fixture(scope="module")
def nokia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return handset_folder(tmp_path_factory.mktemp("nokia"))


def check_store(store: Store, folder: Path) -> None:
    """What every store must do (SQLite here, PostgreSQL in the integration test)."""
    with store.engine.connect() as conn:
        assert Store.revision(conn) == HEAD
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    record = read_run(folder, "b1")
    assert store.add([record]) == 1
    assert store.add([record]) == 1  # again: replaced, not doubled
    (back,) = store.runs(batch="b1")
    assert back.run_id == record.run_id
    assert (back.result, back.verdicts, back.doubts) == (record.result, record.verdicts, record.doubts)
    assert sorted(back.endpoints) == sorted(record.endpoints)
    assert sorted(back.sent) == sorted(record.sent)
    assert sorted(back.artifacts, key=lambda a: a.path) == sorted(record.artifacts, key=lambda a: a.path)
    assert back.findings == record.findings
    assert store.runs(run_id=record.run_id)[0].device == record.device
    assert store.runs(batch="nope") == []
    assert ("b1", 1) in store.batches()
    lost = RunRecord("lost-1", "b1", device="virtual:lost", reason="the bench did not come up")
    store.add([lost])
    assert {r.run_id: r.result for r in store.runs(batch="b1")} == {
        record.run_id: record.result,
        "lost-1": None,
    }


def test_the_sqlite_store_keeps_runs_as_they_were_read(tmp_path: Path, nokia: Path) -> None:
    with Store.open(str(tmp_path / "s.sqlite")) as store:
        check_store(store, nokia)


def test_the_default_store_is_a_file_in_the_results_folder_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = store_url(None, tmp_path / "results")
    assert url.database == str((tmp_path / "results" / "phonehome.sqlite").resolve())
    Store.open(url).close()
    mode = stat.S_IMODE(os.stat(url.database).st_mode)
    assert mode == 0o600
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["phonehome.sqlite"]


def test_the_stored_file_holds_no_identifier_value(tmp_path: Path, nokia: Path) -> None:
    with Store.open(str(tmp_path / "s.sqlite")) as store:
        store.add([read_run(nokia)])
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for value in (captures.IMEI, captures.ICCID, captures.MAC, "460031234567890"):
        assert value.encode() not in data


def test_migrations_build_the_schema_and_downgrade_removes_it(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from phonehome.store.db import MIGRATIONS

    store = Store.open(str(tmp_path / "s.sqlite"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.migrate()
    assert {"runs", "verdicts", "findings", "endpoints", "sent", "artifacts"} <= set(
        inspect(store.engine).get_table_names()
    )
    store.close()


def test_a_store_at_head_is_opened_without_running_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run of a batch opens the store; alembic's machinery is for a store that needs it."""
    from alembic import command

    path = tmp_path / "s.sqlite"
    Store.open(str(path)).close()

    def upgrade(*_: object) -> None:
        raise RuntimeError("alembic ran")

    monkeypatch.setattr(command, "upgrade", upgrade)
    with Store.open(str(path)) as store, store.engine.connect() as conn:
        assert Store.revision(conn) == HEAD
    with pytest.raises(StoreError, match="alembic ran"):  # and a fresh one still migrates
        Store.open(str(tmp_path / "fresh.sqlite"))


def test_a_store_migrated_by_a_newer_phonehome_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store.open(str(path)) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer than this phonehome"):
        Store.open(str(path))


@pytest.mark.parametrize(
    ("given", "why"),
    [("mysql://u@h/db", "only postgresql"), ("postgresql://u@127.0.0.1:1/db", "OperationalError")],
)
def test_a_store_that_cannot_be_used_is_a_store_error(given: str, why: str) -> None:
    with pytest.raises(StoreError, match=why):
        Store.open(given)


def test_a_postgresql_url_is_read_through_psycopg_and_its_password_never_shown() -> None:
    url = store_url("postgresql://lab:secret@db.example/phonehome")
    assert url.drivername == "postgresql+psycopg"
    with pytest.raises(StoreError) as caught:
        store_url("oracle://lab:secret@db.example/x")
    assert "secret" not in str(caught.value)


def test_handsets_finishing_together_index_into_one_sqlite_file(tmp_path: Path, nokia: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    record = read_run(nokia)
    errors: list[BaseException] = []

    def index(i: int) -> None:
        try:
            copy = RunRecord(**{**record.__dict__, "run_id": f"r{i}", "batch": "together"})
            with Store.open(path) as store:
                store.add([copy])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=index, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(path) as store:
        assert len(store.runs(batch="together")) == 6
