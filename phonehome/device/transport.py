"""Shell and service calls on one pinned ADB transport, each within a deadline.

adbutils opens a new connection to the adb server per call and, without a
transport id, first asks ``host:version`` on another connection; its
``close()`` then sleeps 10 ms. That is ~20 of the ~23 ms of a shell round
trip. Here every call selects the device by transport id
(``host:transport-id:N``), reads until the device closes the stream and
closes the socket at once (the stream is over: no half-close to wait for),
so a round trip costs one connection. adbutils still makes the connection
(server auto-start, connect timeout) and speaks the framing.

Shell v2 (``shell,v2,raw:``, AOSP adb shell_protocol.h) gives stdout, stderr
and the exit status apart; devices without the ``shell_v2`` feature get v1
with the exit status echoed after a marker, as adbutils' ``shell2`` does.
"""

from __future__ import annotations

import secrets
import shlex
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

import adbutils

from phonehome.device.deadline import Deadline

MAX_OUTPUT = 64 * 1024 * 1024  # bytes kept from one command; a runaway dump must not eat the host's memory
_V2_STDOUT, _V2_STDERR, _V2_EXIT = 1, 2, 3
_V2_HEADER = struct.Struct("<BI")


class OutputTooLarge(Exception):
    """A command printed more than `MAX_OUTPUT` bytes."""


@dataclass(frozen=True, slots=True)
class ShellResult:
    """What one shell command did; ``exit_code`` is None when the transport could not tell."""

    cmd: str
    exit_code: int | None
    stdout: str
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def shell_join(argv: Sequence[str]) -> str:
    """An argv list as one command line for the device's sh (mksh takes POSIX quoting)."""
    if isinstance(argv, str) or not argv:
        raise TypeError(f"a command is a non-empty argv list, got {argv!r}")
    return shlex.join(argv)


def open_service(
    client: adbutils.AdbClient, transport_id: int, service: str, deadline: Deadline
) -> socket.socket:
    """A socket to ``service`` on the device with ``transport_id`` (the adb server said OKAY twice)."""
    conn = client.make_connection(timeout=deadline.remaining())
    sock: socket.socket = conn.conn
    try:
        deadline.arm(sock)
        conn.send_command(f"host:transport-id:{transport_id}")
        conn.check_okay()
        deadline.arm(sock)
        conn.send_command(service)
        conn.check_okay()
    except BaseException:
        sock.close()
        raise
    return sock


def read_to_end(sock: socket.socket, deadline: Deadline, limit: int = MAX_OUTPUT) -> bytes:
    """Everything until the device closes the stream, within the deadline and `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        deadline.arm(sock)
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise OutputTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)


def exchange(client: adbutils.AdbClient, transport_id: int, service: str, deadline: Deadline) -> bytes:
    """Opens ``service``, reads its whole answer, closes (no 10 ms sleep: the device already closed)."""
    sock = open_service(client, transport_id, service, deadline)
    try:
        return read_to_end(sock, deadline)
    finally:
        sock.close()


def shell_v2(
    client: adbutils.AdbClient, transport_id: int, cmd: str, deadline: Deadline
) -> tuple[int | None, bytes, bytes]:
    """(exit status, stdout, stderr) of ``cmd`` over the shell v2 protocol."""
    sock = open_service(client, transport_id, f"shell,v2,raw:{cmd}", deadline)
    out, err = bytearray(), bytearray()
    buffer = bytearray()
    try:
        while True:
            deadline.arm(sock)
            chunk = sock.recv(65536)
            if not chunk:
                return None, bytes(out), bytes(err)  # closed without an exit packet: status unknown
            buffer += chunk
            while len(buffer) >= _V2_HEADER.size:
                kind, length = _V2_HEADER.unpack_from(buffer)
                end = _V2_HEADER.size + length
                if len(buffer) < end:
                    break
                payload = bytes(buffer[_V2_HEADER.size : end])
                del buffer[:end]
                if kind == _V2_EXIT:
                    return (payload[0] if payload else None), bytes(out), bytes(err)
                target = out if kind == _V2_STDOUT else err if kind == _V2_STDERR else None
                if target is not None:
                    target += payload
                    if len(out) + len(err) > MAX_OUTPUT:
                        raise OutputTooLarge(f"more than {MAX_OUTPUT} bytes")
    finally:
        sock.close()


def shell_v1(
    client: adbutils.AdbClient, transport_id: int, cmd: str, deadline: Deadline
) -> tuple[int | None, bytes, bytes]:
    """(exit status, output, b"") over v1, the status echoed after a random marker (v1 mixes the streams)."""
    marker = f"PHX{secrets.token_hex(6)}:"
    raw = exchange(client, transport_id, f"shell:{cmd}; echo {marker}$?", deadline)
    at = raw.rfind(marker.encode())
    if at < 0:
        return None, raw, b""
    status = raw[at + len(marker) :].strip()
    return (int(status) if status.isdigit() else None), raw[:at], b""


def run_shell(
    client: adbutils.AdbClient, transport_id: int, cmd: str, timeout: float, v2: bool
) -> ShellResult:
    """Runs ``cmd`` and decodes its output (invalid UTF-8 replaced: device output is not trusted)."""
    start = time.monotonic()
    deadline = Deadline(timeout)
    status, out, err = (shell_v2 if v2 else shell_v1)(client, transport_id, cmd, deadline)
    return ShellResult(
        cmd=cmd,
        exit_code=status,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        seconds=time.monotonic() - start,
    )


def host_query(client: adbutils.AdbClient, request: str, deadline: Deadline) -> str:
    """A ``host-transport-id:N:...`` style request answered with one length-prefixed string."""
    conn = client.make_connection(timeout=deadline.remaining())
    try:
        deadline.arm(conn.conn)
        conn.send_command(request)
        conn.check_okay()
        return str(conn.read_string_block())
    finally:
        conn.conn.close()
