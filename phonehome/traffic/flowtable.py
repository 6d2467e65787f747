"""The flow table: which flow each packet belongs to, who is its client, and when a flow is over.

Each flow is indexed under both directions' 4-tuple keys (raw addresses
then the two ports, as they sit in the packet), so the packet loop finds it
with one dictionary lookup. Flows end when they closed a while ago, go
idle, or the capture ends; their per-flow state is then released and only
the Flow record stays.
"""

from __future__ import annotations

from collections import Counter

from phonehome.traffic import ip, link, naming
from phonehome.traffic.flow import Flow, FlowObserver
from phonehome.traffic.sessions import Context
from phonehome.traffic.tcp import ACK, MASK, SYN, TcpStream
from phonehome.traffic.tcp_session import TcpSession
from phonehome.traffic.udp_session import UdpSession

TCP_IDLE = 900.0
UDP_IDLE = 120.0
CLOSED_LINGER = 30.0
"""Seconds of capture time a closed TCP flow keeps absorbing late packets before it is ended."""
SWEEP_EVERY = 5.0

# Ports whose side is the server when a flow's first packet does not say (a capture started mid-flow).
SERVICE_PORTS = frozenset(
    {20, 21, 22, 23, 25, 53, 67, 69, 80, 110, 123, 137, 143, 161, 389, 443, 465, 500, 514, 587, 636, 853,
     993, 995, 1080, 1194, 1883, 1900, 3128, 3478, 4500, 5060, 5222, 5223, 5228, 5349, 5353, 5355,
     8000, 8080, 8443, 8883, 19302}
)  # fmt: skip


def split_key(key: bytes) -> tuple[bytes, bytes, int, int]:
    """(source, destination, source port, destination port) of a flow-table key."""
    n = (len(key) - 4) // 2
    return key[:n], key[n : 2 * n], (key[2 * n] << 8) | key[2 * n + 1], (key[2 * n + 2] << 8) | key[2 * n + 3]


def reverse_key(key: bytes) -> bytes:
    """The key of the other direction."""
    n = (len(key) - 4) // 2
    return key[n : 2 * n] + key[:n] + key[2 * n + 2 : 2 * n + 4] + key[2 * n : 2 * n + 2]


def _server_rank(port: int) -> int:
    return 2 if port in SERVICE_PORTS else (1 if port < 1024 else 0)


class Side:
    """One direction of a flow, as the flow table indexes it."""

    __slots__ = (
        "fin",
        "from_client",
        "last_frame",
        "last_ts",
        "packets",
        "session",
        "state",
        "stream",
        "udp_bytes",
    )

    def __init__(self, state: FlowState, from_client: bool) -> None:
        self.state = state
        self.session = state.session
        self.from_client = from_client
        self.packets = 0
        self.last_ts = state.flow.first_ts
        self.last_frame = state.flow.first_frame
        self.stream: TcpStream | None = None
        self.udp_bytes = 0
        self.fin = False


class FlowState:
    """A flow while it lasts: its record, its session and its two directions."""

    __slots__ = ("c2s", "closed_at", "flow", "keys", "s2c", "session")

    def __init__(self, flow: Flow, session: TcpSession | UdpSession) -> None:
        self.flow = flow
        self.session = session
        self.c2s = Side(self, True)
        self.s2c = Side(self, False)
        self.keys: tuple[bytes, ...] = ()
        self.closed_at: float | None = None

    @property
    def last_ts(self) -> float:
        return max(self.c2s.last_ts, self.s2c.last_ts)


