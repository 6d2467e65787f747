"""The device layer against the virtual handset, through a private real adb server.

The server runs on its own port and HOME (never 5037), started with the adb
binary phonehome pins (adbutils' bundled one); `any_adb_server` adds
Debian's adb 29 where it is installed, since labs run both. The handsets are
plain adb serials to the device layer: it never imports the virtual package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from phonehome.device import AdbServer, Handset
from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen, bundled_adb
from tests.integration.adb_servers import private_server

DEBIAN_ADB = Path("/usr/lib/android-sdk/platform-tools/adb")
Pair = tuple[VirtualHandset, Handset]


def _private_server(binary: Path, home: Path) -> Iterator[PrivateAdbServer]:
    yield from private_server(home, binary)


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from _private_server(bundled_adb(), tmp_path_factory.mktemp("device-adb-home"))


def _binaries() -> list[Path]:
    return [bundled_adb(), *([DEBIAN_ADB] if DEBIAN_ADB.is_file() else [])]


@pytest.fixture(
    scope="session",
    params=_binaries(),
    ids=lambda p: "debian-adb-29" if p == DEBIAN_ADB else "adbutils-adb",
)
def any_adb_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateAdbServer]:
    if request.param == bundled_adb():
        yield request.getfixturevalue("adb_server")
        return
    yield from _private_server(request.param, tmp_path_factory.mktemp("device-adb29-home"))


def server_of(private: PrivateAdbServer) -> AdbServer:
    return AdbServer(host="127.0.0.1", port=private.port, binary=private.binary)


@contextmanager
def connected(private: PrivateAdbServer, profile: str, **options: Any) -> Iterator[Pair]:
    """A booted virtual handset and a `Handset` connected to it over the private server."""
    options.setdefault("screen", RecordingScreen())
    options.setdefault("time_scale", 0.1)
    with VirtualHandset(profile, seed=options.pop("seed", "device-it"), **options) as virtual:
        virtual.wait_boot_completed(10)
        try:
            yield virtual, Handset.connect(virtual.adb_serial, server_of(private), timeout=15)
        finally:
            private.run("disconnect", virtual.adb_serial)


@pytest.fixture(scope="module")
def nokia(adb_server: PrivateAdbServer) -> Iterator[Pair]:
    """Android 9: the shell may read IMEI, IMSI, ICCID."""
    with connected(adb_server, "nokia-7-plus-2019") as pair:
        yield pair


@pytest.fixture(scope="module")
def aosp(adb_server: PrivateAdbServer) -> Iterator[Pair]:
    """Android 14: the shell gets a SecurityException for device identifiers."""
    with connected(adb_server, "aosp-clean") as pair:
        yield pair
