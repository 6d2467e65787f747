"""The streaming pipeline: capture files -> frames -> IP -> TCP/UDP flows -> sessions -> Flow records.

One pass, packet by packet, memory independent of the capture's size: the
readers stream, streams and parsers are bounded, flows that no longer need
their payload only count it, and flows that end or go idle release their
state. The per-packet path is hand-written over ``struct`` and indexing
rather than a packet library: a full decode per packet (dpkt) runs at
~49 MB/s here, a third of the throughput this needs (shared/notes/bench-facts.md);
Ethernet/IPv4 is inlined and everything else goes through ``link`` and ``ip``.

Byte counts hold for every flow (a stream's extent, retransmissions once);
gaps (``Flow.gaps_c2s``/``gaps_s2c``) are measured while a direction is
reassembled, so losses after it switched to counting only are not counted.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, cast

from phonehome.traffic import ip, link, naming, pcapng, tunnels
from phonehome.traffic.analysis import Analysis, Stats
from phonehome.traffic.flow import FlowObserver, Tunnel
from phonehome.traffic.flowtable import FlowTable, Side
from phonehome.traffic.fragments import Reassembler
from phonehome.traffic.keylog import KeyLog, load_keylog
from phonehome.traffic.otherflows import OtherFlows
from phonehome.traffic.pcapfile import CaptureError, CaptureFile, CaptureReader, Packet, open_capture
from phonehome.traffic.sessions import BODY_BUDGET, Context
from phonehome.traffic.tcp import ACK, FIN, HALF, MASK, MAX_JUMP, RST, SYN
from phonehome.traffic.tcp_session import TcpSession
from phonehome.traffic.udp_session import UdpSession

BODY_LIMIT: Final = 1 << 20
"""HTTP body bytes kept per request by default (leak detection scans them)."""
MAX_TUNNEL_DEPTH: Final = 4
CLOCK_STEP_S: Final = 1.0
"""A frame this much earlier than the one before it is a step of the capture's clock."""

_TCP_HEAD: Final = struct.Struct("!4xI4xBB").unpack_from  # sequence number, data offset, flags
_UDP_HEAD: Final = struct.Struct("!HHH").unpack_from


