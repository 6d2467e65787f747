"""The resolver process: DNS over UDP and TCP on port 53 of the router namespace, as ``nobody``.

``python -m phonehome.bench.resolver_service --fd 3 --fd 4 --log resolver.jsonl ...``

The bench binds the sockets (port 53 needs root) and passes them in; the
process opens its log, drops to an unprivileged user and only then reads a
byte a handset sent. One thread owns the sockets and the log (a selector
loop, hand-written because the limits are the point: at most ``MAX_TCP``
connections, each with bounded buffers, an idle timeout and a lifetime);
in nat mode a few worker threads ask the real resolvers and hand the answers
back to it. A message that is not a readable query gets FORMERR or nothing,
never a crash: the bench checks at the end that this process lived.
"""

from __future__ import annotations

import argparse
import contextlib
import encodings.idna  # noqa: F401  (see above)
import ipaddress
import json
import os
import queue
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dns.edns
import dns.exception
import dns.message
import dns.rdata

from phonehome.bench import privilege
from phonehome.bench.resolver import (
    Answer,
    NamePool,
    Question,
    answer_locally,
    log_entry,
    read_question,
    relay,
)
from phonehome.bench.resolver import unreadable_entry as unreadable
from phonehome.bench.upstream import Upstream, upstream_address

MAX_TCP = 64
"""Open DNS-over-TCP connections at once; more are closed as soon as they are accepted."""
IDLE_S = 10.0
LIFETIME_S = 120.0
"""A connection that trickles a byte now and then still ends (RFC 7766 6.2.3 lets servers close)."""
OUT_MAX = 128 * 1024
"""Answers waiting for a client that does not read: beyond this the connection is closed."""
SNDBUF = 32 * 1024
"""The kernel's send buffer per connection (it would grow to megabytes for a client that never reads)."""
TICK_S = 0.25
READY = "phonehome resolver: serving"


@dataclass(slots=True)
class Connection:
    sock: socket.socket
    peer: tuple[str, int]
    opened: float
    last_read: float
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    closed: bool = False


Target = tuple[socket.socket, tuple[str, int], Connection | None]
"""Where an answer goes: the UDP socket and client address, or the TCP connection."""


