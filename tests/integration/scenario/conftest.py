"""A private real adb server for the scenario engine's integration tests (never port 5037).

The handsets are virtual ones on loopback; the engine reaches them only as
adb serials through the device layer, as it would a phone on USB.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from phonehome.device import AdbServer
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.adb_servers import private_server


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from private_server(tmp_path_factory.mktemp("scenario-adb-home"))


def server_of(private: PrivateAdbServer) -> AdbServer:
    return AdbServer(host="127.0.0.1", port=private.port, binary=private.binary)
