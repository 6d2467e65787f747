"""The sinks: where every TCP and UDP flow of a sinkhole bench ends, and the record of what it carried.

nftables TPROXYs each flow, whatever its address and port, to one TCP and one
UDP socket in the router namespace; the socket's own address is then the
flow's original destination. The sinks answer plain HTTP with ``204 No
Content`` (Android's connectivity check passes, so the firmware goes on as if
online), keep TLS ClientHellos whole and end the handshake with an alert, and
keep the first bytes of anything else. One JSON line per connection or
datagram, flushed as written, so a killed sink loses nothing it had finished.

Runs as its own process (``python -m phonehome.bench.sinks``) so that a bench
brought up from the command line outlives the command; the bench opens and
binds the sockets itself and passes them in, so they are ready before any
handset can send. The process opens its transcript and then drops to an
unprivileged user before it reads a byte (it parses hostile input); the
transparent sockets keep working without the capability that made them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from phonehome.bench import privilege
from phonehome.traffic import tls
from phonehome.traffic.flow import TlsHello

IP_TRANSPARENT = 19
IP_RECVORIGDSTADDR = 20
IPV6_RECVORIGDSTADDR = 74
IPV6_TRANSPARENT = 75

KEEP_BYTES = 64 * 1024
"""Bytes of each flow's client data kept in the record (the capture has them all)."""
IDLE_S = 10.0
POLL_S = 0.05
"""How often blocked sink threads look whether the bench is stopping."""
MAX_CONNECTIONS = 512
HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ")
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
TLS_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])  # fatal handshake_failure (RFC 8446 6.2)
READY = "phonehome sinks: serving"


