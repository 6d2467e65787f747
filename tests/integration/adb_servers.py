"""A private real adb server for integration tests: its own port and HOME, never 5037, stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.virtual.testing import PrivateAdbServer, bundled_adb, emulator_ports_in_use


def private_server(home: Path, binary: Path | None = None) -> Iterator[PrivateAdbServer]:
    """Yields a started server (``binary``: adbutils' bundled adb unless given); skips, saying why, when
    something listens where an adb server probes for emulators (it would take it for one)."""
    busy = emulator_ports_in_use()
    if busy:
        pytest.skip(f"something listens on 127.0.0.1:{busy}; an adb server would probe it as an emulator")
    server = PrivateAdbServer(binary or bundled_adb(), home).start()
    try:
        yield server
    finally:
        server.stop()
