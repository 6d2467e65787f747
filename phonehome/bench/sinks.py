"""The sinks: where every TCP and UDP flow of a sinkhole bench ends, and the record of what it carried.

nftables TPROXYs each flow, whatever its address and port, to one TCP and one
UDP socket in the router namespace; the socket's own address is then the
flow's original destination. What the sinks answer is ``sink_talk``; how they
stay up under a hostile handset is ``sink_service``. One JSON line per
connection or datagram, referring to the capture's bytes (times, addresses,
sizes, SHA-256, the first bytes) rather than copying them.

Runs as its own process (``python -m phonehome.bench.sinks``) so that a bench
brought up from the command line outlives the command; the bench opens and
binds the sockets itself and passes them in, so they are ready before any
handset can send. The process opens its files, then drops root for good
before it reads a byte of the handset's (it parses hostile TLS and HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.bench import privilege
from phonehome.traffic import tls
from phonehome.traffic.flow import TlsHello

if TYPE_CHECKING:
    from phonehome.bench.definition import BenchDef

IP_TRANSPARENT = 19
IP_RECVORIGDSTADDR = 20
IPV6_RECVORIGDSTADDR = 74
IPV6_TRANSPARENT = 75

SO_RCVBUFFORCE = 33
READY = "phonehome sinks: serving"
"""The line the sink process prints once it serves, unprivileged."""
STATS_NAME = "sinks-stats.json"


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
    """The first bytes the handset sent (TCP: up to 1 KiB, UDP: 256 bytes; the capture has them all)."""
    kind: str = "raw"
    """``http``, ``tls`` or ``raw``; ``summary`` for a UDP flow's datagrams beyond the first few."""
    http_heads: list[str] = field(default_factory=list)
    """Each HTTP request's request line and headers, as sent (latin-1; the first 256)."""
    client_hello: bytes | None = None
    """The TLS records carrying the ClientHello, exactly as sent."""
    sha256: str = ""
    """SHA-256 of every byte the handset sent on the connection (a summary: of its datagrams, in order)."""
    closed_by: str = ""
    """TCP: ``client``, or ``sink: ...`` with the reason the sink ended it (idle, evicted at a limit...)."""
    http_requests: int = 0
    """HTTP requests answered on the connection (``http_heads`` keeps the first 256)."""
    datagrams: int = 1
    """UDP: datagrams this record stands for (more than one for a ``summary``)."""

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
            "sha256": self.sha256,
            "closed_by": self.closed_by,
            "http_requests": self.http_requests,
            "datagrams": self.datagrams,
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
            sha256=str(obj.get("sha256", "")),
            closed_by=str(obj.get("closed_by", "")),
            http_requests=int(obj.get("http_requests", 0)),
            datagrams=int(obj.get("datagrams", 1)),
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


def open_tcp(ipv6: bool) -> list[socket.socket]:
    """Transparent listening TCP sockets on one free port (IPv4, and IPv6 when offered): the TLS service's."""
    tcp = _transparent(socket.AF_INET, socket.SOCK_STREAM, 0)
    socks = [tcp]
    if ipv6:
        socks.append(_transparent(socket.AF_INET6, socket.SOCK_STREAM, tcp.getsockname()[1]))
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


# --- limits, statistics and what they mean for the capture -------------------------------------------


def sink_args(defn: BenchDef, workdir: Path, stats: str = STATS_NAME) -> list[str]:
    """The sink process's options from the definition: its limits, caps, statistics file and user (the
    TLS service, which stands in for the sinks, takes the same)."""
    spec = defn.sinks
    return [
        "--stats",
        str(workdir / stats),
        "--max-connections",
        str(spec.max_connections),
        "--per-source",
        str(spec.per_source),
        "--idle",
        str(spec.idle_seconds),
        "--transcript-mb",
        str(defn.disk.transcripts_mb),
        "--user",
        spec.user,
    ]


def read_stats(path: Path) -> dict[str, Any] | None:
    """The sink's statistics (its first line); None when absent or unreadable (a rewrite in progress)."""
    for _ in range(3):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        with contextlib.suppress(ValueError):
            data = json.loads(text.split("\n", 1)[0])
            if isinstance(data, dict):
                return data
    return None


