"""The results store: every run's verdicts, findings, endpoints, identifiers sent and files' SHA-256,
indexed in SQLite (``results/phonehome.sqlite``, nothing to set up) or PostgreSQL (``--store
postgresql://...``) with one schema and one migration tool; and `diff`, the regression gate between
two runs or batches.

Sits above `phonehome.report` (it reads results folders with the report's readers); nothing
below imports it. SQLAlchemy and alembic are imported by `db` only, so reading folders and
diffing them need neither.
"""

from __future__ import annotations

from phonehome.store.diff import Diff, Side, diff
from phonehome.store.records import Endpoint, RunRecord, Sent, read_results, read_run

__all__ = ["Diff", "Endpoint", "RunRecord", "Sent", "Side", "diff", "read_results", "read_run"]
