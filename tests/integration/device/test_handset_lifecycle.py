"""Connect, deadlines, errors that name the serial, and reboots through the real adb server."""

from __future__ import annotations

import time

import pytest

from phonehome.device import (
    AdbCommandError,
    AdbTimeoutError,
    DeviceError,
    DeviceNotFoundError,
    DeviceStateError,
    Handset,
)
from phonehome.virtual import AuthPolicy, VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen
from tests.integration.device.conftest import Pair, connected, server_of


def test_connect_runs_adb_connect_for_a_host_port_serial(adb_server: PrivateAdbServer) -> None:
    with VirtualHandset("aosp-clean", seed="connect", screen=RecordingScreen(), time_scale=0) as virtual:
        virtual.wait_boot_completed(10)
        try:
            handset = Handset.connect(virtual.adb_serial, server_of(adb_server), timeout=15)
            assert handset.getprop("ro.product.model") == "Pixel 7"
            assert "shell_v2" in handset.features
        finally:
            adb_server.run("disconnect", virtual.adb_serial)


def test_exit_status_and_streams_come_back_apart(nokia: Pair) -> None:
    _, handset = nokia
    result = handset.shell(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    with pytest.raises(AdbCommandError) as err:
        handset.shell(["ls", "/nonexistent"], step="check files")
    assert err.value.exit_code != 0
    assert "No such file" in err.value.stderr
    assert str(err.value).startswith(f"<Handset {handset.serial}> check files: ls /nonexistent exited")


def test_a_command_past_its_deadline_is_a_timeout_naming_the_device(nokia: Pair) -> None:
    _, handset = nokia
    start = time.monotonic()
    with pytest.raises(AdbTimeoutError) as err:
        handset.shell(["sleep", "5"], timeout=0.5, step="read identity")
    assert time.monotonic() - start < 2
    assert str(err.value) == (
        f"<Handset {handset.serial}> read identity: sleep 5 timed out after 0.5 s "
        "(is the device still connected? adb devices -l)"
    )
    assert handset.shell(["echo", "still here"]).stdout == "still here\n"


def test_an_unknown_serial_is_not_found_within_the_deadline(adb_server: PrivateAdbServer) -> None:
    start = time.monotonic()
    with pytest.raises(DeviceNotFoundError) as err:
        Handset.connect("NOSUCHSERIAL01", server_of(adb_server), timeout=1)
    assert time.monotonic() - start < 4
    assert str(err.value).startswith(
        f"<Handset NOSUCHSERIAL01> connect: not listed by the adb server at 127.0.0.1:{adb_server.port} after 1 s"
    )


def test_an_unauthorized_device_says_to_accept_the_prompt(adb_server: PrivateAdbServer) -> None:
    policy = AuthPolicy(required=True)
    with VirtualHandset(
        "aosp-clean", seed="auth", screen=RecordingScreen(), auth=policy, time_scale=0
    ) as virtual:
        try:
            with pytest.raises(DeviceStateError) as err:
                Handset.connect(virtual.adb_serial, server_of(adb_server), timeout=3)
        finally:
            adb_server.run("disconnect", virtual.adb_serial)
    assert err.value.state == "unauthorized"
    assert "Allow USB debugging" in str(err.value)


def _first_error(handset: Handset, attempts: int = 50) -> DeviceError:
    """Runs ``id`` until the device layer raises (the adb server notices a closed device within moments)."""
    for _ in range(attempts):
        try:
            handset.shell(["id"], timeout=2)
        except DeviceError as exc:
            return exc
        time.sleep(0.05)
    raise AssertionError(f"{handset} still answers")


def test_a_vanished_device_is_an_error_naming_it(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "nokia-7-plus-2019", seed="vanish") as (virtual, handset):
        virtual.stop()
        error = _first_error(handset)
        assert isinstance(error, DeviceNotFoundError | DeviceStateError)
        assert str(error).startswith(f"<Handset {virtual.adb_serial}> shell: ")
        assert error.hint
        start = time.monotonic()
        with pytest.raises(DeviceError, match=rf"<Handset {virtual.adb_serial}> wait for device: "):
            handset.wait_for_device(timeout=1)
        assert time.monotonic() - start < 8


def test_reboot_waits_for_the_device_to_go_and_come_back_booted(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "aosp-clean", seed="reboot") as (virtual, handset):
        before = handset.transport_id
        with handset.reboot(timeout=60):
            entry = handset.entry()
            assert entry is None or entry.state != "device" or entry.transport_id != before
        assert handset.transport_id != before
        assert handset.getprop("sys.boot_completed") == "1"
        assert handset.getprop("sys.boot.reason") == "reboot"
        assert virtual.boot_completed


def test_handle_reboot_around_a_step_that_restarts_the_device(adb_server: PrivateAdbServer) -> None:
    with connected(adb_server, "nokia-7-plus-2019", seed="reboot-self") as (_virtual, handset):
        before = handset.transport_id
        with handset.handle_reboot(timeout=60):
            handset.shell(["reboot"], check=False)
        assert handset.transport_id != before
        assert handset.shell(["getprop", "sys.boot_completed"]).stdout == "1\n"


def test_a_reboot_outside_handle_reboot_fails_the_step_and_wait_for_device_recovers(
    adb_server: PrivateAdbServer,
) -> None:
    with connected(adb_server, "aosp-clean", seed="reboot-unexpected", time_scale=1.0) as (virtual, handset):
        virtual.reboot()  # the firmware restarts by itself, mid-scenario
        error = _first_error(handset)
        assert str(error).startswith(f"<Handset {virtual.adb_serial}> shell: ")
        handset.wait_for_device(timeout=30)
        handset.wait_boot_completed(timeout=30)
        assert handset.shell(["getprop", "sys.boot.reason"]).stdout == "reboot\n"
