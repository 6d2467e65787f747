"""The store's alembic migrations: ``env.py`` runs them on the connection `phonehome.store.db` hands it."""
