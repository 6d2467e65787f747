"""A retail build's ADB: off from the first boot until setup is done and USB debugging is enabled."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from phonehome.virtual import HandsetError, VirtualHandset
from phonehome.virtual.testing import RecordingScreen
from tests.unit.virtual.helpers import run_shell


def listening(handset: VirtualHandset) -> bool:
    """A socket listens on the ADB port (read from /proc/net/tcp: a probe connection that the handset
    accepts just before it powers off would stay open in asyncio, whose accept outlives its server)."""
    host, port = handset.adb_address
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1] == want and row.split()[3] == "0A" for row in rows)  # 0A: LISTEN


def test_adb_is_off_until_setup_and_usb_debugging_and_its_port_is_known_before(tmp_path: Path) -> None:
    handset = VirtualHandset(
        "aosp-clean",
        seed="retail",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path / "d",
        adb="after-setup",
    )
    port = handset.adb_port
    assert port != 0  # a lab's inventory names the serial before ADB ever listens
    handset.start()
    try:
        handset.wait_boot_completed(5)
        assert not handset.adb_online
        assert not listening(handset)
        assert run_shell(handset, "settings get global adb_enabled")[1].strip() == "0"
        with pytest.raises(HandsetError, match="finish the Setup Wizard first"):
            handset.enable_usb_debugging()
        run_shell(handset, "settings put global device_provisioned 1")
        handset.enable_usb_debugging()
        assert handset.adb_online
        assert handset.adb_port == port
        assert listening(handset)
        handset.reboot(wait=True, timeout=10)
        assert handset.adb_online  # enabled stays enabled
        handset.factory_reset(wait=True, timeout=10)
        time.sleep(0.1)
        assert not handset.adb_online  # until a person enables it again
    finally:
        handset.stop()


def test_a_build_with_adb_at_boot_listens_from_the_first_boot(tmp_path: Path) -> None:
    with VirtualHandset(
        "aosp-clean", seed="debug", screen=RecordingScreen(), time_scale=0, workdir=tmp_path / "d"
    ) as h:
        assert h.adb_online
        assert run_shell(h, "settings get global adb_enabled")[1].strip() == "1"
        h.enable_usb_debugging()  # nothing to enable
