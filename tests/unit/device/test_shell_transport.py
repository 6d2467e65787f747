"""Shell calls on a pinned transport: framing, exit codes, and deadlines that hold against a stalling server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import adbutils
import pytest

from phonehome.device import transport
from phonehome.device.adb import NoDelayClient
from tests.unit.device.fake_adb import FakeAdbServer, fail, okay, v2_packet


@pytest.fixture
def serve() -> Iterator[list[FakeAdbServer]]:
    started: list[FakeAdbServer] = []
    yield started
    for server in started:
        server.close()


def _client(server: FakeAdbServer) -> adbutils.AdbClient:
    return NoDelayClient(host="127.0.0.1", port=server.port)


def _start(serve: list[FakeAdbServer], handler) -> FakeAdbServer:  # type: ignore[no-untyped-def]
    server = FakeAdbServer(handler)
    serve.append(server)
    return server


def test_v2_splits_stdout_stderr_and_carries_the_exit_status(serve: list[FakeAdbServer]) -> None:
    def handler(sock: socket.socket, request: str) -> None:
        okay(sock)
        data = v2_packet(1, b"out\n") + v2_packet(2, b"err\n") + v2_packet(3, b"\x03")
        for i in range(len(data)):  # one byte per segment: packets must be reassembled
            sock.sendall(data[i : i + 1])

    server = _start(serve, handler)
    result = transport.run_shell(_client(server), 7, "ls /nope", timeout=5, v2=True)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert server.requests == ["host:transport-id:7", "shell,v2,raw:ls /nope"]


def test_v2_stream_closed_without_exit_packet_has_no_status(serve: list[FakeAdbServer]) -> None:
    server = _start(serve, lambda sock, _: (okay(sock), sock.sendall(v2_packet(1, b"partial"))))
    assert transport.run_shell(_client(server), 1, "x", timeout=5, v2=True).exit_code is None


def test_v1_reads_the_status_echoed_after_the_marker(serve: list[FakeAdbServer]) -> None:
    def handler(sock: socket.socket, request: str) -> None:
        marker = request.rsplit("; echo ", 1)[1].removesuffix("$?")
        okay(sock)
        sock.sendall(b"hello\n" + marker.encode() + b"1\n")

    server = _start(serve, handler)
    result = transport.run_shell(_client(server), 1, "false", timeout=5, v2=False)
    assert (result.exit_code, result.stdout) == (1, "hello\n")


def test_a_silent_device_times_out_at_the_deadline(serve: list[FakeAdbServer]) -> None:
    server = _start(serve, lambda sock, _: (okay(sock), time.sleep(5)))
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        transport.run_shell(_client(server), 1, "sleep 100", timeout=0.5, v2=True)
    assert time.monotonic() - start < 1.5


def test_a_trickling_device_cannot_stretch_the_deadline(serve: list[FakeAdbServer]) -> None:
    def handler(sock: socket.socket, request: str) -> None:
        okay(sock)
        for _ in range(100):  # a byte every 50 ms: each recv succeeds, the call as a whole must not
            sock.sendall(v2_packet(1, b"."))
            time.sleep(0.05)

    server = _start(serve, handler)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        transport.run_shell(_client(server), 1, "yes", timeout=0.6, v2=True)
    assert time.monotonic() - start < 1.5


def test_output_beyond_the_limit_is_refused(
    serve: list[FakeAdbServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "MAX_OUTPUT", 1000)
    server = _start(serve, lambda sock, _: (okay(sock), sock.sendall(v2_packet(1, b"x" * 2000))))
    with pytest.raises(transport.OutputTooLarge):
        transport.run_shell(_client(server), 1, "cat /dev/zero", timeout=5, v2=True)


def test_the_servers_refusal_is_an_adb_error(serve: list[FakeAdbServer]) -> None:
    server = _start(serve, lambda sock, _: fail(sock, "closed"))
    with pytest.raises(adbutils.AdbError, match="closed"):
        transport.run_shell(_client(server), 1, "id", timeout=5, v2=True)


def test_every_socket_to_the_server_has_tcp_nodelay(serve: list[FakeAdbServer]) -> None:
    server = _start(serve, lambda sock, _: None)
    conn = _client(server).make_connection(timeout=2)
    try:
        assert conn.conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        conn.conn.close()


def test_argv_is_quoted_for_the_device_shell() -> None:
    assert transport.shell_join(["echo", "a b", "$HOME", "it's"]) == "echo 'a b' '$HOME' 'it'\"'\"'s'"
    with pytest.raises(TypeError):
        transport.shell_join("echo a")  # type: ignore[arg-type]
