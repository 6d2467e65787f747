"""Waiting out a reboot when the adb server revives the same transport (TCP devices back before we looked)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from phonehome.device.adb import AdbServer
from phonehome.device.errors import AdbTimeoutError
from phonehome.device.handset import BOOT_MARKER, Handset
from tests.unit.device.fake_adb import FakeAdbServer, okay, v2_packet

SERIAL = "127.0.0.1:40123"


@dataclass
class Phone:
    """Answers what Handset asks during a reboot; ``reboots`` makes volatile properties vanish."""

    props: dict[str, str] = field(default_factory=lambda: {"sys.boot_completed": "1"})
    requests: list[str] = field(default_factory=list)

    def reboot(self) -> None:
        self.props = {k: v for k, v in self.props.items() if not k.startswith("debug.")}

    def __call__(self, sock: socket.socket, request: str) -> None:
        self.requests.append(request)
        if request == "host:devices-l":
            text = f"{SERIAL}          device product:x model:y device:z transport_id:4\n".encode()
            okay(sock, f"{len(text):04x}".encode() + text)
            return
        okay(sock)
        argv = request.removeprefix("shell,v2,raw:").split()
        out = ""
        if argv[:1] == ["setprop"]:
            self.props[argv[1]] = argv[2]
        elif argv[:1] == ["getprop"]:
            out = self.props.get(argv[1], "") + "\n"
        sock.sendall(v2_packet(1, out.encode()) + v2_packet(3, b"\x00"))


@pytest.fixture
def phone() -> Iterator[tuple[Phone, Handset]]:
    device = Phone()
    server = FakeAdbServer(device)
    adb = AdbServer(host="127.0.0.1", port=server.port, binary=Path("/opt/adb"))
    try:
        yield device, Handset(SERIAL, adb, transport_id=4, features=frozenset({"shell_v2"}))
    finally:
        server.close()


def test_a_boot_tagged_before_the_block_and_untagged_after_is_over(phone: tuple[Phone, Handset]) -> None:
    device, handset = phone
    start = time.monotonic()
    with handset.handle_reboot(timeout=5):
        assert device.props[BOOT_MARKER]  # tagged before the step runs
        device.reboot()  # rebooted and back on the same transport id before the block ended
    assert time.monotonic() - start < 3
    assert handset.transport_id == 4
    assert f"shell,v2,raw:getprop {BOOT_MARKER}" in device.requests


def test_a_device_that_never_rebooted_is_reported(phone: tuple[Phone, Handset]) -> None:
    _, handset = phone
    with (
        pytest.raises(AdbTimeoutError, match=r"<Handset 127.0.0.1:40123> reboot: the device did not go away"),
        handset.handle_reboot(timeout=0.5),
    ):
        pass
