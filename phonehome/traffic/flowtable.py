"""The flow table: which flow each packet belongs to, who is its client, and when a flow is over.

Each TCP/UDP flow is indexed under both directions' 4-tuple keys (raw
addresses then the two ports, as they sit in the packet), so the packet
loop finds it with one dictionary lookup; flows of any other protocol (and
frames without IP) under (protocol, sender, receiver) both ways. Flows end when they closed a while ago, go
idle, or the capture ends; their per-flow state is then released and only
the Flow record stays.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from phonehome.traffic import ip, link, naming, orientation
from phonehome.traffic.deadlines import Deadlines
from phonehome.traffic.flow import IP_PROTOCOL_NAMES, Flow, FlowObserver, Tunnel
from phonehome.traffic.sessions import Context
from phonehome.traffic.tcp import ACK, DIFFERENT, MASK, SYN, UNCOMPARED, WINDOW_BUDGET, Budget, TcpStream
from phonehome.traffic.tcp_session import TcpSession
from phonehome.traffic.udp_session import UdpSession

TCP_IDLE: Final = 900.0
UDP_IDLE: Final = 120.0
CLOSED_LINGER: Final = 30.0
"""Seconds of capture time a closed TCP flow keeps absorbing late packets before it is ended."""
SWEEP_EVERY: Final = 5.0
SCAN_EVERY_FLOW = False
"""The reference sweep: every open flow at every sweep, as before the deadline schedule. Tests set it
(a module global, so that it also reaches the compiled module) to compare both on the same capture."""
SWEEP_LOG: list[tuple[float, list[int]]] | None = None
"""When a list: each sweep appends its time and the ids of the flows it ended (tests)."""
MAX_ANOMALIES: Final = 8
"""Anomalies noted per flow; later ones are only counted in the analysis' stats."""
MAX_MACS: Final = 4096
"""Distinct source hardware addresses counted in ``FlowTable.macs``."""

OtherKey = tuple[int, bytes, bytes, bytes]
"""(protocol code, sender, receiver, tunnel scope) of a flow that is neither TCP nor UDP: an IP
protocol number, or LINK_CODE plus an EtherType with hardware addresses."""
LINK_CODE: Final = 0x10000


def split_key(key: bytes) -> tuple[bytes, bytes, int, int]:
    """(source, destination, source port, destination port) of a flow-table key."""
    n = (len(key) - 4) // 2
    return key[:n], key[n : 2 * n], (key[2 * n] << 8) | key[2 * n + 1], (key[2 * n + 2] << 8) | key[2 * n + 3]


def reverse_key(key: bytes) -> bytes:
    """The key of the other direction."""
    n = (len(key) - 4) // 2
    return key[n : 2 * n] + key[:n] + key[2 * n + 2 : 2 * n + 4] + key[2 * n : 2 * n + 2]


def proto_name(code: int) -> str:
    """``Flow.proto`` of an IP protocol number or a LINK_CODE-tagged EtherType."""
    if code >= LINK_CODE:
        etype = code - LINK_CODE
        return "link-llc" if etype < 0x600 else f"link-0x{etype:04x}"
    return {6: "tcp", 17: "udp"}.get(code) or IP_PROTOCOL_NAMES.get(code) or f"ip-{code}"


class PacketSession:
    """The payload of a flow that is neither TCP nor UDP: each packet's payload is one datagram."""

    __slots__ = ("dns_name", "flow", "observer", "offsets")

    def __init__(self, flow: Flow, observer: FlowObserver | None) -> None:
        self.flow = flow
        self.observer = observer
        self.dns_name: str | None = None
        self.offsets = [0, 0]

    def packet(self, from_client: bool, data: bytes, frame: int) -> None:
        if self.observer is not None and data:
            side = 0 if from_client else 1
            self.observer.on_payload(self.flow, from_client, self.offsets[side], data, frame)
            self.offsets[side] += len(data)

    def finish(self) -> None:
        pass


Session = TcpSession | UdpSession | PacketSession


def _over(state: FlowState, now: float) -> bool:
    """The flow closed CLOSED_LINGER ago, or went idle, by ``now``."""
    last = max(state.c2s.last_ts, state.s2c.last_ts)
    return now - last > (CLOSED_LINGER if state.closed_at is not None else state.idle)


def _deadline(state: FlowState) -> float:
    """When the flow will be over if no packet comes."""
    return state.last_ts + (CLOSED_LINGER if state.closed_at is not None else state.idle)


