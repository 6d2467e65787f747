"""The sink process: one asyncio loop over the sockets the bench bound, bounded whatever the handset does.

A handset that opens thousands of connections and never sends, trickles one
byte at a time, or floods UDP cannot starve the sinks or fill the disk
unnoticed: connections are limited per source address and in total, and at a
limit the least recently active connection is cut so the newest is still
served; idle connections are closed; the transcript has a cap. Every
connection the sink refused or cut, every datagram the socket dropped, every
record it could not write is counted in the statistics file, which the bench
turns into problems of the capture (``sinks.problems``).

asyncio protocols rather than a thread per connection (UDP: ``sink_udp``): 4,000 idle
connections cost a few MB, and timeouts are one sweep a second instead of a
timer per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phonehome.bench.sink_talk import Conversation
from phonehome.bench.sink_udp import UdpReader
from phonehome.bench.sinks import SinkRecord

SWEEP_S = 1.0
"""How often idle connections are closed, UDP summaries written and statistics refreshed."""
RCVBUF_BYTES = 16 << 20
"""The UDP socket's kernel buffer (set as root, SO_RCVBUFFORCE): what absorbs a burst the loop is behind on."""
LISTEN_BACKLOG = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """What the sinks allow one bench's handsets (``sinks:`` and ``disk:`` in the definition)."""

    max_connections: int = 4096
    per_source: int = 512
    idle_s: float = 10.0
    transcript_bytes: int = 256 << 20


@dataclass
class Stats:
    """Counters of the sink process, written to its statistics file (JSON, one line)."""

    limits: dict[str, Any] = field(default_factory=dict)
    accepted: int = 0
    refused: int = 0
    """Connections the sink could not take at all (out of file descriptors)."""
    cut: dict[str, int] = field(default_factory=dict)
    """Connections the sink ended itself before the client did, by reason (eviction at a limit)."""
    idle_closed: int = 0
    """Connections closed after ``idle_s`` without a byte (not a loss: the client was not using them)."""
    udp_datagrams: int = 0
    udp_dropped: int = 0
    """Datagrams the kernel dropped because the sink's socket buffer was full (/proc/net/udp drops)."""
    listen_drops: int = 0
    """Connection attempts the router namespace's listen queues dropped (TcpExt ListenDrops)."""
    records_written: int = 0
    records_not_written: int = 0
    transcript_bytes: int = 0
    transcript_capped: bool = False
    transcript_error: str | None = None
    uid: int = -1
    updated: float = 0.0
    final: bool = False


class StatsFile:
    """The statistics, rewritten in place through a descriptor opened before the sink dropped root."""

    def __init__(self, fd: int, stats: Stats) -> None:
        self.fd = fd
        self.stats = stats
        self._pending = False

    def soon(self) -> None:
        """Writes at the next turn of the loop (a cut or a cap is on disk before the bench asks)."""
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self.write)

    def write(self) -> None:
        self._pending = False
        self.stats.updated = time.time()
        data = (json.dumps(asdict(self.stats), sort_keys=True) + "\n").encode()
        with contextlib.suppress(OSError):  # a full disk: the transcript error says so already
            os.pwrite(self.fd, data, 0)
            os.ftruncate(self.fd, len(data))


class Transcript:
    """The JSON Lines file of records, with a cap; a write the disk refuses stops the writer, counted."""

    def __init__(self, fd: int, cap: int, stats: StatsFile) -> None:
        self.fd = fd
        self.cap = cap
        self.stats = stats
        self._buf: list[bytes] = []
        self._pending = False

    def write(self, record: SinkRecord) -> None:
        line = (record.to_json() + "\n").encode()
        stats = self.stats.stats
        if stats.transcript_error or stats.transcript_bytes + len(line) > self.cap:
            stats.records_not_written += 1
            if not stats.transcript_capped and not stats.transcript_error:
                stats.transcript_capped = True
                self.stats.soon()
            return
        stats.transcript_bytes += len(line)
        stats.records_written += 1
        self._buf.append(line)
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """One write per turn of the loop: a killed sink loses at most the records of that turn."""
        self._pending = False
        data, self._buf = b"".join(self._buf), []
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            stats = self.stats.stats
            stats.transcript_error = f"{exc.strerror or exc} after {stats.transcript_bytes - len(view)} bytes"
            self.stats.soon()


