"""The store's tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL.

The migrations (``phonehome/store/migrations/versions``) build exactly these tables; a test
compares the two, so a column added here without a migration fails. Names and ports are
strings and integers from hostile traffic, kept as the records cut them (`records.MAX_TEXT`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("batch", String(200), nullable=False),
    Column("device", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("result", String(32), nullable=True),  # NULL: the run ended without verdicts
    Column("reason", Text, nullable=False),
    Column("started", Float, nullable=True),
    Column("indexed", Float, nullable=False),
    Column("phonehome", String(64), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("scenario", Text, nullable=False),
    Column("doubts", Text, nullable=False),  # a JSON list of strings
)
Index("ix_runs_batch", runs.c.batch)


def _run_id(*, primary_key: bool = False) -> Column[str]:
    """The run a row belongs to: deleted with it."""
    return Column(
        "run_id",
        String(200),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


verdicts = Table(
    "verdicts",
    metadata,
    _run_id(primary_key=True),
    Column("assertion", String(64), primary_key=True),
    Column("result", String(32), nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_id(),
    Column("rule", String(64), nullable=False),
    Column("assertion", String(64), nullable=False),
    Column("identifier", String(64), nullable=True),
    Column("form", String(128), nullable=True),
    Column("decode", Text, nullable=True),
    Column("phase", String(64), nullable=True),
    Column("name", Text, nullable=True),
    Column("port", Integer, nullable=True),
    Column("proto", String(16), nullable=True),
)
Index("ix_findings_run", findings.c.run_id)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_id(),
    Column("phase", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("proto", String(16), nullable=False),
    Column("name_source", String(16), nullable=False),
    Column("address", String(64), nullable=False),
    Column("transport", String(16), nullable=False),
    Column("role", String(8), nullable=False),
)
Index("ix_endpoints_run", endpoints.c.run_id)

sent = Table(
    "sent",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_id(),
    Column("phase", String(64), nullable=False),
    Column("identifier", String(200), nullable=False),
    Column("name", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("proto", String(16), nullable=False),
    Column("form", String(128), nullable=False),
    Column("decode", Text, nullable=False),
    Column("rule", String(64), nullable=False),
)
Index("ix_sent_run", sent.c.run_id)

artifacts = Table(
    "artifacts",
    metadata,
    _run_id(primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)
Index("ix_artifacts_sha256", artifacts.c.sha256)

CHILDREN = (verdicts, findings, endpoints, sent, artifacts)
"""The tables that hang off a run, deleted with it (also where the database enforces no foreign keys)."""
