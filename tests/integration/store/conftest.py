"""A throwaway PostgreSQL server per module, for the store's tests against a real one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from phonehome.store.throwaway import Unavailable, throwaway_postgresql


@pytest.fixture(scope="module")
def postgresql() -> Iterator[str]:
    """The URL of a PostgreSQL server started for this module (initdb in a temp folder, the postgres user,
    a Unix socket only), stopped and removed after it. Where none can start the tests skip, saying why;
    in CI (which installs the server through `phonehome doctor --install`) that is an error."""
    try:
        server = throwaway_postgresql()
        url = server.__enter__()
    except Unavailable as exc:
        reason = f"no PostgreSQL server could be started: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(reason)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)
