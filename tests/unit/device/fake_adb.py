"""A scripted stand-in for the adb server on a loopback port, to test framing and deadlines without adb."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, str], None]


def okay(sock: socket.socket, payload: bytes = b"") -> None:
    sock.sendall(b"OKAY" + payload)


def fail(sock: socket.socket, message: str) -> None:
    data = message.encode()
    sock.sendall(b"FAIL" + f"{len(data):04x}".encode() + data)


def v2_packet(kind: int, payload: bytes) -> bytes:
    return struct.pack("<BI", kind, len(payload)) + payload


def read_request(sock: socket.socket) -> str:
    size = int(sock.recv(4), 16)
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data.decode()


@dataclass
class FakeAdbServer:
    """Answers ``host:transport-id:N`` with OKAY, then hands the service request to ``service``."""

    service: Handler
    requests: list[str] = field(default_factory=list)
    _sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                first = read_request(conn)
                self.requests.append(first)
                if not first.startswith("host:transport-id:"):
                    self.service(conn, first)
                    return
                okay(conn)
                request = read_request(conn)
                self.requests.append(request)
                self.service(conn, request)
            except (OSError, ValueError):  # the client hung up (tests that only connect, or time out)
                pass

    def close(self) -> None:
        self._sock.close()
