"""Endpoints: the servers a capture's flows reached, one per name (or per address when unnamed).

This is what a manifest is checked against and what the ``analyze`` table
shows: a host contacted over many connections is one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from phonehome.traffic.flow import Flow

PORTED: Final = frozenset({"tcp", "udp"})
"""Protocols whose flows have ports."""


@dataclass(slots=True)
class Endpoint:
    """A server, by its name when one was learned, else by its address (an IP literal)."""

    name: str
    """Server name (lower case), or the server address when no name was learned."""
    named: bool
    """False when ``name`` is an address: the client reached an IP literal."""
    name_sources: list[str] = field(default_factory=list)
    """How the name was learned across its flows (sni, quic-sni, http-host, dns)."""
    addresses: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    """Server ports as ``tcp/443``, ``udp/443``..., in order of first use; a protocol without ports
    by its name (``icmp``, ``gre``, ``link-0x0806``)."""
    transports: list[str] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    flows: int = 0
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    first_ts: float = 0.0
    first_frame: int = 0
    clients: list[str] = field(default_factory=list)
    """Client addresses that reached it."""

    @property
    def bytes(self) -> int:
        return self.bytes_c2s + self.bytes_s2c


def _add(items: list[str], value: str | None) -> None:
    if value is not None and value not in items:
        items.append(value)


def endpoints(flows: Iterable[Flow]) -> list[Endpoint]:
    """Groups flows by server name (unnamed ones by server address), in order of first contact."""
    found: dict[tuple[bool, str], Endpoint] = {}
    for flow in flows:
        named = flow.server_name is not None
        key = (named, flow.server_name if flow.server_name is not None else flow.dst)
        ep = found.get(key)
        if ep is None:
            ep = found[key] = Endpoint(
                name=key[1], named=named, first_ts=flow.first_ts, first_frame=flow.first_frame
            )
        elif flow.first_frame < ep.first_frame:
            ep.first_ts, ep.first_frame = flow.first_ts, flow.first_frame
        if named:
            _add(ep.name_sources, flow.name_source)
        _add(ep.addresses, flow.dst)
        _add(ep.ports, f"{flow.proto}/{flow.dport}" if flow.proto in PORTED else flow.proto)
        _add(ep.transports, flow.transport)
        _add(ep.apps, flow.app)
        _add(ep.clients, flow.src)
        ep.flows += 1
        ep.bytes_c2s += flow.bytes_c2s
        ep.bytes_s2c += flow.bytes_s2c
    return sorted(found.values(), key=lambda e: e.first_frame)
