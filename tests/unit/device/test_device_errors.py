"""Errors name the handset, the step and what to do (Mobly-style), whatever went wrong underneath."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.device.adb import AdbServer
from phonehome.device.errors import (
    AdbCommandError,
    AdbServerError,
    AdbTimeoutError,
    DeviceNotFoundError,
    DeviceStateError,
)
from phonehome.device.handset import Handset, is_network_serial
from tests.unit.device.fake_adb import FakeAdbServer, fail, okay, v2_packet

FEATURES = frozenset({"shell_v2"})


@pytest.fixture
def fakes() -> Iterator[list[FakeAdbServer]]:
    started: list[FakeAdbServer] = []
    yield started
    for server in started:
        server.close()


def _handset(fakes: list[FakeAdbServer], handler, serial: str = "0123ABC") -> Handset:  # type: ignore[no-untyped-def]
    server = FakeAdbServer(handler)
    fakes.append(server)
    adb = AdbServer(host="127.0.0.1", port=server.port, binary=Path("/opt/adb"))
    return Handset(serial, adb, transport_id=4, features=FEATURES)


def test_a_timeout_names_serial_step_command_and_what_to_check(fakes: list[FakeAdbServer]) -> None:
    handset = _handset(fakes, lambda sock, _: (okay(sock), time.sleep(3)))
    with pytest.raises(AdbTimeoutError) as err:
        handset.shell(["service", "call", "iphonesubinfo", "1"], timeout=0.3, step="read identity")
    assert str(err.value) == (
        "<Handset 0123ABC> read identity: service call iphonesubinfo 1 timed out after 0.3 s "
        "(is the device still connected? adb devices -l)"
    )
    assert (err.value.serial, err.value.step) == ("0123ABC", "read identity")


def test_a_non_zero_exit_keeps_cmd_status_stdout_and_stderr(fakes: list[FakeAdbServer]) -> None:
    def handler(sock: socket.socket, _: str) -> None:
        okay(sock)
        sock.sendall(
            v2_packet(1, b"partial") + v2_packet(2, b"Error: Unknown option: -U") + v2_packet(3, b"\x01")
        )

    handset = _handset(fakes, handler)
    with pytest.raises(AdbCommandError) as err:
        handset.shell(["pm", "list", "packages", "-U"], step="read build identity")
    e = err.value
    assert (e.cmd, e.exit_code, e.stdout, e.stderr) == (
        "pm list packages -U",
        1,
        "partial",
        "Error: Unknown option: -U",
    )
    assert str(e).startswith(
        "<Handset 0123ABC> read build identity: pm list packages -U exited 1 (stdout: 'partial'"
    )


def test_unchecked_failure_returns_the_result(fakes: list[FakeAdbServer]) -> None:
    handset = _handset(fakes, lambda sock, _: (okay(sock), sock.sendall(v2_packet(3, b"\x7f"))))
    assert handset.shell(["nope"], check=False).exit_code == 127


def test_a_transport_that_went_away_is_a_device_not_found(fakes: list[FakeAdbServer]) -> None:
    handset = _handset(fakes, lambda sock, _: None)
    handset.server.port = _refusing_transport(fakes, "no device with transport id '4'")
    handset._client = handset.server.client()
    with pytest.raises(DeviceNotFoundError) as err:
        handset.shell(["id"], step="read identity")
    assert "transport 4" in str(err.value)
    assert "Handset.handle_reboot()" in str(err.value)


@pytest.mark.parametrize(
    ("message", "state"),
    [
        ("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set", "unauthorized"),
        ("device offline", "offline"),
    ],
)
def test_an_unusable_device_names_its_state_and_the_fix(
    fakes: list[FakeAdbServer], message: str, state: str
) -> None:
    handset = _handset(fakes, lambda sock, _: None)
    handset.server.port = _refusing_transport(fakes, message)
    handset._client = handset.server.client()
    with pytest.raises(DeviceStateError) as err:
        handset.shell(["id"])
    assert err.value.state == state
    assert f"the device is '{state}', not 'device'" in str(err.value)


def test_a_connection_dropped_mid_stream_is_a_device_not_found(fakes: list[FakeAdbServer]) -> None:
    def handler(sock: socket.socket, _: str) -> None:
        okay(sock)
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )  # RST on close

    handset = _handset(fakes, handler)
    with pytest.raises(
        DeviceNotFoundError, match=r"<Handset 0123ABC> shell: the connection dropped during id"
    ):
        handset.shell(["id"])


def test_no_adb_server_is_a_server_error_with_the_command_to_start_one() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens
    adb = AdbServer(host="127.0.0.1", port=port, binary=Path("/opt/adb"))
    handset = Handset("0123ABC", adb, transport_id=4, features=FEATURES)
    with pytest.raises(AdbServerError) as err:
        handset.shell(["id"], timeout=2)
    assert f"adb server at 127.0.0.1:{port} unreachable" in str(err.value)
    assert err.value.hint == f"/opt/adb -P {port} start-server"


def test_devices_listing_refused_by_the_server(fakes: list[FakeAdbServer]) -> None:
    handset = _handset(fakes, lambda sock, _: fail(sock, "internal error"))
    with pytest.raises(AdbServerError, match="the adb server refused: internal error"):
        handset.entry()


@pytest.mark.parametrize(
    ("serial", "network"),
    [("127.0.0.1:5555", True), ("[::1]:40123", True), ("lab-phone.local:5555", True), ("0123ABC", False),
     ("adb-28031FDH2005CW-abc._adb-tls-connect._tcp", False), ("emulator-5554", False)],
)  # fmt: skip
def test_network_serials_are_host_and_port(serial: str, network: bool) -> None:
    assert is_network_serial(serial) is network


def _refusing_transport(fakes: list[FakeAdbServer], message: str) -> int:
    """A fake server whose host:transport-id answer is FAIL with ``message``."""

    def handler(sock: socket.socket, request: str) -> None:
        fail(sock, message)

    server = FakeAdbServer(handler)
    server._one = _fail_first(server, message)  # type: ignore[method-assign]
    fakes.append(server)
    return server.port


def _fail_first(server: FakeAdbServer, message: str):  # type: ignore[no-untyped-def]
    from tests.unit.device.fake_adb import read_request

    def one(conn: socket.socket) -> None:
        with conn:
            server.requests.append(read_request(conn))
            fail(conn, message)

    return one
