"""Fixtures: the recorded phones of ``recordings/`` as shells the device layer can read."""

from __future__ import annotations

import pytest

from phonehome.device.testing import RecordedShell
from tests.unit.device.phones import recorded


@pytest.fixture
def nokia9() -> RecordedShell:
    return recorded("nokia-7-plus-android9")


@pytest.fixture
def pixel14() -> RecordedShell:
    return recorded("pixel-7-android14")


@pytest.fixture
def galaxy44() -> RecordedShell:
    return recorded("galaxy-s4-android4.4")
