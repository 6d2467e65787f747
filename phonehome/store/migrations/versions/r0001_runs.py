"""The first schema: runs, their verdicts, findings, endpoints, identifiers sent and artifacts.

Written out column by column (not from `phonehome.store.schema`): a migration is frozen history,
the schema module is the present; a test checks the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RUN_ID = 200


def _run_id(primary: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "run_id",
        sa.String(RUN_ID),
        sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=primary,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(RUN_ID), primary_key=True),
        sa.Column("batch", sa.String(200), nullable=False),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("started", sa.Float, nullable=True),
        sa.Column("indexed", sa.Float, nullable=False),
        sa.Column("phonehome", sa.String(64), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("doubts", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_batch", "runs", ["batch"])
    op.create_table(
        "verdicts",
        _run_id(primary=True),
        sa.Column("assertion", sa.String(64), primary_key=True),
        sa.Column("result", sa.String(32), nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("assertion", sa.String(64), nullable=False),
        sa.Column("identifier", sa.String(64), nullable=True),
        sa.Column("form", sa.String(128), nullable=True),
        sa.Column("decode", sa.Text, nullable=True),
        sa.Column("phase", sa.String(64), nullable=True),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("proto", sa.String(16), nullable=True),
    )
    op.create_index("ix_findings_run", "findings", ["run_id"])
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("phase", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("proto", sa.String(16), nullable=False),
        sa.Column("name_source", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
    )
    op.create_index("ix_endpoints_run", "endpoints", ["run_id"])
    op.create_table(
        "sent",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("phase", sa.String(64), nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("proto", sa.String(16), nullable=False),
        sa.Column("form", sa.String(128), nullable=False),
        sa.Column("decode", sa.Text, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
    )
    op.create_index("ix_sent_run", "sent", ["run_id"])
    op.create_table(
        "artifacts",
        _run_id(primary=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_artifacts_sha256", "artifacts", ["sha256"])


def downgrade() -> None:
    for table in ("artifacts", "sent", "endpoints", "findings", "verdicts", "runs"):
        op.drop_table(table)
