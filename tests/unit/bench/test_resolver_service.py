"""The resolver's loop on loopback sockets: UDP and TCP framing, hostile clients, limits, nat relaying."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from phonehome.bench import resolver_service
from phonehome.bench import upstream as upstream_module
from phonehome.bench.resolver import Answer, NamePool, Question, answer_locally
from phonehome.bench.resolver_service import Server
from phonehome.bench.upstream import upstream_address

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@dataclass
class Running:
    port: int
    log: Path
    server: Server

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@contextmanager
def serving(
    tmp_path: Path,
    *,
    clients: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None,
    upstream: list[tuple[str, int]] | None = None,
    pool: NamePool | None = None,
    name: str = "resolver",
) -> Iterator[Running]:
    udp, tcp = udp_and_tcp_on_one_port()
    port = udp.getsockname()[1]
    names = pool if pool is not None else NamePool("198.18.0.0/15")

    def local(question: Question, proto: str) -> Answer:
        return answer_locally(question, names, 300, False, proto)

    log_path = tmp_path / f"{name}.jsonl"
    stop = threading.Event()
    with log_path.open("a", encoding="utf-8") as log:
        server = Server([udp, tcp], log, local, LOOPBACK if clients is None else clients, upstream)
        thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
        thread.start()
        try:
            yield Running(port, log_path, server)
        finally:
            stop.set()
            thread.join(5)
            udp.close()
            tcp.close()
    assert not thread.is_alive()


def udp_and_tcp_on_one_port() -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same free loopback port (other processes may hold the TCP one)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        return udp, tcp
    raise AssertionError("no loopback port was free for both UDP and TCP")


def query(name: str, rdtype: str = "A") -> dns.message.Message:
    return dns.message.make_query(name, rdtype)


def framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


def read_framed(sock: socket.socket) -> dns.message.Message:
    head = _exactly(sock, 2)
    return dns.message.from_wire(_exactly(sock, int.from_bytes(head, "big")))


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_a_udp_question_is_answered_and_logged_with_client_port_and_rcode(tmp_path: Path) -> None:
    with serving(tmp_path) as running:
        reply = dns.query.udp(query("zzhc.vnet.cn"), "127.0.0.1", timeout=3, port=running.port)
    assert [rd.to_text() for rd in reply.answer[0]] == ["198.18.0.1"]
    (line,) = running.lines()
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["port"], int)
    assert (line["proto"], line["name"], line["qtype"], line["answers"], line["rcode"]) == (
        "udp",
        "zzhc.vnet.cn",
        "A",
        ["198.18.0.1"],
        "NOERROR",
    )
    assert isinstance(line["ts"], float)


def test_pipelined_and_byte_by_byte_tcp_questions_are_answered_in_order(tmp_path: Path) -> None:
    with serving(tmp_path) as running, socket.create_connection(("127.0.0.1", running.port), 3) as sock:
        sock.sendall(framed(query("one.example").to_wire()) + framed(query("two.example").to_wire()))
        first, second = read_framed(sock), read_framed(sock)
        for byte in framed(query("three.example").to_wire()):
            sock.send(bytes([byte]))
            time.sleep(0.001)
        third = read_framed(sock)
    assert [m.question[0].name.to_text() for m in (first, second, third)] == [
        "one.example.",
        "two.example.",
        "three.example.",
    ]
    assert {line["proto"] for line in running.lines()} == {"tcp"}


def test_malformed_dns_over_tcp_gets_formerr_and_the_connection_still_serves(tmp_path: Path) -> None:
    with serving(tmp_path) as running, socket.create_connection(("127.0.0.1", running.port), 3) as sock:
        sock.sendall(framed(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff"))
        assert read_framed(sock).rcode() == dns.rcode.FORMERR
        sock.sendall(framed(b"\x01"))  # too short to answer: nothing comes back for it
        sock.sendall(framed(b""))
        sock.sendall(framed(query("after.example").to_wire()))
        assert read_framed(sock).answer
    notes = [line.get("note") for line in running.lines()]
    assert sum(1 for n in notes if n and "not a readable DNS query" in n) == 3


def test_malformed_udp_never_stops_the_resolver(tmp_path: Path) -> None:
    with serving(tmp_path) as running:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for junk in (b"", b"\x00", b"\xff" * 11, b"\xff" * 12, b"\x00" * 512, bytes(range(256)) * 8):
                sock.sendto(junk, ("127.0.0.1", running.port))
        reply = dns.query.udp(query("still.example"), "127.0.0.1", timeout=3, port=running.port)
    assert reply.answer


def test_connections_beyond_the_limit_are_closed_and_udp_is_still_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolver_service, "MAX_TCP", 4)
    with serving(tmp_path) as running:
        held = [socket.create_connection(("127.0.0.1", running.port), 3) for _ in range(4)]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", running.port), 3) as extra:
                extra.settimeout(3)
                extra.sendall(framed(query("x.example").to_wire()))
                with pytest.raises((ConnectionError, OSError)):
                    read_framed(extra)
            assert dns.query.udp(query("y.example"), "127.0.0.1", timeout=3, port=running.port).answer
        finally:
            for sock in held:
                sock.close()


def test_an_idle_connection_is_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver_service, "IDLE_S", 0.3)
    with serving(tmp_path) as running, socket.create_connection(("127.0.0.1", running.port), 3) as sock:
        sock.settimeout(3)
        sock.sendall(b"\x00")  # half a length prefix, then silence
        assert sock.recv(10) == b""
        assert running.server.connections == {}


def test_a_client_that_never_reads_its_answers_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolver_service, "OUT_MAX", 2000)
    with serving(tmp_path) as running, socket.create_connection(("127.0.0.1", running.port), 3) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        one = framed(query("a-rather-long-name-to-fill-buffers.example", "A").to_wire())
        # Until the resolver hangs up: how much the kernel's buffers absorb first depends on the host
        # (tcp_wmem autotuning takes megabytes), so the client keeps asking for a while, not a fixed count.
        sock.settimeout(1.0)
        until = time.monotonic() + 20
        try:
            while time.monotonic() < until:
                sock.sendall(one * 64)
        except OSError:
            pass  # the resolver closed it (or stopped reading: a timeout)
        deadline = time.monotonic() + 5
        while running.server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.server.connections == {}


def test_a_client_outside_the_benchs_networks_is_logged_and_not_answered(tmp_path: Path) -> None:
    outside = [ipaddress.ip_network("172.16.0.0/24")]
    with serving(tmp_path, clients=outside) as running, pytest.raises(dns.exception.Timeout):
        dns.query.udp(query("spoofed.example"), "127.0.0.1", timeout=0.5, port=running.port)
    (line,) = running.lines()
    assert line["rcode"] is None
    assert line["name"] == "spoofed.example"
    assert "outside" in str(line["note"])


def test_nat_mode_relays_the_upstreams_answer_and_logs_it(tmp_path: Path) -> None:
    real = NamePool("192.0.2.0/24")
    with serving(tmp_path, pool=real, name="upstream") as upstream:
        target = [upstream_address(f"127.0.0.1#{upstream.port}")]
        with serving(tmp_path, upstream=target) as nat:
            reply = dns.query.udp(query("real.example"), "127.0.0.1", timeout=5, port=nat.port)
            with socket.create_connection(("127.0.0.1", nat.port), 3) as sock:
                sock.sendall(framed(query("other.example").to_wire()))
                over_tcp = read_framed(sock)
    assert [rd.to_text() for rd in reply.answer[0]] == ["192.0.2.1"]
    assert [rd.to_text() for rd in over_tcp.answer[0]] == ["192.0.2.2"]
    assert [(line["name"], line["answers"]) for line in nat.lines()] == [
        ("real.example", ["192.0.2.1"]),
        ("other.example", ["192.0.2.2"]),
    ]


def test_nat_mode_without_a_reachable_upstream_answers_servfail(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives, never answers
        target = [("127.0.0.1", silent.getsockname()[1])]
        with serving(tmp_path, upstream=target) as nat, pytest.MonkeyPatch.context() as patch:
            patch.setattr(upstream_module, "UPSTREAM_TIMEOUT_S", 0.2)
            reply = dns.query.udp(query("x.example"), "127.0.0.1", timeout=10, port=nat.port)
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert nat.lines()[0]["rcode"] == "SERVFAIL"


def test_upstream_addresses_take_an_optional_port() -> None:
    assert upstream_address("192.0.2.53") == ("192.0.2.53", 53)
    assert upstream_address("2001:db8::53#5353") == ("2001:db8::53", 5353)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        upstream_address("resolver.example")
