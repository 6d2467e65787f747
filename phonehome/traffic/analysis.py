"""The result of analyzing a capture: flows, the files read, counts and warnings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from phonehome.traffic.endpoints import Endpoint, endpoints
from phonehome.traffic.flow import Flow
from phonehome.traffic.pcapfile import CaptureFile


@dataclass(slots=True)
class OtherTraffic:
    """IP packets that are neither TCP nor UDP (ICMP, ESP, GRE we could not open...), per kind and address pair."""

    proto: int
    """IP protocol number (1 ICMP, 58 ICMPv6, 50 ESP...)."""
    src: str
    dst: str
    icmp_type: int | None
    """ICMP/ICMPv6 message type (8 echo request, 128 IPv6 echo request...), else None."""
    packets: int
    bytes: int
    first_frame: int
    first_ts: float


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One address a DNS response gave for a name, with who sent it to whom: the policy trusts only
    answers from the bench's resolver that the handset received, never ones the handset sent."""

    name: str
    """The name the client asked (a CNAME chain followed back to the question)."""
    address: str
    client: str
    """The address the response was sent to."""
    server: str
    """The address the response came from."""
    client_mac: str | None
    """Destination hardware address of the response's frame, when the link layer has one."""
    server_mac: str | None
    """Source hardware address of the response's frame: a response the handset forged itself
    carries the handset's own."""
    frame: int
    ts: float
    flow_id: int


@dataclass(slots=True)
class Stats:
    """What the analyzer saw besides flows: counts per layer and malformed packets by reason."""

    frames: int = 0
    ip_packets: int = 0
    tcp_packets: int = 0
    udp_packets: int = 0
    other_ip_packets: int = 0
    """IP packets of another protocol (each also reaches a flow of that protocol)."""
    non_ip_frames: int = 0
    """Frames without IP (ARP, LLDP...; those with a MAC header reach a ``link-0xNNNN`` flow) or of a
    link type the analyzer does not read."""
    fragments_reassembled: int = 0
    tcp_gap_bytes: int = 0
    """Bytes missing from TCP streams (lost before capture, or cut by the snap length)."""
    snaplen_cut_packets: int = 0
    """Packets captured shorter than they were on the wire."""
    http_bodies_dropped: int = 0
    """HTTP request bodies not kept in the flows (the analysis' body budget was spent); observers saw them."""
    malformed: dict[str, int] = field(default_factory=dict)
    """Packets (or messages) that did not decode, by reason; none is fatal, every one is doubt."""
    unsupported_link_types: list[int] = field(default_factory=list)
    clock_steps: int = 0
    """Times the capture's clock went backwards by more than ``CLOCK_STEP_S`` between frames: packets
    after a step may sit in the wrong scenario phase."""
    largest_clock_step: float = 0.0
    """The largest backward step, in seconds."""
    truncated_fragments: int = 0
    """IP fragments cut by the snap length, plus fragment sets still incomplete at the capture's end
    (their bytes reach a flow of their protocol and address pair, with an anomaly, but no transport
    header says more)."""
    dns_answers_dropped: int = 0
    """DNS answers not kept in ``Analysis.dns_answers`` (it was full)."""
    macs_dropped: int = 0
    """Frames whose source hardware address was not counted in ``Analysis.macs`` (it was full)."""
    tls_keys: int = 0
    """TLS connections (client randoms) with secrets from the key log given and the capture's
    Decryption Secrets Blocks; the flows decrypted with them say ``Flow.decrypted``."""


@dataclass(slots=True)
class Analysis:
    """A capture (one file or a rotated sequence) turned into flows."""

    flows: list[Flow]
    """Every TCP connection, UDP conversation, conversation of another IP protocol between two
    addresses, and exchange of frames without IP between two hardware addresses, in order of
    first packet (``Flow.id`` is the index)."""
    files: list[CaptureFile]
    stats: Stats
    warnings: list[str]
    """Human-readable problems: truncated files, drops, unsupported link types."""
    other: list[OtherTraffic] = field(default_factory=list)
    """IP packets that are neither TCP nor UDP summed per protocol, ICMP type and address pair
    (a summary for people: the same packets are in ``flows``)."""
    dns_answers: list[DnsAnswer] = field(default_factory=list)
    """Every A/AAAA answer seen in a DNS response (plain DNS over UDP or TCP), in capture order."""
    macs: dict[str, int] = field(default_factory=dict)
    """Source hardware addresses of the capture's frames, with their frame counts (bounded)."""

    @property
    def packets(self) -> int:
        return sum(f.packets for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def truncated(self) -> bool:
        return any(f.truncated for f in self.files)

    @property
    def link_types(self) -> list[int]:
        seen: dict[int, None] = {}
        for f in self.files:
            seen.update(dict.fromkeys(f.link_types))
        return list(seen)

    @property
    def drops(self) -> int | None:
        """Packets the capturing host said it dropped, summed over files; None when no file said."""
        known = [f.drops for f in self.files if f.drops is not None]
        return sum(known) if known else None

    def endpoints(self) -> list[Endpoint]:
        """Flows grouped by the server they reached (see ``endpoints.endpoints``)."""
        return endpoints(self.flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an analysis's JSON form (``analysis.schema.json``, shipped here;
    `phonehome.report.analysis_json` writes that form)."""
    # Imported here: every analysis imports this module, and only a schema check needs these.
    import json  # noqa: PLC0415
    from importlib import resources  # noqa: PLC0415

    text = resources.files("phonehome.traffic").joinpath("analysis.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