class Engine:
    """Runs the pipeline over capture files one after another, as one sequence."""

    def __init__(
        self,
        observer: FlowObserver | None = None,
        *,
        body_limit: int = BODY_LIMIT,
        keys: KeyLog | None = None,
    ) -> None:
        self.observer = observer
        self.stats = Stats()
        self.malformed: Counter[str] = Counter()
        self.book = naming.DnsBook()
        self.keys = keys if keys is not None else KeyLog()
        """TLS secrets: a key log given to ``analyze`` and every Decryption Secrets Block read so far."""
        self.ctx = Context(observer, self.book, self.malformed, body_limit, self.keys)
        self.table = FlowTable(self.ctx, observer, self.malformed)
        self.flows = self.table.flows
        self.others = OtherFlows(self.table, self.stats, self.malformed)
        self.fragments = Reassembler(self.malformed, on_lost=self.others.lost_fragments)
        self.frame = 0
        self.now = 0.0
        self.next_sweep = 0.0
        self.prev_ts = -math.inf
        self.warnings: list[str] = []

    # -- the packet loop -----------------------------------------------------------------------------

    def run(self, reader: CaptureReader) -> None:
        """Analyzes every packet of one file; flows carry over to the next file."""
        first = self.frame
        reader.on_secrets = self._secrets
        self._loop(reader.packets(), 0)
        self.stats.frames += self.frame - first

    def _secrets(self, secrets_type: int, data: bytes) -> None:
        """A pcapng Decryption Secrets Block: TLS key log lines apply to the packets after it."""
        if secrets_type == pcapng.SECRETS_TLS_KEYLOG:
            self.keys.add(data)
        else:
            kind = pcapng.SECRETS_TYPES.get(secrets_type, f"0x{secrets_type:08x}")
            warning = f"decryption secrets of type {kind} in the capture are not used (only TLS key logs are)"
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _loop(self, packets: Iterable[Packet], depth: int) -> int:
        """The per-packet path; returns how many packets reached no flow (each counted by reason).

        ``depth`` > 0: packets found inside a tunnel, numbered as their carrier.
        """
        stats = self.stats
        malformed = self.malformed
        table = self.table
        ctx = self.ctx
        tcp_table, udp_table = table.tcp, table.udp
        parse_ip, link_decode, fragment_add = ip.parse, link.decode, self.fragments.add
        tcp_head, udp_head = _TCP_HEAD, _UDP_HEAD
        Malformed, Fragment = ip.Malformed, ip.Fragment  # locals for speed
        frame = self.frame - (1 if depth else 0)
        next_sweep = self.next_sweep
        prev_ts = self.prev_ts if not depth else -math.inf
        count_macs = not depth  # frames of the capture, not the ones tunnels carried
        count_mac, side_mac = table.count_mac, table.side_mac
        scope = table.scope
        dropped = non_ip = ip_packets = tcp_packets = udp_packets = 0
        tunnel_ports = tunnels.PORTS
        # Declared: struct gives Any, and compiled code would then compare and add boxed objects.
        seq: int
        offbyte: int
        flags: int
        sport: int
        dport: int
        ulen: int
        for ts, linktype, data, _orig in packets:
            frame += 1
            if ts < prev_ts:
                table.clock_back(prev_ts, ts)
                if prev_ts - ts > CLOCK_STEP_S:
                    stats.clock_steps += 1
                    stats.largest_clock_step = max(stats.largest_clock_step, prev_ts - ts)
                    next_sweep = min(next_sweep, ts)  # keep sweeping idle flows on the new clock
            prev_ts = ts
            if ts >= next_sweep:
                self.now = max(self.now, ts)
                next_sweep = table.sweep(ts)
            # Fast path: Ethernet, IPv4 with a 20-byte header, not a fragment: the 4-tuple key is one slice.
            if (
                linktype == 1
                and len(data) >= 34
                and data[12] == 8
                and data[13] == 0
                and data[14] == 0x45
                and not data[20] & 0x3F
                and not data[21]
            ):
                macs = count_macs  # counted per flow direction below, or here when it reaches none
                total = (data[16] << 8) | data[17]
                end = 14 + total
                cut = 0
                if end > len(data) or total < 20:
                    if total == 0:  # TSO/GSO frame captured before segmentation
                        end = len(data)
                    elif total < 20:
                        malformed["ipv4-header-length"] += 1
                        dropped += 1
                        if macs:
                            count_mac(data[6:12])
                        continue
                    else:
                        cut = end - len(data)
                        end = len(data)
                proto = data[23]
                buf = data
                start = 34
                key = data[26:38]  # source, destination, then the transport header's two ports
                fast = True
            else:
                macs = False
                if count_macs and linktype in link.MAC_HEADERS:
                    self.others.count_mac(linktype, data)
                etype, off = link_decode(linktype, data)
                if etype < 0:
                    if etype == link.TRUNCATED:
                        malformed["link-truncated"] += 1
                        dropped += 1
                    else:
                        non_ip += 1
                        if linktype not in link.SUPPORTED and linktype not in stats.unsupported_link_types:
                            stats.unsupported_link_types.append(linktype)
                        self.frame, self.next_sweep = frame, next_sweep
                        if not self.others.frame_without_ip(linktype, data, ts=ts, frame=frame):
                            dropped += 1  # (inside a tunnel: the carrier keeps the bytes)
                    continue
                try:
                    packet = parse_ip(data, off, etype)
                except Malformed as exc:
                    malformed[exc.reason] += 1
                    if exc.reason == "ip-fragment-truncated":
                        stats.truncated_fragments += 1
                    dropped += 1
                    continue
                if type(packet) is Fragment:
                    whole = fragment_add(packet, ts, frame)
                    if whole is None:
                        continue  # held until its datagram completes (or given up: then it reaches a flow)
                    stats.fragments_reassembled += 1
                    packet = whole
                proto, src, dst, buf, start, end, cut = packet  # type: ignore[misc]
                key = src + dst + buf[start : start + 4]
                fast = False
            if depth:
                key += scope
            ip_packets += 1
            if cut:
                stats.snaplen_cut_packets += 1
            if proto == 6:
                tcp_packets += 1
                if end - start < 20:
                    malformed["tcp-truncated"] += 1
                    dropped += 1
                    if macs:
                        count_mac(data[6:12])
                    continue
                seq, offbyte, flags = tcp_head(buf, start)
                payload = start + (offbyte >> 4) * 4
                if payload < start + 20 or payload > end:
                    malformed["tcp-header-length"] += 1
                    dropped += 1
                    if macs:
                        count_mac(data[6:12])
                    continue
                side = tcp_table.get(key)
                if side is None or (flags & SYN and not flags & ACK and table.new_syn(side, seq)):
                    table.frame = frame
                    side = table.new_tcp(
                        key, flags, ts=ts, linktype=linktype, frame_data=data, payload=buf[payload:end]
                    )
                side.packets += 1
                side.last_ts = ts
                side.last_frame = frame
                if macs:
                    if data[6:12] == side.mac:
                        side.mac_frames += 1
                    else:
                        side_mac(side, data[6:12])
                stream = side.stream
                if stream is None:
                    stream = table.open_stream(side, seq, flags, buf[payload:end], cut)
                n = end - payload
                if (n or cut) and stream is not None:
                    if stream.deliver is None:  # counting only: the stream's extent, retransmissions once
                        jump = ((seq + n + cut - stream.base - stream.high + HALF) & MASK) - HALF
                        if 0 < jump <= MAX_JUMP:
                            stream.high += jump
                    else:
                        cast(TcpSession, side.session).ts = ts  # a TCP flow's (typed: a native store)
                        ctx.linktype = linktype
                        ctx.frame_data = data
                        stream.add(seq, buf[payload:end], frame, cut)
                if flags & (FIN | RST):
                    side.fin = True
                    state = side.state
                    if flags & RST or (state.c2s.fin and state.s2c.fin):
                        state.flow.closed = True
                        if state.closed_at is None:
                            table.closing(state, ts)
            elif proto == 17:
                udp_packets += 1
                if end - start < 8:
                    malformed["udp-truncated"] += 1
                    dropped += 1
                    if macs:
                        count_mac(data[6:12])
                    continue
                side = udp_table.get(key)
                if side is None:
                    table.frame = frame
                    side = table.new_udp(
                        key, ts=ts, linktype=linktype, frame_data=data, payload=buf[start + 8 : end]
                    )
                side.packets += 1
                side.last_ts = ts
                side.last_frame = frame
                if macs:
                    if data[6:12] == side.mac:
                        side.mac_frames += 1
                    else:
                        side_mac(side, data[6:12])
                sport, dport, ulen = udp_head(buf, start)
                if ulen != end - start and 8 <= ulen < end - start:
                    if any(buf[start + ulen : end]):  # bytes after the datagram: carried, so kept
                        malformed["udp-length-short"] += 1
                    else:
                        end = start + ulen  # link padding
                side.payload_bytes += end - start - 8 + cut
                session = cast(UdpSession, side.session)  # a UDP flow's (typed: native calls below)
                if (sport in tunnel_ports or dport in tunnel_ports) and depth < MAX_TUNNEL_DEPTH:
                    datagram = buf[start + 8 : end]
                    found = tunnels.decapsulate(sport, dport, datagram)
                    if found is not None:
                        if fast:
                            src, dst = data[26:30], data[30:34]
                        self.frame, self.next_sweep, self.prev_ts = frame, next_sweep, prev_ts
                        datagram = self._carry(found, datagram, src, dst, carrier=side, ts=ts, depth=depth)
                    if (datagram or found is None) and session.active:
                        ctx.linktype = linktype
                        ctx.frame_data = data
                        session.datagram(side.from_client, datagram, frame, ts)
                elif session.active:
                    ctx.linktype = linktype
                    ctx.frame_data = data
                    session.datagram(side.from_client, buf[start + 8 : end], frame, ts)
            else:
                if fast:
                    src, dst = data[26:30], data[30:34]
                    if macs:
                        count_mac(data[6:12])
                self.frame, self.next_sweep, self.prev_ts = frame, next_sweep, prev_ts
                self._other(
                    proto,
                    src,
                    dst,
                    buf[start:end],
                    cut=cut,
                    ts=ts,
                    linktype=linktype,
                    frame_data=data,
                    frame=frame,
                    depth=depth,
                )
        if not depth:
            self.frame = frame
            self.prev_ts = prev_ts
        self.next_sweep = next_sweep
        stats.non_ip_frames += non_ip
        stats.ip_packets += ip_packets
        stats.tcp_packets += tcp_packets
        stats.udp_packets += udp_packets
        return dropped

    # -- what is not TCP or UDP ----------------------------------------------------------------------

    def _other(
        self,
        proto: int,
        src: bytes,
        dst: bytes,
        payload: bytes,
        *,
        cut: int,
        ts: float,
        linktype: int,
        frame_data: bytes,
        frame: int,
        depth: int,
    ) -> None:
        """An IP packet of another protocol: its flow, and what it carries (a tunnel's inner packet)."""
        side = self.others.ip_packet(
            proto, src, dst, payload, ts=ts, frame=frame, linktype=linktype, frame_data=frame_data
        )
        side.payload_bytes += len(payload) + cut
        kind = tunnels.IP_KINDS.get(proto)
        if kind is not None and depth < MAX_TUNNEL_DEPTH:
            found = tunnels.ip_tunnel(proto, payload)
            if found is not None:
                payload = self._carry((kind, *found), payload, src, dst, carrier=side, ts=ts, depth=depth)
        side.session.packet(side.from_client, payload, frame)  # type: ignore[union-attr]

    def _carry(
        self,
        found: tuple[str, int, bytes],
        payload: bytes,
        src: bytes,
        dst: bytes,
        *,
        carrier: Side,
        ts: float,
        depth: int,
    ) -> bytes:
        """Reads the packet a tunnel carried as a frame of its own; returns what stays the carrier's
        payload: the encapsulation header and any bytes after the inner packet, or all of it when
        the inner packet did not reach a flow (nothing is lost, nothing is reported twice)."""
        kind, linktype, inner = found
        table = self.table
        saved_scope, saved_tunnel = table.scope, table.tunnel
        if saved_tunnel is None:
            table.tunnel = Tunnel(kind, ip.address(src), ip.address(dst), carrier.state.flow.id)
        table.scope = saved_scope + min(src, dst) + max(src, dst)
        try:
            dropped = self._loop(((ts, linktype, inner, -1),), depth + 1)
        finally:
            table.scope, table.tunnel = saved_scope, saved_tunnel
        if dropped:
            return payload
        header = payload[: len(payload) - len(inner)]
        extent = tunnels.ip_extent(inner) if linktype == link.LINKTYPE_RAW else len(inner)
        return header + inner[extent:] if extent < len(inner) else header

    def finish(self) -> None:
        """At the end of the last file: every flow still open ends."""
        self.fragments.flush()
        self.stats.truncated_fragments += self.fragments.incomplete
        self.table.finish()
        self.stats.tcp_gap_bytes = self.table.gap_bytes
        self.stats.http_bodies_dropped = self.ctx.bodies_dropped
        self.stats.dns_answers_dropped = self.book.answers_dropped
        self.stats.macs_dropped = self.table.macs_dropped
        self.stats.tls_keys = len(self.keys)
        self.stats.malformed = dict(sorted(self.malformed.items()))


