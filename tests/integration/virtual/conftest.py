"""A private real adb server for the virtual handset's integration tests.

Each adb binary under test (the one adbutils ships; Debian's adb 29 when it is
installed) gets its own server on a free port, never 5037, with its own HOME
(so its own adbkey), killed at the end. adbutils is pointed at the same
server and binary through ANDROID_ADB_SERVER_PORT and ADBUTILS_ADB_PATH, so
that a restart it triggers cannot land on the default port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import adbutils
import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen, bundled_adb, emulator_ports_in_use

DEBIAN_ADB = Path("/usr/lib/android-sdk/platform-tools/adb")
Connected = tuple[VirtualHandset, adbutils.AdbDevice]


def _binaries() -> list[Path]:
    return [bundled_adb(), *([DEBIAN_ADB] if DEBIAN_ADB.is_file() else [])]


def _name(binary: Path) -> str:
    return "debian-adb-29" if binary == DEBIAN_ADB else "adbutils-adb"


def client(server: PrivateAdbServer) -> adbutils.AdbClient:
    return adbutils.AdbClient(host="127.0.0.1", port=server.port, socket_timeout=30)


@pytest.fixture(scope="session", params=_binaries(), ids=_name)
def adb_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateAdbServer]:
    busy = emulator_ports_in_use()
    if busy:
        pytest.skip(f"something listens on 127.0.0.1:{busy}; an adb server would probe it as an emulator")
    server = PrivateAdbServer(
        request.param, tmp_path_factory.mktemp(f"adb-home-{_name(request.param)}")
    ).start()
    saved = {k: os.environ.get(k) for k in ("ANDROID_ADB_SERVER_PORT", "ADBUTILS_ADB_PATH")}
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(server.port)
    os.environ["ADBUTILS_ADB_PATH"] = str(server.binary)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def connected(adb_server: PrivateAdbServer) -> Iterator[Connected]:
    """A booted Nokia handset connected to the private adb server (shared by a module's tests)."""
    handset = VirtualHandset(
        "nokia-7-plus-2019", seed="integration", screen=RecordingScreen(), time_scale=0.1
    )
    handset.start()
    handset.wait_boot_completed(10)
    try:
        adb_server.connect(handset.adb_serial)
        yield handset, client(adb_server).device(handset.adb_serial)
    finally:
        adb_server.run("disconnect", handset.adb_serial)
        handset.stop()
