from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from phonehome.virtual import HandsetError, HandsetEvent, VirtualHandset
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.testing import RecordingScreen


def test_start_boots_and_stop_removes_its_files() -> None:
    handset = VirtualHandset("aosp-clean", seed="s1", screen=RecordingScreen(), time_scale=0)
    with handset:
        handset.wait_boot_completed(5)
        root = handset.state.fs.root
        assert root.is_dir()
        assert handset.adb_online
        assert handset.getprop("sys.boot_completed") == "1"
        assert handset.adb_serial == f"127.0.0.1:{handset.adb_port}"
        assert handset.adb_port > 0
    assert not root.exists()
    assert not handset.adb_online


def test_reboot_drops_adb_and_boot_completed_goes_0_then_1(tmp_path: Path) -> None:
    events: list[HandsetEvent] = []
    handset = VirtualHandset(
        "aosp-clean", seed="s2", screen=RecordingScreen(), time_scale=0.05, workdir=tmp_path
    )
    handset.subscribe(events.append)
    with handset:
        handset.wait_boot_completed(5)
        port = handset.adb_port
        handset.state.fs.install_file("/data/local/tmp/keep", b"x")
        handset.reboot("recovery", wait=True, timeout=10)
        assert handset.getprop("sys.boot_completed") == "1"
        assert handset.getprop("sys.boot.reason") == "reboot,recovery"
        assert handset.adb_port == port, "adbd listens on the same port after a reboot"
        assert handset.state.fs.read_bytes("/data/local/tmp/keep") == b"x"
    kinds = [e.kind for e in events if e.kind != "broadcast"]
    assert kinds == [
        "boot-started",
        "boot-completed",
        "shutdown",
        "boot-started",
        "boot-completed",
        "shutdown",
    ]


def test_device_local_service_answers_connections_from_the_handset() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.readline()).upper())
        await writer.drain()

    async def client(handset: VirtualHandset) -> bytes:
        reader, writer = await handset.state.services.open_connection(7777)
        writer.write(b"ping\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        return line

    with VirtualHandset("aosp-clean", seed="s3", screen=RecordingScreen(), time_scale=0) as handset:
        handset.register_service(7777, echo, owner="echo")
        assert handset.run(client(handset)).result(5) == b"PING\n"
        with pytest.raises(OSError, match="already in use"):
            handset.register_service(7777, echo)
        handset.unregister_service(7777)
        with pytest.raises(ConnectionRefusedError):
            handset.run(client(handset)).result(5)


def test_wizard_events_update_settings() -> None:
    screen = RecordingScreen()
    with VirtualHandset("aosp-clean", seed="s4", screen=screen, time_scale=0) as handset:
        settings = handset.state.settings
        assert settings.get("secure", "user_setup_complete") == "0"
        screen.emit(UiEvent("consent", {"diagnostics": False, "location": True}))
        screen.emit(UiEvent("setup-complete"))
        assert settings.get("secure", "location_mode") == "3"
        assert settings.get("secure", "user_setup_complete") == "1"
        assert settings.get("global", "device_provisioned") == "1"


def test_identity_follows_the_seed() -> None:
    a = VirtualHandset("nokia-7-plus-2019", seed="same", screen=RecordingScreen())
    b = VirtualHandset("nokia-7-plus-2019", seed="same", screen=RecordingScreen())
    c = VirtualHandset("nokia-7-plus-2019", screen=RecordingScreen())
    assert a.identity == b.identity
    assert a.identity.imei != c.identity.imei
    assert a.wifi_mac == a.identity.wifi_mac, "Android 9 has no MAC randomization"
    pixel = VirtualHandset("aosp-clean", seed="same", screen=RecordingScreen())
    assert pixel.wifi_mac == pixel.identity.wifi_mac_randomized


def test_an_emulator_port_is_refused_with_the_reason() -> None:
    handset = VirtualHandset("aosp-clean", adb_port=5555, screen=RecordingScreen())
    with pytest.raises(HandsetError, match="probes as emulators"):
        handset.start()


def test_adb_never_listens_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="out of band"):
        VirtualHandset("aosp-clean", adb_host="0.0.0.0", screen=RecordingScreen())
    assert VirtualHandset("aosp-clean", adb_host="::1", screen=RecordingScreen()).adb_serial.startswith(
        "[::1]:"
    )