class Server:
    """The selector loop over the inherited sockets."""

    def __init__(
        self,
        socks: list[socket.socket],
        log: IO[str],
        answer: Callable[[Question, str], Answer],
        clients: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
        upstream: list[tuple[str, int]] | None = None,
    ) -> None:
        self.log = log
        self.answer = answer
        self.clients = clients
        self.selector = selectors.DefaultSelector()
        self.connections: dict[int, Connection] = {}
        self.completed: queue.SimpleQueue[tuple[Target, Question, float, Answer]] = queue.SimpleQueue()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._drain)
        self.upstream = Upstream(upstream, self._finished) if upstream is not None else None
        for sock in socks:
            sock.setblocking(False)
            handler = self._accept if sock.type == socket.SOCK_STREAM else self._datagram
            self.selector.register(sock, selectors.EVENT_READ, lambda _m, s=sock, h=handler: h(s))

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for key, mask in self.selector.select(TICK_S):
                key.data(mask)
            self._expire(time.monotonic())
        for conn in list(self.connections.values()):
            self._close(conn)
        if self.upstream is not None:
            self.upstream.pool.shutdown(wait=True, cancel_futures=True)
            self._drain(0)
        self.selector.close()
        self.wake_r.close()
        self.wake_w.close()

    # --- UDP ---------------------------------------------------------------------------------------

    def _datagram(self, sock: socket.socket) -> None:
        for _ in range(64):  # a flood does not starve the TCP connections
            try:
                wire, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error for an earlier answer
            self._message(wire, (sock, (addr[0], addr[1]), None), "udp")

    # --- TCP ---------------------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, addr = listener.accept()
        except OSError:
            return
        if len(self.connections) >= MAX_TCP or not self._allowed(addr[0]):
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        now = time.monotonic()
        conn = Connection(sock, (addr[0], addr[1]), now, now)
        self.connections[sock.fileno()] = conn
        self.selector.register(sock, selectors.EVENT_READ, lambda mask, c=conn: self._ready(c, mask))

    def _ready(self, conn: Connection, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if conn.closed or not mask & selectors.EVENT_READ:
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.last_read = time.monotonic()
        conn.inbuf += data
        while len(conn.inbuf) >= 2 and not conn.closed:
            size = int.from_bytes(conn.inbuf[:2], "big")
            if len(conn.inbuf) < 2 + size:
                return  # wait for the rest: at most one message and one read are ever buffered
            wire = bytes(conn.inbuf[2 : 2 + size])
            del conn.inbuf[: 2 + size]
            self._message(wire, (conn.sock, conn.peer, conn), "tcp")

    def _send_tcp(self, conn: Connection, reply: bytes) -> None:
        if conn.closed:
            return
        conn.outbuf += len(reply).to_bytes(2, "big") + reply
        if len(conn.outbuf) > OUT_MAX:
            self._close(conn)
            return
        self._flush(conn)

    def _flush(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
            del conn.outbuf[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        self.selector.modify(conn.sock, events, self.selector.get_key(conn.sock).data)

    def _expire(self, now: float) -> None:
        for conn in list(self.connections.values()):
            if now - conn.last_read > IDLE_S or now - conn.opened > LIFETIME_S:
                self._close(conn)

    def _close(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.connections.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        conn.sock.close()

    # --- messages ----------------------------------------------------------------------------------

    def _message(self, wire: bytes, target: Target, proto: str) -> None:
        ts = time.time()
        client = target[1]
        question = read_question(wire)
        if not self._allowed(client[0]):
            entry = log_entry(question if isinstance(question, Question) else None, None, [])
            entry["note"] = "not answered: the client is outside the bench's networks"
            self._write(ts, client, proto, entry)
            return
        if not isinstance(question, Question):
            self._send(target, question)
            self._write(ts, client, proto, unreadable(wire, question))
            return
        if self.upstream is not None:
            if not self.upstream.submit(target, question, ts, proto):
                busy = relay(question, None, proto)
                busy.entry["note"] = "too many questions waiting for the upstream resolvers"
                self._reply(target, question, ts, busy)
            return
        try:
            answer = self.answer(question, proto)
        except Exception as exc:  # a bug must cost one answer, not the resolver
            answer = relay(question, None, proto)
            answer.entry["note"] = f"internal error: {type(exc).__name__}"
        self._reply(target, question, ts, answer)

    def _finished(self, target: Target, question: Question, ts: float, answer: Answer) -> None:
        """Called from an upstream worker: the loop thread sends and logs."""
        self.completed.put((target, question, ts, answer))
        with contextlib.suppress(OSError):  # a full wake-up socket: the loop is awake anyway
            self.wake_w.send(b"\0")

    def _drain(self, _mask: int) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass
        while True:
            try:
                target, question, ts, answer = self.completed.get_nowait()
            except queue.Empty:
                return
            self._reply(target, question, ts, answer)

    def _reply(self, target: Target, question: Question, ts: float, answer: Answer) -> None:
        del question
        self._send(target, answer.reply)
        self._write(ts, target[1], "tcp" if target[2] else "udp", answer.entry)

    def _send(self, target: Target, reply: bytes | None) -> None:
        if reply is None:
            return
        sock, addr, conn = target
        if conn is not None:
            self._send_tcp(conn, reply)
            return
        with contextlib.suppress(OSError):  # a full buffer or a gone client: the question is still logged
            sock.sendto(reply, addr)

    def _write(self, ts: float, client: tuple[str, int], proto: str, entry: dict[str, Any]) -> None:
        line = {"ts": ts, "client": client[0], "port": client[1], "proto": proto, **entry}
        self.log.write(json.dumps(line, sort_keys=True) + "\n")
        self.log.flush()

    def _allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in self.clients if net.version == ip.version)


def open_sockets(ipv6: bool) -> list[socket.socket]:
    """UDP and TCP sockets on port 53 of every address (IPv6 too when offered), bound and listening.

    The bench opens them (port 53 needs root) inside the router namespace and passes them in.
    """
    families = [socket.AF_INET] + ([socket.AF_INET6] if ipv6 else [])
    socks = []
    try:
        for family in families:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                sock = socket.socket(family, kind)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 53))  # noqa: S104 (the router namespace)
                if kind == socket.SOCK_STREAM:
                    sock.listen(64)
    except OSError as exc:
        for sock in socks:
            sock.close()
        raise OSError(f"the resolver cannot bind port 53 in the router namespace: {exc}") from exc
    return socks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phonehome.bench.resolver_service")
    parser.add_argument("--fd", type=int, action="append", default=[], help="an inherited socket on port 53")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--mode", choices=["sinkhole", "offline", "nat"], required=True)
    parser.add_argument("--pool4", default="198.18.0.0/15")
    parser.add_argument("--pool6", default=None, help="AAAA answers from here (IPv6 offered); none: no AAAA")
    parser.add_argument("--ttl", type=int, default=300)
    parser.add_argument(
        "--upstream", action="append", default=[], help="nat: a resolver to ask (ADDRESS[#PORT])"
    )
    parser.add_argument("--client", action="append", default=[], help="a network whose hosts are answered")
    parser.add_argument("--user", default=privilege.SERVICE_USER)
    args = parser.parse_args(argv)
    socks = [socket.socket(fileno=fd) for fd in args.fd]
    clients = [ipaddress.ip_network(c, strict=False) for c in args.client]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # dnspython loads a record type's module when it first meets one: load them all while the
    # interpreter's files are still readable (they may not be to the user the process becomes).
    dns.rdata.load_all_types(disable_dynamic_load=True)  # type: ignore[no-untyped-call]
    with args.log.open("a", encoding="utf-8") as log:
        privilege.drop_privileges(privilege.service_user(args.user))
        pool = NamePool(args.pool4, args.pool6)
        ipv6 = args.pool6 is not None

        def local(question: Question, proto: str) -> Answer:
            return answer_locally(question, pool, args.ttl, ipv6, proto)

        upstream = [upstream_address(u) for u in args.upstream] if args.mode == "nat" else None
        server = Server(socks, log, local, clients, upstream)
        print(f"{READY} (pid {os.getpid()}, uid {os.getuid()}, mode {args.mode})", flush=True)
        server.serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
