"""The results store: every run's verdicts, findings, endpoints, identifiers sent and files' SHA-256,
indexed in SQLite (``results/phonehome.sqlite``, nothing to set up) or PostgreSQL (``--store
postgresql://...``) with one schema and one migration tool; and `diff`, the regression gate between
two runs or batches.

Sits above `phonehome.report` (it reads results folders with the report's readers); nothing
below imports it. The surface: `records.read_results` / `records.read_run` (a folder as
`records.RunRecord`), `db.Store` (open, add, runs, batches), `diff.diff` (two `diff.Side`),
`throwaway.throwaway_postgresql` (a server for tests). Nothing is imported here, so that
``phonehome --help`` does not load the traffic package or SQLAlchemy; `db` alone imports
SQLAlchemy and alembic.
"""
