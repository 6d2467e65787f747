"""Packets that are neither TCP nor UDP, and frames without IP: each reaches a flow all the same.

ICMP echo padding, ESP, GRE to an undeclared address, an ARP frame with a
payload, fragments that never complete: a handset can send bytes in any of
them, so each becomes a flow (keyed by protocol and address pair, both
ways) whose packets' payloads reach the observer as datagrams, beside a
per-kind summary for people (``Analysis.other``).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from phonehome.traffic import ip, link
from phonehome.traffic.analysis import OtherTraffic, Stats
from phonehome.traffic.flowtable import LINK_CODE, MAX_ANOMALIES, FlowTable, OtherKey, Side

MAX_OTHER: Final = 10_000
"""Summary lines (protocol, type, address pair) kept in ``Analysis.other``."""


class OtherFlows:
    """The flows of other protocols and of frames without IP, and the counts that go with them."""

    def __init__(self, table: FlowTable, stats: Stats, malformed: Counter[str]) -> None:
        self.table = table
        self.stats = stats
        self.malformed = malformed
        self.summary: dict[tuple[int, bytes, bytes, int | None], OtherTraffic] = {}

    def side(
        self, key: OtherKey, *, ts: float, frame: int, linktype: int, frame_data: bytes, payload: bytes
    ) -> Side:
        """The direction of the flow ``key`` names, created on its first packet; the packet is counted."""
        table = self.table
        side = table.other.get(key)
        if side is None:
            table.frame = frame
            side = table.new_other(key, ts=ts, linktype=linktype, frame_data=frame_data, payload=payload)
        side.packets += 1
        side.last_ts = ts
        side.last_frame = frame
        return side

    def ip_packet(
        self,
        proto: int,
        src: bytes,
        dst: bytes,
        payload: bytes,
        *,
        ts: float,
        frame: int,
        linktype: int,
        frame_data: bytes,
    ) -> Side:
        """An IP packet of another protocol: its summary line and its flow's counts (ICMP types too)."""
        self.stats.other_ip_packets += 1
        self._summarise(proto, src, dst, payload, frame=frame, ts=ts)
        side = self.side(
            (proto, src, dst, self.table.scope),
            ts=ts,
            frame=frame,
            linktype=linktype,
            frame_data=frame_data,
            payload=payload,
        )
        if proto in (ip.PROTO_ICMP, ip.PROTO_ICMPV6) and payload:
            types = side.state.flow.icmp_types
            if payload[0] not in types:
                types.append(payload[0])
        return side

    def _summarise(
        self, proto: int, src: bytes, dst: bytes, payload: bytes, *, frame: int, ts: float
    ) -> None:
        icmp_type = payload[0] if proto in (ip.PROTO_ICMP, ip.PROTO_ICMPV6) and payload else None
        key = (proto, src, dst, icmp_type)
        entry = self.summary.get(key)
        if entry is None:
            if len(self.summary) >= MAX_OTHER:
                self.malformed["other-traffic-overflow"] += 1
                return
            entry = self.summary[key] = OtherTraffic(
                proto, ip.address(src), ip.address(dst), icmp_type, 0, 0, frame, ts
            )
        entry.packets += 1
        entry.bytes += len(payload)

    def frame_without_ip(self, linktype: int, data: bytes, *, ts: float, frame: int) -> bool:
        """A frame with a MAC header but no IP (ARP, LLDP, EAPOL, any EtherType): a flow between the MACs.

        False when the frame has no MAC header to key a flow on (it is counted in ``non_ip_frames``).
        """
        found = link.frame_protocol(linktype, data)
        if found is None:
            return False
        etype, sender, receiver, off = found
        payload = data[off:]
        side = self.side(
            (LINK_CODE + etype, sender, receiver, self.table.scope),
            ts=ts,
            frame=frame,
            linktype=linktype,
            frame_data=data,
            payload=payload,
        )
        side.payload_bytes += len(payload)
        side.session.packet(side.from_client, payload, frame)  # type: ignore[union-attr]
        return True

    def lost_fragments(  # noqa: PLR0917  (the Reassembler's on_lost callback)
        self, proto: int, src: bytes, dst: bytes, data: bytes, fragments: int, frame: int
    ) -> None:
        """Fragments of a datagram that never completed: their bytes reach a flow of their protocol
        and address pair (ports unknown: the transport header may be what is missing)."""
        table = self.table
        key = (proto, src, dst, table.scope)
        side = table.other.get(key)
        if side is None:
            table.frame = frame
            side = table.new_other(key, ts=0.0, linktype=link.LINKTYPE_RAW, frame_data=b"", payload=data)
        side.packets += fragments
        side.last_frame = max(side.last_frame, frame)
        side.payload_bytes += len(data)
        flow = side.state.flow
        if len(flow.anomalies) < MAX_ANOMALIES:
            flow.anomalies.append(
                f"{fragments} IP fragments ({len(data)} bytes) of a datagram that never completed, "
                f"from frame {frame}"
            )
        side.session.packet(side.from_client, data, frame)  # type: ignore[union-attr]

    def count_mac(self, linktype: int, data: bytes) -> None:
        """Counts a frame (not on the packet loop's fast path) by its source hardware address."""
        found = link.frame_protocol(linktype, data)
        if found is not None and found[1]:
            self.table.count_mac(found[1])