def problems(workdir: Path) -> list[str]:
    """What the sinks' statistics say the capture's sink records lack, one line each (empty: nothing).

    Any refused or cut connection is a problem (the handset may have tried one the transcript does
    not have), and so is a dropped datagram or connection attempt and a transcript cut short.
    """
    path = workdir / STATS_NAME
    stats = read_stats(path)
    if stats is None:
        return [f"the sinks wrote no statistics ({path}): whether they refused connections is unknown"]
    found = []
    limits = stats.get("limits", {})
    cut = stats.get("cut") or {}
    if stats.get("refused"):
        found.append(
            f"the sinks could not accept {stats['refused']} time(s) (out of file descriptors): connections "
            "the handset tried may be missing from the sink records"
        )
    for reason, count in sorted(cut.items()):
        found.append(
            f"the sinks cut {count} connection(s): {reason} (limits: {limits.get('per_source')} per source, "
            f"{limits.get('max_connections')} in all); what the handset sent on them after that is not recorded"
        )
    if stats.get("listen_drops"):
        found.append(
            f"the router's listen queues dropped {stats['listen_drops']} connection attempt(s) (a flood of "
            "new connections): the handset's connections may be missing"
        )
    if stats.get("udp_dropped"):
        found.append(
            f"the sinks' UDP socket dropped {stats['udp_dropped']} of "
            f"{stats['udp_dropped'] + stats.get('udp_datagrams', 0)} datagrams (the handset sent faster than "
            "the sink reads): they are in the capture only"
        )
    if stats.get("transcript_error"):
        found.append(
            f"the sink transcript could not be written ({stats['transcript_error']}): "
            f"{stats.get('records_not_written', 0)} record(s) are missing"
        )
    elif stats.get("transcript_capped"):
        cap = int(limits.get("transcript_bytes", 0)) >> 20
        found.append(
            f"the sink transcript reached its cap (disk.transcripts_mb: {cap} MB): "
            f"{stats.get('records_not_written', 0)} record(s) were not written"
        )
    return found


# --- the sink process ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from phonehome.bench import sink_service  # noqa: PLC0415  (it imports this module)

    parser = argparse.ArgumentParser(prog="python -m phonehome.bench.sinks")
    parser.add_argument("--fd", type=int, action="append", default=[], help="an inherited socket")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stats", type=Path, help=f"default: {STATS_NAME} beside --out")
    default = sink_service.Limits()
    parser.add_argument("--max-connections", type=int, default=default.max_connections)
    parser.add_argument("--per-source", type=int, default=default.per_source)
    parser.add_argument("--idle", type=float, default=default.idle_s)
    parser.add_argument("--transcript-mb", type=int, default=default.transcript_bytes >> 20)
    parser.add_argument("--user", default="nobody", help="who to run as once the files are open")
    args = parser.parse_args(argv)
    limits = sink_service.Limits(args.max_connections, args.per_source, args.idle, args.transcript_mb << 20)
    out = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    stats_fd = os.open(
        args.stats or args.out.with_name(STATS_NAME),
        os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
        0o600,
    )
    for fd in (out, stats_fd):
        os.fchmod(fd, 0o600)  # results hold identifiers: their owner's only
    socks = [socket.socket(fileno=fd) for fd in args.fd]
    for sock in socks:
        if sock.type == socket.SOCK_DGRAM:
            with contextlib.suppress(OSError):  # SO_RCVBUFFORCE: beyond rmem_max, needs CAP_NET_ADMIN
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, sink_service.RCVBUF_BYTES)
    sink_service.raise_file_limit(limits.max_connections + 256)
    stats = sink_service.Stats(limits=dataclasses.asdict(limits))
    privilege.drop_privileges(privilege.service_user(args.user))
    stats.uid = os.getuid()
    stats_file = sink_service.StatsFile(stats_fd, stats)
    transcript = sink_service.Transcript(out, limits.transcript_bytes, stats_file)
    print(f"{READY} (pid {os.getpid()}, uid {os.getuid()})", flush=True)
    asyncio.run(sink_service.serve(socks, limits, transcript, stats_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
