"""A private real adb server for the scenario engine's integration tests (never port 5037).

The handsets are virtual ones on loopback; the engine reaches them only as
adb serials through the device layer, as it would a phone on USB.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from phonehome.device import AdbServer
from phonehome.virtual.testing import PrivateAdbServer, bundled_adb, emulator_ports_in_use


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    busy = emulator_ports_in_use()
    if busy:
        pytest.skip(f"something listens on 127.0.0.1:{busy}; an adb server would probe it as an emulator")
    server = PrivateAdbServer(bundled_adb(), tmp_path_factory.mktemp("scenario-adb-home")).start()
    try:
        yield server
    finally:
        server.stop()


def server_of(private: PrivateAdbServer) -> AdbServer:
    return AdbServer(host="127.0.0.1", port=private.port, binary=private.binary)