def _paths(captures: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(captures, (str, os.PathLike)):
        return [os.fspath(captures)]
    return [os.fspath(p) for p in captures]


YOUNG_COLLECTION_EVERY: Final = 500_000
"""Container objects allocated (net) between two collections of the youngest generation while
``analyze`` runs (Python's default: 700). The analysis leaves no cyclic garbage (the traffic tests
check every analysis they run), so a collection finds nothing and only walks the records kept since
the last one; were that ever wrong, garbage would wait for at most this many objects (some 50 MB)."""
FULL_COLLECTION_EVERY: Final = 1000
"""Younger-generation collections between two full ones of the cyclic garbage collector while
``analyze`` runs (Python's default: 10)."""


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Spaces out the cyclic collector's runs while the analysis grows. Full collections walk every
    flow record kept so far, and on many short flows they were a tenth of the run; young ones came
    every 700 objects, and with the packet path compiled they were a tenth again (every 100,000
    objects: still 3% of a run). Ended flows cut their own cycles (``FlowState.release``), so there
    is nothing for any collection to find: cyclic garbage waits for at most
    ``YOUNG_COLLECTION_EVERY`` objects."""
    saved = gc.get_threshold()
    young = max(saved[0], YOUNG_COLLECTION_EVERY) if saved[0] else 0  # 0: collection is off
    gc.set_threshold(young, saved[1], max(saved[2], FULL_COLLECTION_EVERY))
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            # The young generation now holds the analysis (its records live on): restoring the
            # threshold would walk them all at the next allocation, 70 ms for 500,000. Promoted to
            # the oldest generation instead, in two O(1) list moves. (Skipped when the program froze
            # objects itself: unfreeze would release those too.)
            gc.freeze()
            gc.unfreeze()
        gc.set_threshold(*saved)


def analyze(
    captures: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    observer: FlowObserver | None = None,
    body_limit: int = BODY_LIMIT,
    hash_files: bool = True,
    keylog: str | os.PathLike[str] | KeyLog | None = None,
) -> Analysis:
    """Analyzes one capture file, or several (capture rotation) as one sequence of frames.

    ``observer`` receives every unencrypted byte and HTTP request as the
    capture streams by, and each flow's end. ``keylog`` (an SSLKEYLOGFILE,
    or a KeyLog) adds TLS secrets to those the capture's Decryption Secrets
    Blocks hold: TLS flows they cover are decrypted (``Flow.decrypted``).
    Raises CaptureError (naming the file; KeyLogError for the key log) when a
    file cannot be read at all; a file that ends early is analyzed up to
    there and flagged ``truncated`` with a warning.
    """
    paths = _paths(captures)
    if not paths:
        raise ValueError("analyze() needs at least one capture file")
    for path in paths:  # fail on a typo in the last file before spending time on the first
        open_capture(path, hash_file=False).close()
    keys, key_warnings = (keylog, []) if keylog is None or isinstance(keylog, KeyLog) else load_keylog(keylog)
    engine = Engine(observer, body_limit=body_limit, keys=keys)
    files: list[CaptureFile] = []
    warnings = engine.warnings
    warnings.extend(key_warnings)
    with _fewer_collections():
        for path in paths:
            reader = open_capture(path, first_frame=engine.frame + 1, hash_file=hash_files)
            try:
                engine.run(reader)
            finally:
                files.append(reader.finish())
            warnings.extend(reader.warnings)
            if reader.info.packets == 0:
                warnings.append(f"{path}: holds no packets")
            if reader.info.drops:
                warnings.append(
                    f"{path}: the capturing host dropped {reader.info.drops} packets; flows may be incomplete"
                )
        engine.finish()
    warnings.extend(engine.keys.warnings())
    stats = engine.stats
    if stats.http_bodies_dropped:
        warnings.append(
            f"{stats.http_bodies_dropped} HTTP request bodies beyond the first {BODY_BUDGET >> 20} MB "
            "were passed to the observer but not kept in the flows"
        )
    for linktype in stats.unsupported_link_types:
        warnings.append(f"link type {linktype} is not supported: its frames were counted, not analyzed")
    if stats.clock_steps:
        warnings.append(
            f"the capture's clock went back {stats.clock_steps} times (at most {stats.largest_clock_step:.1f} s):"
            " packets after a step may sit in the wrong phase"
        )
    return Analysis(
        flows=engine.flows,
        files=files,
        stats=stats,
        warnings=warnings,
        other=list(engine.others.summary.values()),
        dns_answers=engine.book.answers,
        macs={link.format_mac(mac): n for mac, n in engine.table.macs.items()},
    )


__all__ = ["Analysis", "CaptureError", "Engine", "analyze"]
