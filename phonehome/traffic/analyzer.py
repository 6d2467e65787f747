"""The streaming pipeline: capture files -> frames -> IP -> TCP/UDP flows -> sessions -> Flow records.

One pass, packet by packet, memory independent of the capture's size: the
readers stream, streams and parsers are bounded, flows that no longer need
their payload only count it, and flows that end or go idle release their
state. The per-packet path is hand-written over ``struct`` and indexing
rather than a packet library: a full decode per packet (dpkt) runs at
~49 MB/s here, a third of the throughput this needs (shared/notes/bench-facts.md);
Ethernet/IPv4 is inlined and everything else goes through ``link`` and ``ip``.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from phonehome.traffic import ip, link, naming, tunnels
from phonehome.traffic.analysis import Analysis, OtherTraffic, Stats
from phonehome.traffic.flow import Flow, FlowObserver
from phonehome.traffic.fragments import Reassembler
from phonehome.traffic.pcapfile import CaptureError, CaptureFile, CaptureReader, Packet, open_capture
from phonehome.traffic.sessions import Context, TcpSession, UdpSession
from phonehome.traffic.tcp import ACK, FIN, HALF, MASK, MAX_JUMP, RST, SYN, TcpStream

BODY_LIMIT = 1 << 20
"""HTTP body bytes kept per request by default (leak detection scans them)."""
TCP_IDLE = 900.0
UDP_IDLE = 120.0
CLOSED_LINGER = 30.0
"""Seconds of capture time a closed TCP flow keeps absorbing late packets before it is ended."""
SWEEP_EVERY = 5.0
MAX_OTHER = 10_000
MAX_TUNNEL_DEPTH = 4

# Ports whose side is the server when a flow's first packet does not say (a capture started mid-flow).
SERVICE_PORTS = frozenset(
    {20, 21, 22, 23, 25, 53, 67, 69, 80, 110, 123, 137, 143, 161, 389, 443, 465, 500, 514, 587, 636, 853,
     993, 995, 1080, 1194, 1883, 1900, 3128, 3478, 4500, 5060, 5222, 5223, 5228, 5349, 5353, 5355,
     8000, 8080, 8443, 8883, 19302}
)  # fmt: skip

_TCP_HEAD = struct.Struct("!HHIIBB").unpack_from
_UDP_HEAD = struct.Struct("!HHH").unpack_from


def _server_rank(port: int) -> int:
    return 2 if port in SERVICE_PORTS else (1 if port < 1024 else 0)


class _Side:
    """One direction of a flow, as the flow table indexes it."""

    __slots__ = ("fin", "from_client", "packets", "state", "stream", "udp_bytes")

    def __init__(self, state: _FlowState, from_client: bool) -> None:
        self.state = state
        self.from_client = from_client
        self.packets = 0
        self.stream: TcpStream | None = None
        self.udp_bytes = 0
        self.fin = False


class _FlowState:
    __slots__ = ("c2s", "closed_at", "flow", "keys", "last_ts", "s2c", "session", "syn_seq")

    def __init__(self, flow: Flow, session: TcpSession | UdpSession) -> None:
        self.flow = flow
        self.session = session
        self.c2s = _Side(self, True)
        self.s2c = _Side(self, False)
        self.keys: tuple[tuple[bytes, bytes, int, int], ...] = ()
        self.last_ts = flow.first_ts
        self.closed_at: float | None = None
        self.syn_seq: int | None = None


class Engine:
    """Runs the pipeline over capture files one after another, as one sequence."""

    def __init__(self, observer: FlowObserver | None = None, *, body_limit: int = BODY_LIMIT) -> None:
        self.observer = observer
        self.flows: list[Flow] = []
        self.stats = Stats()
        self.malformed: Counter[str] = Counter()
        self.book = naming.DnsBook()
        self.ctx = Context(observer, self.book, self.malformed, body_limit)
        self.tcp: dict[tuple[bytes, bytes, int, int], _Side] = {}
        self.udp: dict[tuple[bytes, bytes, int, int], _Side] = {}
        self.active: dict[int, _FlowState] = {}
        self.fragments = Reassembler(self.malformed)
        self.other: dict[tuple[int, bytes, bytes, int | None], OtherTraffic] = {}
        self.frame = 0
        self.now = 0.0
        self.next_sweep = 0.0
        self.warnings: list[str] = []
        self.inner: list[Packet] = []
        """Packets decapsulated from the current one (original length < 0: their depth)."""

    # -- the packet loop -----------------------------------------------------------------------------

    def run(self, reader: CaptureReader) -> None:
        """Analyzes every packet of one file; flows carry over to the next file."""
        stats = self.stats
        malformed = self.malformed
        tcp_table, udp_table = self.tcp, self.udp
        parse_ip, link_decode, fragment_add = ip.parse, link.decode, self.fragments.add
        tcp_head, udp_head = _TCP_HEAD, _UDP_HEAD
        Malformed, Fragment = ip.Malformed, ip.Fragment  # locals for speed
        frame = first = self.frame
        next_sweep = self.next_sweep
        non_ip = ip_packets = tcp_packets = udp_packets = 0
        inner = self.inner
        tunnel_ports = tunnels.PORTS
        for ts, linktype, data, orig in self._with_inner(reader.packets()):
            if orig >= 0:  # not a packet found inside a tunnel (those keep their frame's number)
                frame += 1
            if ts >= next_sweep:
                self.frame = frame
                next_sweep = self._sweep(ts)
            # Link and IP. Fast path: Ethernet, IPv4, 20-byte header, not a fragment.
            if (
                linktype == 1
                and data[12:14] == b"\x08\x00"
                and len(data) >= 34
                and data[14] == 0x45
                and not data[20] & 0x3F
                and not data[21]
            ):
                total = (data[16] << 8) | data[17]
                end = 14 + total
                cut = 0
                if end > len(data) or total < 20:
                    if total == 0:  # TSO/GSO frame captured before segmentation
                        end = len(data)
                    elif total < 20:
                        malformed["ipv4-header-length"] += 1
                        continue
                    else:
                        cut = end - len(data)
                        end = len(data)
                proto = data[23]
                src = data[26:30]
                dst = data[30:34]
                buf = data
                start = 34
            else:
                etype, off = link_decode(linktype, data)
                if etype < 0:
                    if etype == link.TRUNCATED:
                        malformed["link-truncated"] += 1
                    else:
                        non_ip += 1
                        if linktype not in link.SUPPORTED and linktype not in stats.unsupported_link_types:
                            stats.unsupported_link_types.append(linktype)
                    continue
                try:
                    packet = parse_ip(data, off, etype)
                except Malformed as exc:
                    malformed[exc.reason] += 1
                    continue
                if type(packet) is Fragment:
                    whole = fragment_add(packet, ts)
                    if whole is None:
                        continue
                    stats.fragments_reassembled += 1
                    packet = whole
                proto, src, dst, buf, start, end, cut = packet  # type: ignore[misc]
            ip_packets += 1
            if cut:
                stats.snaplen_cut_packets += 1
            if proto == 6:
                tcp_packets += 1
                if end - start < 20:
                    malformed["tcp-truncated"] += 1
                    continue
                sport, dport, seq, _ack, offbyte, flags = tcp_head(buf, start)
                payload = start + (offbyte >> 4) * 4
                if payload < start + 20 or payload > end:
                    malformed["tcp-header-length"] += 1
                    continue
                key = (src, dst, sport, dport)
                side = tcp_table.get(key)
                if side is None or (flags & SYN and not flags & ACK and self._new_syn(side, seq)):
                    self.frame = frame
                    side = self._new_tcp(key, flags, ts, linktype, data)
                state = side.state
                side.packets += 1
                state.last_ts = ts
                state.flow.last_frame = frame
                stream = side.stream
                if stream is None:
                    base = seq + 1 if flags & SYN else seq
                    stream = side.stream = state.session.stream(side.from_client, base)  # type: ignore[union-attr]
                n = end - payload
                if n or cut:
                    if stream.deliver is None:
                        jump = ((seq + n + cut - stream.base - stream.high + HALF) & MASK) - HALF
                        if 0 < jump <= MAX_JUMP:
                            stream.high += jump
                    else:
                        stream.add(seq, buf[payload:end], frame, cut)
                if flags & (FIN | RST):
                    side.fin = True
                    if flags & RST or (state.c2s.fin and state.s2c.fin):
                        state.flow.closed = True
                        if state.closed_at is None:
                            state.closed_at = ts
            elif proto == 17:
                udp_packets += 1
                if end - start < 8:
                    malformed["udp-truncated"] += 1
                    continue
                sport, dport, ulen = udp_head(buf, start)
                key = (src, dst, sport, dport)
                side = udp_table.get(key)
                if side is None:
                    self.frame = frame
                    side = self._new_udp(key, ts, linktype, data)
                state = side.state
                side.packets += 1
                state.last_ts = ts
                state.flow.last_frame = frame
                if 8 <= ulen <= end - start:
                    end = start + ulen  # drop link padding
                if (sport in tunnel_ports or dport in tunnel_ports) and orig > -MAX_TUNNEL_DEPTH:
                    found = tunnels.decapsulate(sport, dport, buf[start + 8 : end])
                    if found is not None:
                        inner.append((ts, found[0], found[1], min(orig, 0) - 1))
                side.udp_bytes += end - start - 8 + cut
                session = state.session
                if session.active:  # type: ignore[union-attr]
                    session.datagram(side.from_client, buf[start + 8 : end], frame, ts)  # type: ignore[union-attr]
            else:
                self._other(proto, src, dst, buf[start:end], frame=frame, ts=ts)
        stats.frames += frame - first
        self.frame = frame
        self.next_sweep = next_sweep
        stats.non_ip_frames += non_ip
        stats.ip_packets += ip_packets
        stats.tcp_packets += tcp_packets
        stats.udp_packets += udp_packets

    def _with_inner(self, packets: Iterator[Packet]) -> Iterator[Packet]:
        """The file's packets, each followed by the packets found inside it (tunnels)."""
        inner = self.inner
        for packet in packets:
            yield packet
            while inner:
                yield inner.pop()

    # -- flows ---------------------------------------------------------------------------------------

    def _new_flow(
        self,
        proto: str,
        key: tuple[bytes, bytes, int, int],
        *,
        sender_is_client: bool,
        ts: float,
        linktype: int,
        frame_data: bytes,
    ) -> Flow:
        src, dst, sport, dport = key
        if not sender_is_client:
            src, dst, sport, dport = dst, src, dport, sport
        src_mac, dst_mac = link.macs(linktype, frame_data)
        flow = Flow(
            id=len(self.flows),
            proto=proto,  # type: ignore[arg-type]
            src=ip.address(src),
            sport=sport,
            dst=ip.address(dst),
            dport=dport,
            first_ts=ts,
            last_ts=ts,
            first_frame=self.frame,
            last_frame=self.frame,
            src_mac=src_mac if sender_is_client else dst_mac,
        )
        self.flows.append(flow)
        return flow

    def _register(
        self,
        state: _FlowState,
        table: dict[tuple[bytes, bytes, int, int], _Side],
        key: tuple[bytes, bytes, int, int],
        sender_is_client: bool,
    ) -> _Side:
        src, dst, sport, dport = key
        back = (dst, src, dport, sport)
        sender, receiver = (state.c2s, state.s2c) if sender_is_client else (state.s2c, state.c2s)
        table[key] = sender
        table[back] = receiver
        state.keys = (key, back)
        self.active[state.flow.id] = state
        return sender

    def _new_tcp(
        self, key: tuple[bytes, bytes, int, int], flags: int, ts: float, linktype: int, frame_data: bytes
    ) -> _Side:
        old = self.tcp.get(key)
        if old is not None:
            self._end(old.state)
        _, _, sport, dport = key
        # The SYN's sender is the client, the SYN-ACK's the server; without either, the service port decides.
        by_ports = _server_rank(dport) >= _server_rank(sport)
        sender_is_client = not flags & ACK if flags & SYN else by_ports
        flow = self._new_flow(
            "tcp", key, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst)
        naming.assign(flow, dns_name)
        state = _FlowState(flow, TcpSession(flow, self.ctx, dns_name))
        return self._register(state, self.tcp, key, sender_is_client)

    def _new_syn(self, side: _Side, seq: int) -> bool:
        """A SYN on a known 4-tuple: a new connection unless it repeats the one that opened this flow."""
        state = side.state
        stream = side.stream
        if stream is None:
            return False
        return state.flow.closed or ((seq + 1) & MASK) != stream.base

    def _new_udp(
        self, key: tuple[bytes, bytes, int, int], ts: float, linktype: int, frame_data: bytes
    ) -> _Side:
        _, _, sport, dport = key
        sender_is_client = _server_rank(dport) >= _server_rank(sport)
        flow = self._new_flow(
            "udp", key, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst)
        naming.assign(flow, dns_name)
        state = _FlowState(flow, UdpSession(flow, self.ctx, dns_name))
        return self._register(state, self.udp, key, sender_is_client)

    def _other(self, proto: int, src: bytes, dst: bytes, payload: bytes, *, frame: int, ts: float) -> None:
        self.stats.other_ip_packets += 1
        icmp_type = payload[0] if proto in (ip.PROTO_ICMP, ip.PROTO_ICMPV6) and payload else None
        key = (proto, src, dst, icmp_type)
        entry = self.other.get(key)
        if entry is None:
            if len(self.other) >= MAX_OTHER:
                self.malformed["other-traffic-overflow"] += 1
                return
            entry = self.other[key] = OtherTraffic(
                proto, ip.address(src), ip.address(dst), icmp_type, 0, 0, frame, ts
            )
        entry.packets += 1
        entry.bytes += len(payload)

    def _sweep(self, now: float) -> float:
        """Ends flows that closed a while ago or went idle; returns when to sweep next."""
        self.now = max(self.now, now)
        expired = [
            state
            for state in self.active.values()
            if now - state.last_ts
            > (
                CLOSED_LINGER
                if state.closed_at is not None
                else TCP_IDLE
                if state.flow.proto == "tcp"
                else UDP_IDLE
            )
        ]
        for state in expired:
            self._end(state)
        return now + SWEEP_EVERY

    def _end(self, state: _FlowState) -> None:
        """The flow is over: flush its session, settle its counters, tell the observer, forget its state."""
        if self.active.pop(state.flow.id, None) is None:
            return
        table = self.tcp if state.flow.proto == "tcp" else self.udp
        for key in state.keys:
            if table.get(key) in (state.c2s, state.s2c):
                del table[key]
        state.session.finish()
        flow = state.flow
        flow.last_ts = state.last_ts
        flow.packets_c2s, flow.packets_s2c = state.c2s.packets, state.s2c.packets
        if flow.proto == "tcp":
            for side in (state.c2s, state.s2c):
                stream = side.stream
                if stream is None:
                    continue
                gaps = stream.gaps
                self.stats.tcp_gap_bytes += gaps
                if side.from_client:
                    flow.bytes_c2s, flow.gaps_c2s = stream.high, gaps
                else:
                    flow.bytes_s2c, flow.gaps_s2c = stream.high, gaps
        else:
            flow.bytes_c2s, flow.bytes_s2c = state.c2s.udp_bytes, state.s2c.udp_bytes
        naming.assign(flow, state.session.dns_name)
        if self.observer is not None:
            self.observer.on_flow_end(flow)

    def finish(self) -> None:
        """At the end of the last file: every flow still open ends."""
        for state in list(self.active.values()):
            self._end(state)
        self.fragments.flush()
        self.stats.malformed = dict(sorted(self.malformed.items()))