class FlowTable:
    """Flows by 4-tuple, created on their first packet and ended when over."""

    def __init__(self, ctx: Context, observer: FlowObserver | None, stats: Counter[str]) -> None:
        self.ctx = ctx
        self.observer = observer
        self.book = ctx.book
        self.flows: list[Flow] = []
        self.tcp: dict[bytes, Side] = {}
        self.udp: dict[bytes, Side] = {}
        self.active: dict[int, FlowState] = {}
        self.gap_bytes = 0
        self.frame = 0
        """Frame number of the packet being handled (set by the packet loop before it creates a flow)."""

    def _new_flow(
        self,
        proto: str,
        key: bytes,
        *,
        sender_is_client: bool,
        ts: float,
        linktype: int,
        frame_data: bytes,
    ) -> Flow:
        src, dst, sport, dport = split_key(key)
        if not sender_is_client:
            src, dst, sport, dport = dst, src, dport, sport
        src_mac, dst_mac = link.macs(linktype, frame_data)
        flow = Flow(
            id=len(self.flows),
            proto=proto,
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
        state: FlowState,
        table: dict[bytes, Side],
        key: bytes,
        sender_is_client: bool,
    ) -> Side:
        back = reverse_key(key)
        sender, receiver = (state.c2s, state.s2c) if sender_is_client else (state.s2c, state.c2s)
        table[key] = sender
        table[back] = receiver
        state.keys = (key, back)
        self.active[state.flow.id] = state
        return sender

    def new_tcp(self, key: bytes, flags: int, ts: float, linktype: int, frame_data: bytes) -> Side:
        old = self.tcp.get(key)
        if old is not None:
            self.end(old.state)
        _, _, sport, dport = split_key(key)
        # The SYN's sender is the client, the SYN-ACK's the server; without either, the service port decides.
        by_ports = _server_rank(dport) >= _server_rank(sport)
        sender_is_client = not flags & ACK if flags & SYN else by_ports
        flow = self._new_flow(
            "tcp", key, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst, flow.src_mac)
        naming.assign(flow, dns_name)
        state = FlowState(flow, TcpSession(flow, self.ctx, dns_name))
        return self._register(state, self.tcp, key, sender_is_client)

    def new_syn(self, side: Side, seq: int) -> bool:
        """A SYN on a known 4-tuple: a new connection unless it repeats the one that opened this flow."""
        state = side.state
        stream = side.stream
        if stream is None:
            return False
        return state.flow.closed or ((seq + 1) & MASK) != stream.base

    def new_udp(self, key: bytes, ts: float, linktype: int, frame_data: bytes) -> Side:
        _, _, sport, dport = split_key(key)
        sender_is_client = _server_rank(dport) >= _server_rank(sport)
        flow = self._new_flow(
            "udp", key, sender_is_client=sender_is_client, ts=ts, linktype=linktype, frame_data=frame_data
        )
        dns_name = self.book.name_for(flow.src, flow.dst, flow.src_mac)
        naming.assign(flow, dns_name)
        state = FlowState(flow, UdpSession(flow, self.ctx, dns_name))
        return self._register(state, self.udp, key, sender_is_client)

    def sweep(self, now: float) -> float:
        """Ends flows that closed a while ago or went idle; returns when to sweep next."""
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
            self.end(state)
        return now + SWEEP_EVERY

    def end(self, state: FlowState) -> None:
        """The flow is over: flush its session, settle its counters, tell the observer, forget its state."""
        if self.active.pop(state.flow.id, None) is None:
            return
        table = self.tcp if state.flow.proto == "tcp" else self.udp
        for key in state.keys:
            if table.get(key) in (state.c2s, state.s2c):
                del table[key]
        flow = state.flow
        flow.last_ts = state.last_ts
        flow.last_frame = max(state.c2s.last_frame, state.s2c.last_frame)
        state.session.finish()
        flow.packets_c2s, flow.packets_s2c = state.c2s.packets, state.s2c.packets
        if flow.proto == "tcp":
            for side in (state.c2s, state.s2c):
                stream = side.stream
                if stream is None:
                    continue
                gaps = stream.gaps
                self.gap_bytes += gaps
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
        """Every flow still open ends (the capture did)."""
        for state in list(self.active.values()):
            self.end(state)
