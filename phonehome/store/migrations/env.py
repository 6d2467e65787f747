"""alembic's entry point: migrates the connection the store opened (never a URL of its own)."""

from __future__ import annotations

from alembic import context

from phonehome.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
