"""Reboot and ADB authentication, as the real adb server sees them."""

from __future__ import annotations

import time

import adbutils

from phonehome.virtual import AuthPolicy, VirtualHandset, load_profile
from phonehome.virtual.profile import BootSpec
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_adb_reboot_goes_away_comes_back_and_completes_boot(adb_server: PrivateAdbServer) -> None:
    profile = load_profile("aosp-clean").model_copy(update={"boot": BootSpec(offline_s=1.0, complete_s=2.0)})
    with VirtualHandset(profile, seed="reboot", screen=RecordingScreen()) as handset:
        handset.wait_boot_completed(10)
        serial = handset.adb_serial
        adb_server.connect(serial)
        device = adbutils.AdbClient(port=adb_server.port).device(serial)
        assert device.getprop("sys.boot_completed") == "1"

        assert adb_server.run("-s", serial, "reboot").returncode == 0
        _wait(lambda: not handset.adb_online, 5, "the handset to drop ADB")
        _wait(lambda: adb_server.state(serial) != "device", 15, "adb to see the device go")
        _wait(lambda: handset.adb_online, 10, "the handset to listen again")

        adb_server.run("disconnect", serial)  # a fresh connection is immediate (adb retries slowly)
        adb_server.connect(serial)
        assert device.getprop("sys.boot_completed") == "0"
        _wait(lambda: device.getprop("sys.boot_completed") == "1", 10, "sys.boot_completed=1")
        assert device.getprop("sys.boot.reason") == "reboot"


def test_adbutils_reboot_then_wait_for_device(adb_server: PrivateAdbServer) -> None:
    with VirtualHandset(
        "nokia-7-plus-2019", seed="reboot2", screen=RecordingScreen(), time_scale=0.2
    ) as handset:
        handset.wait_boot_completed(10)
        serial = handset.adb_serial
        adb_server.connect(serial)
        adbutils.AdbClient(port=adb_server.port).device(serial).reboot()
        _wait(lambda: not handset.adb_online, 5, "the reboot to start")
        _wait(lambda: handset.boot_completed, 10, "boot completed")
        adb_server.run("disconnect", serial)
        adb_server.connect(serial)
        assert adb_server.run("-s", serial, "wait-for-device", timeout=10).returncode == 0
        done = adb_server.run("-s", serial, "shell", "getprop", "sys.boot_completed")
        assert done.stdout == "1\n"


def test_auth_required_shows_unauthorized_until_the_hosts_key_is_trusted(
    adb_server: PrivateAdbServer,
) -> None:
    policy = AuthPolicy(required=True)
    with VirtualHandset(
        "aosp-clean", seed="auth", screen=RecordingScreen(), auth=policy, time_scale=0
    ) as handset:
        serial = handset.adb_serial
        adb_server.connect(serial, want="unauthorized")
        refused = adb_server.run("-s", serial, "shell", "id")
        assert refused.returncode != 0
        assert "unauthorized" in refused.stderr
        assert policy.offered_keys, "the host offered its public key"

        key = (adb_server.home / ".android" / "adbkey.pub").read_text()
        policy.authorize(key)
        adb_server.run("disconnect", serial)
        adb_server.connect(serial, want="device")
        assert adb_server.run("-s", serial, "shell", "id", "-u").stdout == "2000\n"