@dataclass(slots=True)
class SinkRecord:
    """What a handset sent to one destination: a TCP connection or one UDP datagram."""

    proto: str
    """``tcp`` or ``udp``."""
    client: tuple[str, int]
    dst: tuple[str, int]
    """The original destination the handset addressed (before TPROXY)."""
    ts: float
    """When the connection was accepted or the datagram received."""
    end: float
    bytes_received: int
    """Payload bytes the handset sent (all of them, even beyond what ``head`` keeps)."""
    head: bytes
    """The first ``KEEP_BYTES`` bytes the handset sent."""
    kind: str = "raw"
    """``http``, ``tls`` or ``raw``."""
    http_heads: list[str] = field(default_factory=list)
    """Each HTTP request's request line and headers, as sent (latin-1)."""
    client_hello: bytes | None = None
    """The TLS records carrying the ClientHello, exactly as sent."""

    @property
    def hello(self) -> TlsHello | None:
        """The ClientHello parsed by ``phonehome.traffic.tls`` (SNI, ALPN, versions...)."""
        if not self.client_hello:
            return None
        reader = tls.HandshakeReader(from_client=True)
        reader.feed(self.client_hello)
        return reader.hello

    @property
    def sni(self) -> str | None:
        hello = self.hello
        return hello.sni if hello else None

    def to_json(self) -> str:
        obj: dict[str, Any] = {
            "proto": self.proto,
            "client": list(self.client),
            "dst": list(self.dst),
            "ts": self.ts,
            "end": self.end,
            "bytes_received": self.bytes_received,
            "head": base64.b64encode(self.head).decode(),
            "kind": self.kind,
            "http_heads": self.http_heads,
            "client_hello": base64.b64encode(self.client_hello).decode() if self.client_hello else None,
        }
        return json.dumps(obj, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> SinkRecord:
        obj = json.loads(line)
        return cls(
            proto=obj["proto"],
            client=(obj["client"][0], int(obj["client"][1])),
            dst=(obj["dst"][0], int(obj["dst"][1])),
            ts=float(obj["ts"]),
            end=float(obj["end"]),
            bytes_received=int(obj["bytes_received"]),
            head=base64.b64decode(obj["head"]),
            kind=obj["kind"],
            http_heads=list(obj["http_heads"]),
            client_hello=base64.b64decode(obj["client_hello"]) if obj["client_hello"] else None,
        )


def read_records(path: Path) -> list[SinkRecord]:
    """The sink transcript; a last line cut by a kill is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
            records.append(SinkRecord.from_json(line))
    return records


# --- sockets (opened by the bench, inside the router namespace) ------------------------------------


def open_sockets(ipv6: bool) -> list[socket.socket]:
    """Transparent TCP and UDP sockets on one free port (IPv4, and IPv6 when offered): [tcp, udp, (tcp6, udp6)]."""
    tcp = _transparent(socket.AF_INET, socket.SOCK_STREAM, 0)
    port = tcp.getsockname()[1]
    udp = _transparent(socket.AF_INET, socket.SOCK_DGRAM, port)
    socks = [tcp, udp]
    if ipv6:
        socks += [
            _transparent(socket.AF_INET6, socket.SOCK_STREAM, port),
            _transparent(socket.AF_INET6, socket.SOCK_DGRAM, port),
        ]
    return socks


def _transparent(family: int, kind: int, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
        sock.bind(("0.0.0.0", port))  # noqa: S104  (the router namespace; TPROXY delivers any address here)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1)
        sock.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


# --- the sink process -----------------------------------------------------------------------------


class Transcript:
    """The JSON Lines file, shared by the sink's threads."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self._lock = threading.Lock()

    def write(self, record: SinkRecord) -> None:
        line = record.to_json() + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()


def orig_dst(ancdata: list[tuple[int, int, bytes]]) -> tuple[str, int] | None:
    """The original destination from IP(V6)_ORIGDSTADDR control data (a sockaddr_in or sockaddr_in6)."""
    for level, kind, data in ancdata:
        if level == socket.SOL_IP and kind == IP_RECVORIGDSTADDR and len(data) >= 8:
            port = struct.unpack("!H", data[2:4])[0]
            return socket.inet_ntop(socket.AF_INET, data[4:8]), port
        if level == socket.IPPROTO_IPV6 and kind == IPV6_RECVORIGDSTADDR and len(data) >= 24:
            port = struct.unpack("!H", data[2:4])[0]
            return socket.inet_ntop(socket.AF_INET6, data[8:24]), port
    return None


def serve_udp(sock: socket.socket, out: Transcript, stop: threading.Event) -> None:
    sock.settimeout(POLL_S)
    while not stop.is_set():
        try:
            data, anc, _flags, addr = sock.recvmsg(65535, 256)
        except TimeoutError:
            continue
        except OSError:
            return
        now = time.time()
        dst = orig_dst(anc) or ("?", 0)
        out.write(SinkRecord("udp", (addr[0], addr[1]), dst, now, now, len(data), data[:KEEP_BYTES]))


def serve_tcp(sock: socket.socket, out: Transcript, stop: threading.Event) -> None:
    sock.settimeout(POLL_S)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    workers: list[threading.Thread] = []
    while not stop.is_set():
        try:
            conn, addr = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        if not slots.acquire(blocking=False):
            conn.close()  # a flood: the capture still has it; the sink stays alive
            continue
        thread = threading.Thread(target=_connection, args=(conn, addr, out, stop, slots), daemon=True)
        thread.start()
        workers = [w for w in workers if w.is_alive()] + [thread]
    for worker in workers:  # each notices `stop` within POLL_S and writes its record
        worker.join(2.0)


def _connection(
    conn: socket.socket,
    addr: Any,
    out: Transcript,
    stop: threading.Event,
    slots: threading.BoundedSemaphore,
) -> None:
    record = SinkRecord("tcp", (addr[0], addr[1]), _sockname(conn), time.time(), 0.0, 0, b"")
    try:
        _converse(conn, record, stop)
    except OSError:
        pass
    finally:
        record.end = time.time()
        with contextlib.suppress(OSError):
            conn.close()
        out.write(record)
        slots.release()


def _sockname(conn: socket.socket) -> tuple[str, int]:
    name = conn.getsockname()
    return name[0], name[1]


def _chunks(conn: socket.socket, stop: threading.Event) -> Iterator[bytes]:
    """Client data until it closes, goes idle or the sink stops."""
    conn.settimeout(POLL_S)
    idle_since = time.monotonic()
    while not stop.is_set() and time.monotonic() - idle_since < IDLE_S:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        idle_since = time.monotonic()
        yield data


def _converse(conn: socket.socket, record: SinkRecord, stop: threading.Event) -> None:
    buf = b""
    reader = tls.HandshakeReader(from_client=True)
    for data in _chunks(conn, stop):
        record.bytes_received += len(data)
        if len(record.head) < KEEP_BYTES:
            record.head += data[: KEEP_BYTES - len(record.head)]
        if record.kind == "raw" and len(record.head) == len(data):  # the first chunk decides
            if data[:1] == b"\x16" and data[1:2] == b"\x03":
                record.kind = "tls"
            elif data.startswith(HTTP_METHODS):
                record.kind = "http"
        if record.kind == "tls" and reader.feed(data) is not tls.ReadState.NEED_MORE:
            record.client_hello = record.head[: reader.consumed]
            conn.sendall(TLS_ALERT)
            return
        if record.kind == "http":
            buf += data
            buf = _answer_http(conn, buf, record)


def _answer_http(conn: socket.socket, buf: bytes, record: SinkRecord) -> bytes:
    """Answers each complete request in ``buf`` with 204; returns what is left of it."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return buf[-KEEP_BYTES:]
        head = buf[:end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                with contextlib.suppress(ValueError):
                    length = max(0, int(value.strip()))
        if len(buf) < end + 4 + length and length <= KEEP_BYTES:
            return buf  # wait for the body
        record.http_heads.append(head.decode("latin-1"))
        conn.sendall(NO_CONTENT)
        buf = buf[end + 4 + length :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phonehome.bench.sinks")
    parser.add_argument("--fd", type=int, action="append", default=[], help="an inherited socket")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--user", default=privilege.SERVICE_USER, help="who to run as once the files are open"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with args.out.open("a", encoding="utf-8") as fh:
        privilege.drop_privileges(privilege.service_user(args.user))
        out = Transcript(fh)
        threads = []
        for fd in args.fd:
            sock = socket.socket(fileno=fd)
            serve = serve_tcp if sock.type == socket.SOCK_STREAM else serve_udp
            threads.append(threading.Thread(target=serve, args=(sock, out, stop), daemon=True))
        for thread in threads:
            thread.start()
        print(f"{READY} (pid {os.getpid()}, uid {os.getuid()})", flush=True)
        while not stop.wait(1.0):
            pass
        for thread in threads:
            thread.join(3.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