class Side:
    """One direction of a flow, as the flow table indexes it."""

    __slots__ = (
        "fin",
        "from_client",
        "last_frame",
        "last_ts",
        "mac",
        "mac_frames",
        "packets",
        "payload_bytes",
        "session",
        "state",
        "stream",
    )

    def __init__(self, state: FlowState, from_client: bool) -> None:
        self.state = state
        self.session = state.session
        self.from_client = from_client
        self.packets = 0
        self.last_ts = state.flow.first_ts
        self.last_frame = state.flow.first_frame
        self.stream: TcpStream | None = None
        self.payload_bytes = 0
        """Datagram bytes (UDP payload, or the IP payload of another protocol); TCP counts in its stream."""
        self.fin = False
        self.mac: bytes | None = None
        self.mac_frames = 0
        """Frames of this direction the packet loop saw with ``mac`` as their source (counted into
        ``FlowTable.macs`` when the flow ends: one comparison per frame instead of a dictionary update)."""


class FlowState:
    """A flow while it lasts: its record, its session and its two directions."""

    __slots__ = ("c2s", "closed_at", "flow", "idle", "keys", "provisional", "s2c", "session", "table")
    __deletable__ = ("c2s", "s2c")  # release() cuts the cycles through them (also when compiled)

    def __init__(self, flow: Flow, session: Session, idle: float) -> None:
        self.flow = flow
        self.session = session
        self.idle = idle
        self.c2s = Side(self, True)
        self.s2c = Side(self, False)
        self.keys: tuple[object, ...] = ()
        self.table: dict[Any, Side] = {}
        """The flow table's index it is registered in (TCP, UDP or other)."""
        self.closed_at: float | None = None
        self.provisional = False
        """A TCP flow first seen mid-stream without payload: oriented by ports until payload says."""

    @property
    def last_ts(self) -> float:
        return max(self.c2s.last_ts, self.s2c.last_ts)

    def release(self) -> None:
        """Cuts the reference cycles of an ended flow's state (its directions point back at it, a
        stream at its session's reader and overlap hook), so that reference counting frees it at
        once: left to the cyclic collector, many short flows made collections a fifth of the run.
        The state is not used again (only its ``flow`` is)."""
        for side in (self.c2s, self.s2c):
            stream = side.stream
            if stream is not None:
                stream.deliver = stream.on_overlap = None
                side.stream = None
        del self.c2s, self.s2c


