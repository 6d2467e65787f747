"""The throwaway PostgreSQL says what is missing instead of failing obscurely (its real start is tested in
tests/integration/store)."""

from __future__ import annotations

import pytest

from phonehome.store import throwaway


def test_no_server_binaries_is_unavailable_with_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(throwaway.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(throwaway.glob, "glob", lambda pattern: [])
    with pytest.raises(throwaway.Unavailable, match="postgresql"), throwaway.throwaway_postgresql():
        pass


def test_the_newest_debian_server_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throwaway.shutil, "which", lambda *a, **k: None)
    found = [
        "/usr/lib/postgresql/9.6/bin/initdb",
        "/usr/lib/postgresql/17/bin/initdb",
        "/usr/lib/postgresql/15/bin/initdb",
    ]
    monkeypatch.setattr(throwaway.glob, "glob", lambda pattern: found)
    assert str(throwaway.server_binaries()) == "/usr/lib/postgresql/17/bin"
