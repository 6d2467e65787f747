"""Which adb binary, which port, and what ``adb devices -l`` says."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.device import adb
from phonehome.device.adb import AdbServer, DeviceEntry, parse_devices_l


def test_devices_l_lines_of_adb_36() -> None:
    text = (
        "0123ABC                device usb:1-2 product:panther model:Pixel_7 device:panther transport_id:3\n"
        "127.0.0.1:40123        offline transport_id:7\n"
        "R58M41ABCDE            unauthorized usb:1-3 transport_id:9\n"
        "2a2b3c4d               no permissions (missing udev rules? user is in the plugdev group); see "
        "[http://developer.android.com/tools/device.html] usb:1-4 transport_id:11\n"
    )
    assert parse_devices_l(text) == [
        DeviceEntry("0123ABC", "device", 3, "Pixel_7", "panther", "panther"),
        DeviceEntry("127.0.0.1:40123", "offline", 7),
        DeviceEntry("R58M41ABCDE", "unauthorized", 9),
        DeviceEntry("2a2b3c4d", "no permissions (missing udev rules? user is in the plugdev group); see", 11),
    ]


def test_an_empty_listing() -> None:
    assert parse_devices_l("") == []


def test_the_users_adb_path_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(adb.ADB_PATH_ENV, "/opt/platform-tools/adb")
    assert adb.adb_binary() == Path("/opt/platform-tools/adb")
    assert adb.pin_adb_binary() == Path("/opt/platform-tools/adb")


def test_without_a_choice_adbutils_bundled_adb_is_pinned_not_the_first_on_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(adb.ADB_PATH_ENV, raising=False)
    monkeypatch.setenv("PATH", "/usr/lib/android-sdk/platform-tools:/usr/bin")
    bundled = adb.bundled_adb()
    assert bundled is not None, "adbutils' wheel ships adb on Linux"
    assert adb.pin_adb_binary() == bundled
    import os

    assert os.environ[adb.ADB_PATH_ENV] == str(bundled)


def test_the_port_comes_from_the_environment_like_adb_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(adb.PORT_ENV, "15037")
    assert AdbServer(binary=Path("/opt/adb")).port == 15037
    monkeypatch.delenv(adb.PORT_ENV)
    assert AdbServer(binary=Path("/opt/adb")).port == 5037


def test_a_server_that_cannot_start_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "adb"
    broken.write_text("#!/bin/sh\necho 'cannot bind' >&2\nexit 1\n")
    broken.chmod(0o755)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=rf"-P {port} start-server failed \(1\): cannot bind"):
        AdbServer(port=port, binary=broken).ensure_running(timeout=5)