class FlowTable:
    """Flows by 4-tuple (TCP, UDP) or by protocol and address pair (anything else), created on their
    first packet and ended when over."""

    def __init__(self, ctx: Context, observer: FlowObserver | None, stats: Counter[str]) -> None:
        self.ctx = ctx
        self.observer = observer
        self.stats = stats
        self.book = ctx.book
        self.flows: list[Flow] = []
        self.tcp: dict[bytes, Side] = {}
        self.udp: dict[bytes, Side] = {}
        self.other: dict[OtherKey, Side] = {}
        self.active: dict[int, FlowState] = {}
        self.gap_bytes = 0
        self.window = Budget(WINDOW_BUDGET)
        """Recently delivered TCP bytes kept by all streams at once, to compare retransmissions with."""
        self.frame = 0
        """Frame number of the packet being handled (set by the packet loop before it creates a flow)."""
        self.scope = b""
        """Appended to TCP/UDP keys of packets found inside a tunnel (the carrier's outer addresses):
        the same inner 4-tuple through another carrier, or outside it, is another flow."""
        self.tunnel: Tunnel | None = None
        """The outermost carrier of the packet being handled, when it came out of a tunnel."""
        self.macs: dict[bytes, int] = {}
        """Frames per source hardware address (up to MAX_MACS addresses)."""
        self.macs_dropped = 0
        self.deadlines: Deadlines[FlowState] = Deadlines()
        """When open flows may be over: what the sweep looks at."""

    def clock_back(self, before: float, ts: float) -> None:
        """A packet at ``ts`` came after one at ``before`` (later)."""
        self.deadlines.clock_back(before, ts)

    def closing(self, state: FlowState, ts: float) -> None:
        """A TCP flow closed at ``ts``: it is over CLOSED_LINGER later, sooner than its idle time."""
        state.closed_at = ts
        self.deadlines.schedule(state.flow.id, ts + CLOSED_LINGER)

    def count_mac(self, mac: bytes, frames: int = 1) -> None:
        n = self.macs.get(mac)
        if n is not None:
            self.macs[mac] = n + frames
        elif len(self.macs) >= MAX_MACS:
            self.macs_dropped += frames
        else:
            self.macs[mac] = frames

    def side_mac(self, side: Side, mac: bytes) -> None:
        """A frame whose source address is not its direction's usual one (or the direction's first)."""
        if side.mac is None:
            side.mac, side.mac_frames = mac, 1
        else:
            self.count_mac(mac)

    def _new_flow(
        self,
        proto: str,
        ends: tuple[str, str, int, int],
        *,
        sender_is_client: bool,
        ts: float,
        linktype: int,
        frame_data: bytes,
    ) -> Flow:
        src, dst, sport, dport = ends
        if not sender_is_client:
            src, dst, sport, dport = dst, src, dport, sport
        src_mac, dst_mac = link.macs(linktype, frame_data)
        if not sender_is_client:
            src_mac, dst_mac = dst_mac, src_mac
        flow = Flow(
            id=len(self.flows),
            proto=proto,
            src=src,
            sport=sport,
            dst=dst,
            dport=dport,
            first_ts=ts,
            last_ts=ts,
            first_frame=self.frame,
            last_frame=self.frame,
            src_mac=src_mac,
            dst_mac=dst_mac,
            tunnel=self.tunnel,
        )
        self.flows.append(flow)
        return flow

    def _ip_ends(self, key: bytes) -> tuple[str, str, int, int]:
        core = key[: len(key) - len(self.scope)] if self.scope else key
        src, dst, sport, dport = split_key(core)
        return ip.address(src), ip.address(dst), sport, dport

    def _register(
        self, state: FlowState, table: dict[Any, Side], key: Any, back: Any, sender_is_client: bool
    ) -> Side:
        sender, receiver = (state.c2s, state.s2c) if sender_is_client else (state.s2c, state.c2s)
        table[key] = sender
        table[back] = receiver
        state.keys = (key, back)
        state.table = table
        flow = state.flow
        self.active[flow.id] = state
        self.deadlines.schedule(flow.id, flow.first_ts + state.idle)
        return sender

    def _reverse(self, key: bytes) -> bytes:
        if not self.scope:
            return reverse_key(key)
        n = len(self.scope)
        return reverse_key(key[:-n]) + key[-n:]

    # -- TCP -----------------------------------------------------------------------------------------

    def new_tcp(
        self, key: bytes, flags: int, *, ts: float, linktype: int, frame_data: bytes, payload: bytes
    ) -> Side:
        old = self.tcp.get(key)
        if old is not None:
            self.end(old.state)
        ends = self._ip_ends(key)
        provisional = False
        if flags & SYN:  # the SYN's sender is the client, the SYN-ACK's the server
            sender_is_client = not flags & ACK
        else:  # mid-stream: the first payload says, else (for now) the service port
            says = orientation.tcp_payload_says(payload) if payload else None
            sender_is_client = orientation.by_ports(ends[2], ends[3]) if says is None else says
            provisional = not payload
        flow = self._new_flow(
            "tcp", ends, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst, flow.src_mac)
        naming.assign(flow, dns_name)
        state = FlowState(flow, TcpSession(flow, self.ctx, dns_name), TCP_IDLE)
        state.provisional = provisional
        return self._register(state, self.tcp, key, self._reverse(key), sender_is_client)

    def new_syn(self, side: Side, seq: int) -> bool:
        """A SYN on a known 4-tuple: a new connection unless it repeats the one that opened this flow."""
        state = side.state
        stream = side.stream
        if stream is None:  # a flow seen only from its middle is over: this SYN opens another
            return state.provisional
        return state.flow.closed or ((seq + 1) & MASK) != stream.base

    def open_stream(self, side: Side, seq: int, flags: int, payload: bytes, cut: int) -> TcpStream | None:
        """The direction's stream, created on its first packet; None while an unoriented flow's
        packets carry nothing to read (its orientation may still change)."""
        state = side.state
        if state.provisional:
            if not payload and not cut and not flags & SYN:
                return None
            state.provisional = False
            if flags & SYN:  # a SYN-ACK after the middle of a flow: its sender is the server
                says: bool | None = not flags & ACK
            else:
                says = orientation.tcp_payload_says(payload) if payload else None
            if says is not None and says != side.from_client:
                self._reorient(state)
        session = side.session
        assert isinstance(session, TcpSession)
        stream = side.stream = session.stream(side.from_client, seq + 1 if flags & SYN else seq)
        self._watch(stream, state.flow)
        return stream

    def _reorient(self, state: FlowState) -> None:
        """Swaps client and server of a flow whose streams have not started (its payload said so)."""
        flow = state.flow
        flow.src, flow.dst, flow.sport, flow.dport = flow.dst, flow.src, flow.dport, flow.sport
        flow.src_mac, flow.dst_mac = flow.dst_mac, flow.src_mac
        state.c2s, state.s2c = state.s2c, state.c2s
        state.c2s.from_client, state.s2c.from_client = True, False
        dns_name = self.book.name_for(flow.src, flow.dst, flow.src_mac)
        naming.assign(flow, dns_name)
        state.session = state.c2s.session = state.s2c.session = TcpSession(flow, self.ctx, dns_name)

    def _watch(self, stream: TcpStream, flow: Flow) -> None:
        """Notes overlapping retransmissions with other bytes (and unplaceable ones) on the flow."""
        forward = stream.on_overlap
        stats = self.stats

        def on_overlap(offset: int, data: bytes, frame: int) -> None:
            kind = stream.overlap_kind
            stats[f"tcp-overlap-{kind}"] += 1
            if len(flow.anomalies) < MAX_ANOMALIES:
                if kind == DIFFERENT:
                    what = "overlapping retransmission with different bytes"
                elif kind == UNCOMPARED:
                    what = "retransmitted bytes that could not be compared (behind the window or in a hole)"
                else:
                    what = "bytes with sequence numbers far outside the stream"
                flow.anomalies.append(f"{what} at offset {offset}, frame {frame}")
            if forward is not None:
                forward(offset, data, frame)

        stream.on_overlap = on_overlap
        stream.recent_budget = self.window

    # -- UDP -----------------------------------------------------------------------------------------

    def new_udp(self, key: bytes, *, ts: float, linktype: int, frame_data: bytes, payload: bytes) -> Side:
        ends = self._ip_ends(key)
        sender_is_client = orientation.udp_sender_is_client(payload, ends[2], ends[3])
        flow = self._new_flow(
            "udp", ends, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst, flow.src_mac)
        naming.assign(flow, dns_name)
        state = FlowState(flow, UdpSession(flow, self.ctx, dns_name), UDP_IDLE)
        return self._register(state, self.udp, key, self._reverse(key), sender_is_client)

    # -- everything else -----------------------------------------------------------------------------

    def new_other(
        self, key: OtherKey, *, ts: float, linktype: int, frame_data: bytes, payload: bytes
    ) -> Side:
        """A flow of another IP protocol (ports 0) or of frames without IP (addresses are the MACs)."""
        code, sender, receiver, scope = key
        if code >= LINK_CODE:
            ends = (link.format_mac(sender), link.format_mac(receiver) if receiver else "", 0, 0)
            sender_is_client = True
        else:
            ends = (ip.address(sender), ip.address(receiver), 0, 0)
            sender_is_client = orientation.icmp_sender_is_client(code, payload)
        flow = self._new_flow(
            proto_name(code),
            ends,
            sender_is_client=sender_is_client,
            ts=ts,
            linktype=linktype,
            frame_data=frame_data,
        )
        state = FlowState(flow, PacketSession(flow, self.observer), UDP_IDLE)
        return self._register(state, self.other, key, (code, receiver, sender, scope), sender_is_client)

    # -- end -----------------------------------------------------------------------------------------

    def sweep(self, now: float) -> float:
        """Ends flows that closed a while ago or went idle (in the order they began); returns when to
        sweep next."""
        if self.deadlines.scan_all or SCAN_EVERY_FLOW:
            expired = [state for state in self.active.values() if _over(state, now)]
        else:
            expired = self.deadlines.due(now, self.active, _over, _deadline)
        for state in expired:
            self.end(state)
        if SWEEP_LOG is not None:
            SWEEP_LOG.append((now, sorted(state.flow.id for state in expired)))
        return now + SWEEP_EVERY

    def end(self, state: FlowState) -> None:
        """The flow is over: flush its session, settle its counters, tell the observer, forget its state."""
        if self.active.pop(state.flow.id, None) is None:
            return
        table = state.table
        for key in state.keys:
            if table.get(key) in (state.c2s, state.s2c):
                del table[key]
        flow = state.flow
        flow.last_ts = state.last_ts
        flow.last_frame = max(state.c2s.last_frame, state.s2c.last_frame)
        state.session.finish()
        flow.packets_c2s, flow.packets_s2c = state.c2s.packets, state.s2c.packets
        for side in (state.c2s, state.s2c):
            if side.mac_frames:
                self.count_mac(side.mac, side.mac_frames)  # type: ignore[arg-type]
                side.mac_frames = 0
        if table is self.tcp:
            for side in (state.c2s, state.s2c):
                stream = side.stream
                if stream is None:
                    continue
                gaps = stream.gaps
                self.gap_bytes += gaps
                if stream.stray:
                    self.stats["tcp-segment-out-of-window"] += stream.stray
                if side.from_client:
                    flow.bytes_c2s, flow.gaps_c2s = stream.high, gaps
                else:
                    flow.bytes_s2c, flow.gaps_s2c = stream.high, gaps
        else:
            flow.bytes_c2s, flow.bytes_s2c = state.c2s.payload_bytes, state.s2c.payload_bytes
        naming.assign(flow, state.session.dns_name)
        if self.observer is not None:
            self.observer.on_flow_end(flow)
        state.release()

    def finish(self) -> None:
        """Every flow still open ends (the capture did)."""
        for state in list(self.active.values()):
            self.end(state)