class TcpConnection(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.talk = Conversation()
        self.record = SinkRecord("tcp", ("?", 0), ("?", 0), time.time(), 0.0, 0, b"")
        self.last = time.monotonic()
        self.closed_by = "client"

    @property
    def source(self) -> str:
        return self.record.client[0]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer, name = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.record.client = (str(peer[0]), int(peer[1])) if peer else ("?", 0)
        self.record.dst = (str(name[0]), int(name[1])) if name else ("?", 0)
        self.sink.admit(self)

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.sink.touch(self)
        try:
            reply = self.talk.feed(data)
        except Exception as exc:  # a sink bug on hostile input: this connection ends, counted as cut
            self.sink.failed(self, exc)
            return
        if reply and self.transport is not None:
            self.transport.write(reply)
        if self.talk.done and self.transport is not None:
            self.closed_by = "sink: TLS alert after the ClientHello"
            self.transport.close()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        """The handset does not read its answers (pipelined requests): stop reading until it does, so
        the answers queued for it stay bounded (the transport's high-water mark, 64 KiB)."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def end(self, reason: str) -> None:
        """The sink ends the connection (reset): idle, evicted, or the sink stopping."""
        self.closed_by = reason
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.release(self)
        heard = self.talk.heard
        record = self.record
        record.end = time.time()
        record.bytes_received = heard.bytes_received
        record.head = heard.head
        record.kind = heard.kind
        record.http_heads = heard.http_heads
        record.http_requests = heard.http_requests
        record.client_hello = heard.client_hello
        record.sha256 = self.talk.sha256
        record.closed_by = self.closed_by
        self.sink.transcript.write(record)


class Sink:
    def __init__(self, limits: Limits, transcript: Transcript, stats: StatsFile) -> None:
        self.limits = limits
        self.transcript = transcript
        self.stats = stats
        self.by_source: dict[str, OrderedDict[TcpConnection, None]] = {}
        """Open connections per source address, least recently active first."""
        self.open = 0
        self.udp: list[UdpReader] = []
        self._listen_drops_at_start = listen_drops()

    def admit(self, conn: TcpConnection) -> None:
        """Takes a new connection; at a limit the least recently active one (of its source, or of the
        busiest source) is cut so that the newest is still served."""
        limits, stats = self.limits, self.stats.stats
        stats.accepted += 1
        mine = self.by_source.setdefault(conn.source, OrderedDict())
        if len(mine) >= limits.per_source:
            self.evict(next(iter(mine)), f"evicted at the per-source limit ({limits.per_source})")
        elif self.open >= limits.max_connections:
            busiest = max(self.by_source.values(), key=len)
            self.evict(next(iter(busiest)), f"evicted at the connection limit ({limits.max_connections})")
        mine[conn] = None
        self.open += 1

    def touch(self, conn: TcpConnection) -> None:
        mine = self.by_source.get(conn.source)
        if mine is not None and conn in mine:
            mine.move_to_end(conn)

    def release(self, conn: TcpConnection) -> None:
        mine = self.by_source.get(conn.source)
        if mine is not None and conn in mine:
            del mine[conn]
            self.open -= 1
            if not mine:
                del self.by_source[conn.source]

    def evict(self, victim: TcpConnection, reason: str) -> None:
        self.release(victim)
        cut = self.stats.stats.cut
        cut[reason] = cut.get(reason, 0) + 1
        victim.end(f"sink: {reason}")
        self.stats.soon()

    def sweep(self) -> None:
        now = time.monotonic()
        for conns in list(self.by_source.values()):
            for conn in list(conns):
                if now - conn.last >= self.limits.idle_s:
                    self.release(conn)
                    self.stats.stats.idle_closed += 1
                    conn.end(f"sink: idle for {self.limits.idle_s:g} s")
        for reader in self.udp:
            reader.sweep(time.time(), SWEEP_S)
        self.refresh()

    def refresh(self) -> None:
        stats = self.stats.stats
        before = (stats.udp_dropped, stats.listen_drops)
        stats.udp_dropped = sum(reader.dropped() for reader in self.udp)
        stats.listen_drops = max(0, listen_drops() - self._listen_drops_at_start)
        if (stats.udp_dropped, stats.listen_drops) != before:
            self.stats.soon()

    def failed(self, conn: TcpConnection, exc: Exception) -> None:
        self.release(conn)
        reason = f"sink error ({type(exc).__name__})"
        cut = self.stats.stats.cut
        cut[reason] = cut.get(reason, 0) + 1
        if sum(cut.values()) <= ERRORS_PRINTED:
            print(f"phonehome sinks: {conn.record.client} -> {conn.record.dst}: {exc!r}", flush=True)
        conn.end(f"sink: {reason}")
        self.stats.soon()

    def refused(self, exc: OSError) -> None:
        self.stats.stats.refused += 1
        self.stats.soon()

    def stop(self) -> None:
        for conns in list(self.by_source.values()):
            for conn in list(conns):
                self.release(conn)
                conn.end("sink: the bench stopped")
        for reader in self.udp:
            for key, flow in list(reader.flows.items()):
                reader.summarise(key, flow)


def listen_drops() -> int:
    """TcpExt ListenDrops of this network namespace (/proc/net/netstat): SYNs no listen queue took."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenDrops", 0))
    return 0


