"""The results store: runs indexed in SQLite (a file, nothing to set up) or PostgreSQL (several hosts).

`Store.open` migrates the database to the current schema first (alembic, the same revisions
for both), under a lock so that two runs finishing at once do not both create the tables:
PostgreSQL's advisory lock, ``flock`` on a SQLite file. A run is written in one
transaction, replacing what the store held of the same run id, so indexing a folder twice
leaves it once. SQLite runs in WAL mode with a busy timeout: parallel handsets each index
their run without "database is locked".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from phonehome.store import schema
from phonehome.store.records import Artifact, Endpoint, RunRecord, Sent

DEFAULT_NAME = "phonehome.sqlite"
"""The default store: this file in the results parent folder (``results/phonehome.sqlite``)."""
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0001"
"""The schema revision this phonehome writes (the newest in ``migrations/versions``)."""
BUSY_TIMEOUT_MS = 30_000
CHUNK = 500
FINDING_KEYS = ("rule", "assertion", "identifier", "form", "decode", "phase", "name", "port", "proto")
"""Run ids per ``IN (...)``: SQLite binds at most a few hundred parameters in older releases."""
LOCK_KEY = 0x70686F6E65  # "phone": the advisory lock id that serialises migrations on PostgreSQL


class StoreError(Exception):
    """A store that cannot be used: a malformed URL, a server that does not answer, a newer schema."""


def store_url(given: str | None, results_parent: Path = Path("results")) -> URL:
    """``given`` as a SQLAlchemy URL: ``postgresql://...`` (through psycopg 3), ``sqlite:///FILE``, or
    a plain path (a SQLite file); None: ``results_parent/phonehome.sqlite``."""
    if not given:
        return make_url(f"sqlite:///{(results_parent / DEFAULT_NAME).resolve()}")
    if "://" not in given:
        return make_url(f"sqlite:///{Path(given).expanduser().resolve()}")
    try:
        url = make_url(given)
    except ArgumentError as exc:
        raise StoreError(f"--store {given!r}: not a database URL ({exc})") from exc
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite":
        return url
    raise StoreError(f"--store {shown(url)}: only postgresql://... and sqlite:///FILE are stores")


def shown(url: URL) -> str:
    """A URL to print: its password hidden."""
    return url.render_as_string(hide_password=True)


class Store:
    """An open store: add runs, read them back by batch or id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: URL | str | None = None, *, results_parent: Path = Path("results")) -> Store:
        """Opens (creating a SQLite file, owner-only) and migrates the store at ``url``."""
        url = url if isinstance(url, URL) else store_url(url, results_parent)
        lock: Path | None = None
        if url.drivername == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # it says which devices sent what: owner only
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            lock = path  # flock: independent of SQLite's own POSIX locks on the file, and no file beside it
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        store = cls(engine)
        try:
            store.migrate(lock)
        except Exception as exc:
            engine.dispose()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"store {shown(url)}: {type(exc).__name__}: {str(exc).strip()[:300]}") from exc
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------
    def migrate(self, lock: Path | None = None) -> None:
        """Brings the schema to `HEAD`; refuses a store that a newer phonehome migrated further."""
        if self._at_head():
            return  # every run of a batch opens the store: alembic's machinery costs half a second each
        from alembic import command  # noqa: PLC0415  (alembic is only needed here)
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with _file_lock(lock), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            current = self.revision(conn)
            if current not in (None, HEAD) and not _known(current):
                raise StoreError(
                    f"the store's schema is revision {current}, newer than this phonehome's {HEAD}"
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _at_head(self) -> bool:
        """Whether the schema is at `HEAD` already (a missing table, or anything odd: not known to be)."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except Exception:  # no table yet, or not readable: the full migration decides
            return False
        return [row[0] for row in rows] == [HEAD]

    @staticmethod
    def revision(conn: Connection) -> str | None:
        from alembic.migration import MigrationContext  # noqa: PLC0415

        return MigrationContext.configure(conn).get_current_revision()

    # -- writing --------------------------------------------------------------------------------
    @staticmethod
    def _refuse_rewrites(conn: Connection, latest: dict[str, RunRecord]) -> None:
        """`StoreError` naming the first stored run that ``latest`` would rewrite (another folder, other files)."""
        ids = list(latest)
        hashes: dict[str, dict[str, str]] = {}
        for run_id, path, sha256 in _children(conn, schema.artifacts, ("path", "sha256"), ids):
            hashes.setdefault(run_id, {})[path] = sha256
        for run_id, folder in _children(conn, schema.runs, ("folder",), ids):
            record = latest[run_id]
            new = {a.path: a.sha256 for a in record.artifacts}
            old = hashes.get(run_id, {})
            changed = sorted(p for p in old.keys() & new.keys() if old[p] != new[p])
            if folder != record.folder or changed or old.keys() != new.keys():
                what = (
                    f"from {folder}"
                    if folder != record.folder
                    else f"with other files ({', '.join(changed[:3]) or 'a different set'})"
                )
                raise StoreError(
                    f"run {run_id} is stored already {what}: indexing {record.folder} would rewrite it "
                    "(phonehome store add --replace, if that folder is the run's true record)"
                )

    def add(self, records: Iterable[RunRecord], *, replace: bool = False) -> int:
        """Indexes ``records`` in one transaction; how many.

        A run already stored is read again only from its own folder with the same sealed files (indexing
        is idempotent); another folder claiming its id, or changed files, would rewrite the history the
        regression gate compares against, so that takes ``replace`` (`StoreError` otherwise). The rows of
        every run go in together, one statement per table (a round trip per table, not per run: a batch
        of 100 runs is a few dozen statements on PostgreSQL)."""
        latest = {r.run_id: r for r in records}  # the same run twice: the last reading wins
        now = time.time()
        runs = [
            {"run_id": r.run_id, "batch": r.batch, "device": r.device, "folder": r.folder, "result": r.result,
             "reason": r.reason, "started": r.started, "indexed": now, "phonehome": r.phonehome,
             "manifest_sha256": r.manifest_sha256, "scenario": r.scenario, "doubts": json.dumps(r.doubts)}
            for r in latest.values()
        ]  # fmt: skip
        rows: list[tuple[Any, list[dict[str, Any]]]] = [
            (schema.runs, runs),
            (
                schema.verdicts,
                [
                    {"run_id": r.run_id, "assertion": a, "result": v}
                    for r in latest.values()
                    for a, v in r.verdicts.items()
                ],
            ),
            (schema.findings, [{**f, "run_id": r.run_id} for r in latest.values() for f in r.findings]),
            (schema.endpoints, [_fields(e, r.run_id) for r in latest.values() for e in set(r.endpoints)]),
            (schema.sent, [_fields(s, r.run_id) for r in latest.values() for s in set(r.sent)]),
            (
                schema.artifacts,
                [
                    _fields(a, r.run_id)
                    for r in latest.values()
                    for a in {a.path: a for a in r.artifacts}.values()
                ],
            ),
        ]
        ids = list(latest)
        with self.engine.begin() as conn:
            if not replace:
                self._refuse_rewrites(conn, latest)
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                for table in (*schema.CHILDREN, schema.runs):
                    conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
            for table, values in rows:
                if values:
                    conn.execute(insert(table), values)
        return len(latest)

    # -- reading --------------------------------------------------------------------------------
    def batches(self) -> list[tuple[str, int]]:
        """Every batch and how many runs it holds, newest indexed last."""
        from sqlalchemy import func  # noqa: PLC0415

        query = (
            select(schema.runs.c.batch, func.count(), func.max(schema.runs.c.indexed))
            .group_by(schema.runs.c.batch)
            .order_by(func.max(schema.runs.c.indexed))
        )
        with self.engine.connect() as conn:
            return [(str(b), int(n)) for b, n, _ in conn.execute(query)]

    def runs(self, *, batch: str | None = None, run_id: str | None = None) -> list[RunRecord]:
        """The runs of ``batch``, or the run ``run_id``, as they were indexed."""
        query = select(schema.runs)
        if batch is not None:
            query = query.where(schema.runs.c.batch == batch)
        if run_id is not None:
            query = query.where(schema.runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            found = {
                row.run_id: _record(row._mapping)
                for row in conn.execute(query.order_by(schema.runs.c.run_id))
            }
            if not found:
                return []
            ids = list(found)
            for run, assertion, result in _children(conn, schema.verdicts, ("assertion", "result"), ids):
                found[run].verdicts[assertion] = result
            keys = FINDING_KEYS
            for run, *values in _children(conn, schema.findings, keys, ids):
                found[run].findings.append(dict(zip(keys, values, strict=True)))
            for kind, table, into in (
                (Endpoint, schema.endpoints, "endpoints"),
                (Sent, schema.sent, "sent"),
                (Artifact, schema.artifacts, "artifacts"),
            ):
                for run, *values in _children(conn, table, kind.__slots__, ids):
                    getattr(found[run], into).append(kind(*values))
        return list(found.values())


def _children(conn: Connection, table: Any, names: Sequence[str], ids: list[str]) -> Iterator[Sequence[Any]]:
    """(run_id, *names) of ``table``'s rows for ``ids``, in the order they were written, `CHUNK` ids at
    a time (plain tuples: a batch is tens of thousands of rows)."""
    order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
    columns = [table.c.run_id, *(table.c[name] for name in names)]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        yield from conn.execute(select(*columns).where(table.c.run_id.in_(chunk)).order_by(*order))


def _fields(record: Endpoint | Sent | Artifact, run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, **{name: getattr(record, name) for name in record.__slots__}}


def _record(row: Any) -> RunRecord:
    try:
        doubts = [str(d) for d in json.loads(row["doubts"])]
    except (ValueError, TypeError):
        doubts = ["the store's record of this run's doubts is unreadable"]
    return RunRecord(
        row["run_id"], row["batch"], device=row["device"], folder=row["folder"], result=row["result"],
        reason=row["reason"], started=row["started"], phonehome=row["phonehome"],
        manifest_sha256=row["manifest_sha256"], scenario=row["scenario"], doubts=doubts,
    )  # fmt: skip


def _known(revision: str) -> bool:
    from alembic.config import Config  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for a revision it does not know
        return False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextlib.contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on ``path`` (created owner-only); nothing when None."""
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