def _paths(captures: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(captures, (str, os.PathLike)):
        return [os.fspath(captures)]
    return [os.fspath(p) for p in captures]


def analyze(
    captures: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    observer: FlowObserver | None = None,
    body_limit: int = BODY_LIMIT,
    hash_files: bool = True,
) -> Analysis:
    """Analyzes one capture file, or several (capture rotation) as one sequence of frames.

    ``observer`` receives every unencrypted byte and HTTP request as the
    capture streams by, and each flow's end. Raises CaptureError (naming the
    file) when a file cannot be read as a capture at all; a file that ends
    early is analyzed up to there and flagged ``truncated`` with a warning.
    """
    paths = _paths(captures)
    if not paths:
        raise ValueError("analyze() needs at least one capture file")
    for path in paths:  # fail on a typo in the last file before spending time on the first
        open_capture(path, hash_file=False).close()
    engine = Engine(observer, body_limit=body_limit)
    files: list[CaptureFile] = []
    warnings = engine.warnings
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
    stats = engine.stats
    for linktype in stats.unsupported_link_types:
        warnings.append(f"link type {linktype} is not supported: its frames were counted, not analyzed")
    return Analysis(
        flows=engine.flows, files=files, stats=stats, warnings=warnings, other=list(engine.other.values())
    )


__all__ = ["Analysis", "CaptureError", "Engine", "analyze"]