async def serve(
    socks: list[socket.socket],
    limits: Limits,
    transcript: Transcript,
    stats: StatsFile,
    stopping: asyncio.Event | None = None,
) -> None:
    """Serves until ``stopping`` is set (by default: SIGTERM or SIGINT), then ends every connection and
    writes the last records and the final statistics."""
    loop = asyncio.get_running_loop()
    if stopping is None:
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    sink = Sink(limits, transcript, stats)
    loop.set_exception_handler(lambda _loop, context: _loop_error(sink, context))
    servers = []
    for sock in socks:
        if sock.type == socket.SOCK_STREAM:
            sock.setblocking(False)
            server = await loop.create_server(lambda: TcpConnection(sink), sock=sock, backlog=LISTEN_BACKLOG)
            servers.append(server)
        else:
            reader = UdpReader(sock, transcript, stats)
            sink.udp.append(reader)
            loop.add_reader(sock.fileno(), reader.ready)
    stats.write()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), SWEEP_S)
        sink.sweep()
    for server in servers:
        server.close()
    for reader in sink.udp:
        reader.ready()  # what is already queued
        loop.remove_reader(reader.sock.fileno())
    sink.stop()
    for _ in range(3):  # connection_lost runs on the next turns: their records
        await asyncio.sleep(0)
    sink.refresh()
    transcript.flush()
    stats.stats.final = True
    stats.write()


ERRORS_PRINTED = 20
"""Internal errors printed to the sink's log; later ones are only counted (the handset could repeat them)."""


def _loop_error(sink: Sink, context: dict[str, Any]) -> None:
    """What asyncio could not handle: a failed accept (no descriptors left) is a refused connection;
    a callback that raised (a sink bug on hostile input) ends its connection, counted as cut."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
        sink.refused(exc)
        return
    stats = sink.stats.stats
    reason = f"sink error ({type(exc).__name__ if exc else 'unknown'})"
    stats.cut[reason] = stats.cut.get(reason, 0) + 1
    sink.stats.soon()
    if sum(stats.cut.values()) <= ERRORS_PRINTED:
        print(f"phonehome sinks: {context.get('message')}: {exc!r}", flush=True)


def raise_file_limit(wanted: int) -> None:
    """Room for ``wanted`` descriptors (up to the hard limit), before root is dropped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
