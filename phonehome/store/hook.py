"""Indexing a run as it finishes: called where its results folder is sealed, never in its way.

``phonehome run`` indexes its whole batch after sealing it; a pytest session that made its own
results folder indexes that one. The store is ``$PHONEHOME_STORE`` (a URL or a SQLite file) or
``RESULTS/phonehome.sqlite``; the batch ``$PHONEHOME_BATCH`` or the folder's own; with
``$PHONEHOME_STORE_DEEP=1`` every identifier sent is indexed (`records.read_run`'s ``deep``). A store that
cannot be written costs the index, never the run: the verdicts are in the folder already, and
``phonehome store add`` indexes it later.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

STORE_ENV = "PHONEHOME_STORE"
BATCH_ENV = "PHONEHOME_BATCH"
DEEP_ENV = "PHONEHOME_STORE_DEEP"
"""``1``: index every identifier sent, to declared recipients too (one more analysis of each capture)."""


def index_finished(folders: Sequence[Path], *, results_parent: Path) -> str | None:
    """Indexes ``folders`` (handsets' or batches'); None, or why the store was not updated."""
    try:
        from phonehome.store.db import Store, store_url  # noqa: PLC0415  (sqlalchemy: only now)
        from phonehome.store.records import read_results  # noqa: PLC0415

        url = store_url(os.environ.get(STORE_ENV) or None, results_parent)
        batch = os.environ.get(BATCH_ENV) or None
        deep = os.environ.get(DEEP_ENV, "") not in ("", "0")
        records = [r for folder in folders for r in read_results(folder, batch, deep=deep)]
        with Store.open(url) as store:
            store.add(records)
    except Exception as exc:  # the run's verdict stands whatever the store does
        why = f"the results store was not updated ({type(exc).__name__}: {str(exc)[:300]}); "
        why += f"index later with: phonehome store add {' '.join(map(str, folders))}"
        print(f"phonehome: {why}", file=sys.stderr)
        return why
    return None


def use_store(url: str | None, batch: str | None) -> str | None:
    """``phonehome run --store URL --batch NAME``: what the runs index into, for this process and its
    children (`index_finished` reads them); None, or why the URL cannot be a store."""
    if url:
        from phonehome.store.db import StoreError, store_url  # noqa: PLC0415

        try:
            store_url(url)
        except StoreError as exc:
            return str(exc)
        os.environ[STORE_ENV] = url
    if batch:
        os.environ[BATCH_ENV] = batch
    return None
