"""Test-suite wide fixtures for phonehome's own tests (the plugin serves users' suites)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def shared_dir() -> Path:
    """The project's shared folder: real third-party captures and notes, beside the checkout."""
    return Path(os.environ.get("PHONEHOME_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "captures").is_dir():
        pytest.skip(f"{path}/captures is absent (set PHONEHOME_SHARED to the shared folder); CI has it")
    return path
