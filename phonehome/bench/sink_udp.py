"""The UDP sink: datagrams read in batches, one record each for a flow's first ones, then summed.

A flood from one flow costs the transcript a few records, not one per datagram: after
``UDP_RECORDS_PER_FLOW`` datagrams, a flow's further ones are counted, sized and hashed (SHA-256 of
their concatenation, in order) into one ``summary`` record per idle spell. The kernel's drop counter of
the socket says how many the sink never saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.bench.sinks import SinkRecord, orig_dst

if TYPE_CHECKING:
    from phonehome.bench.sink_service import StatsFile, Transcript

UDP_BATCH = 512
"""Datagrams read per wake-up before other sockets get their turn."""
UDP_RECORDS_PER_FLOW = 32
"""Datagrams of one flow (client address and port, destination) recorded one by one; later ones of the
same flow are summed into one record (count, bytes, SHA-256 of their concatenation) per idle spell."""
UDP_FLOWS_TRACKED = 4096
UDP_HEAD_BYTES = 256


@dataclass
class _UdpFlow:
    seen: int = 0
    summed: int = 0
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0
    sha: Any = None


class UdpReader:
    """Reads a transparent UDP socket in batches; one record per datagram, then per-flow summaries."""

    def __init__(self, sock: socket.socket, transcript: Transcript, stats: StatsFile) -> None:
        self.sock = sock
        self.transcript = transcript
        self.stats = stats
        self.flows: OrderedDict[tuple[str, int, str, int], _UdpFlow] = OrderedDict()
        self.inode = os.fstat(sock.fileno()).st_ino
        sock.setblocking(False)

    def ready(self) -> None:
        for _ in range(UDP_BATCH):
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65535, 256)
            except BlockingIOError:
                return
            except OSError:
                return
            self.datagram(data, orig_dst(anc) or ("?", 0), (str(addr[0]), int(addr[1])))

    def datagram(self, data: bytes, dst: tuple[str, int], client: tuple[str, int]) -> None:
        stats = self.stats.stats
        stats.udp_datagrams += 1
        now = time.time()
        key = (*client, *dst)
        flow = self.flows.get(key)
        if flow is None:
            flow = self.flows[key] = _UdpFlow()
            if len(self.flows) > UDP_FLOWS_TRACKED:
                self.summarise(*self.flows.popitem(last=False))
        self.flows.move_to_end(key)
        flow.seen += 1
        flow.last = now
        if flow.seen <= UDP_RECORDS_PER_FLOW:
            record = SinkRecord("udp", client, dst, now, now, len(data), data[:UDP_HEAD_BYTES])
            record.sha256 = hashlib.sha256(data).hexdigest()
            self.transcript.write(record)
            return
        if not flow.summed:
            flow.first, flow.sha = now, hashlib.sha256()
        flow.summed += 1
        flow.bytes += len(data)
        flow.sha.update(data)

    def summarise(self, key: tuple[str, int, str, int], flow: _UdpFlow) -> None:
        if not flow.summed:
            return
        record = SinkRecord("udp", key[:2], key[2:], flow.first, flow.last, flow.bytes, b"", kind="summary")
        record.datagrams = flow.summed
        record.sha256 = flow.sha.hexdigest()
        self.transcript.write(record)
        flow.summed, flow.bytes, flow.sha = 0, 0, None

    def sweep(self, now: float, idle: float) -> None:
        for key, flow in list(self.flows.items()):
            if now - flow.last >= idle:
                self.summarise(key, flow)
                if now - flow.last >= 60 * idle:
                    del self.flows[key]

    def dropped(self) -> int:
        """The kernel's drop counter of this socket (last column of /proc/net/udp and udp6)."""
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9] == str(self.inode):
                        return int(cols[-1])
        return 0
