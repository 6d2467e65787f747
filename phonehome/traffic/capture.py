"""The ``Capture`` record: what a bench hands the analyzer and the policy about one capture.

It lives here, not in ``bench``, because ``traffic`` and ``policy`` read it and
must not import the bench. Plain data with a JSON form (``capture.json`` beside
the files), so a capture taken by ``phonehome bench up`` in one process is
judged in another. The only I/O is what a record needs: hashing its files and
reading or writing its own JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from phonehome.traffic.timeline import PhaseMarker

CaptureFormat = Literal["pcapng", "pcap"]


@dataclass(frozen=True, slots=True)
class FileDigest:
    """One file of a capture (several when the capture rotated), in capture order."""

    path: Path
    sha256: str
    """Hex SHA-256 of the file's bytes when the capture stopped."""
    size: int


@dataclass(frozen=True, slots=True)
class CaptureDrops:
    """What a capture tool itself said it lost (parsed from its exit statistics).

    ``None`` means the tool did not say (it was killed before printing); the
    policy must then treat the capture as of unknown completeness.
    """

    tool: str
    """``dumpcap`` or ``tcpdump``."""
    interface: str
    captured: int | None
    """Packets written to the files."""
    received: int | None
    """Packets the kernel handed the capture (before the tool's own buffer)."""
    dropped: int | None
    """Packets lost in the kernel or the tool's buffer."""
    if_dropped: int | None = None
    """Packets the interface itself dropped, when the tool reports it."""
    link_packets: int | None = None
    """Frames the interface's own kernel counters saw (rx + tx) while the tool ran: a cross-check that
    does not trust the tool. Fewer ``captured`` than this means frames are missing from the files."""

    @property
    def counted(self) -> bool:
        return self.dropped is not None

    @property
    def missed(self) -> int | None:
        """Frames the interface saw that the files lack, when both counts are known."""
        if self.captured is None or self.link_packets is None:
            return None
        return max(0, self.link_packets - self.captured)

    @property
    def lossless(self) -> bool:
        return self.dropped == 0 and not self.if_dropped and self.missed == 0


@dataclass(slots=True)
class Capture:
    """A capture of one bench port: its files, who the handset was, when, the phases and the losses."""

    files: list[FileDigest]
    """In capture order (rotation numbers ascending)."""
    interface: str
    """The interface captured on (router side of the port)."""
    port: str
    """The bench port's name."""
    format: CaptureFormat
    tool: str
    started: float
    """Seconds since the epoch when the capture tool reported it was capturing."""
    ended: float | None = None
    """When the capture stopped; None while it runs."""
    handset_mac: str | None = None
    """The handset's MAC (lower case, colons) from its DHCP lease, when it took one."""
    handset_ip: str | None = None
    markers: list[PhaseMarker] = field(default_factory=list)
    drops: list[CaptureDrops] = field(default_factory=list)
    """One entry per capture tool that ran on this port."""
    timeline: Path | None = None
    """The ``timeline.jsonl`` that holds the markers."""
    problems: list[str] = field(default_factory=list)
    """What went wrong (a capture process that died, statistics missing); empty when all went well."""
    router_addresses: list[str] = field(default_factory=list)
    """The bench router's own addresses on this port: its DHCP and DNS service, the only
    infrastructure a handset may reach without the manifest declaring it."""
    router_macs: list[str] = field(default_factory=list)
    """Hardware addresses the router's side of this port sends from (lower case, colons)."""
    subnets: list[str] = field(default_factory=list)
    """The port's networks (``172.16.3.0/24``...): their broadcast addresses are the router's too."""
    resolver_log: Path | None = None
    """The bench resolver's own record of every answer it gave (JSON Lines: ts, client, name,
    qtype, answers): the authority on which name an address stood for."""
    isolated: bool = True
    """The port holds one handset and the router and nothing else: any other hardware address
    seen on it means the capture is not of one handset's world."""
    tls: str = "alert"
    """What the bench did with TLS: ``alert`` (ended every ClientHello), ``validate`` (offered certificates
    the handset must refuse) or ``intercept`` (offered the lab CA's and decrypted what followed)."""
    tls_records: Path | None = None
    """The TLS service's records (``phonehome.traffic.interception``): per TLS connection the certificate
    offered and what the handset did, per HTTP request what it asked; None in ``alert`` mode."""
    tls_keylog: Path | None = None
    """The TLS secrets of every connection the TLS service terminated (NSS key log format, as
    SSLKEYLOGFILE): what lets the analyzer decrypt those flows in the capture."""

    @property
    def lossless(self) -> bool:
        """True only when every tool reported its counters, none lost a packet, the interface's own
        counters agree, and nothing went wrong."""
        return not self.problems and bool(self.drops) and all(d.lossless for d in self.drops)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [{"path": str(f.path), "sha256": f.sha256, "size": f.size} for f in self.files],
            "interface": self.interface,
            "port": self.port,
            "format": self.format,
            "tool": self.tool,
            "started": self.started,
            "ended": self.ended,
            "handset_mac": self.handset_mac,
            "handset_ip": self.handset_ip,
            "markers": [{"ts": m.ts, "phase": m.phase, "detail": m.detail} for m in self.markers],
            "drops": [
                {
                    "tool": d.tool,
                    "interface": d.interface,
                    "captured": d.captured,
                    "received": d.received,
                    "dropped": d.dropped,
                    "if_dropped": d.if_dropped,
                    "link_packets": d.link_packets,
                }
                for d in self.drops
            ],
            "timeline": str(self.timeline) if self.timeline else None,
            "problems": list(self.problems),
            "router_addresses": list(self.router_addresses),
            "router_macs": list(self.router_macs),
            "subnets": list(self.subnets),
            "resolver_log": str(self.resolver_log) if self.resolver_log else None,
            "isolated": self.isolated,
            "tls": self.tls,
            "tls_records": str(self.tls_records) if self.tls_records else None,
            "tls_keylog": str(self.tls_keylog) if self.tls_keylog else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capture:
        return cls(
            files=[FileDigest(Path(f["path"]), f["sha256"], int(f["size"])) for f in data["files"]],
            interface=data["interface"],
            port=data["port"],
            format=data["format"],
            tool=data["tool"],
            started=float(data["started"]),
            ended=None if data.get("ended") is None else float(data["ended"]),
            handset_mac=data.get("handset_mac"),
            handset_ip=data.get("handset_ip"),
            markers=[PhaseMarker(float(m["ts"]), m["phase"], m.get("detail", {})) for m in data["markers"]],
            drops=[CaptureDrops(**d) for d in data["drops"]],
            timeline=Path(data["timeline"]) if data.get("timeline") else None,
            problems=list(data.get("problems", [])),
            router_addresses=list(data.get("router_addresses", [])),
            router_macs=list(data.get("router_macs", [])),
            subnets=list(data.get("subnets", [])),
            resolver_log=Path(data["resolver_log"]) if data.get("resolver_log") else None,
            isolated=bool(data.get("isolated", True)),
            tls=str(data.get("tls", "alert")),
            tls_records=Path(data["tls_records"]) if data.get("tls_records") else None,
            tls_keylog=Path(data["tls_keylog"]) if data.get("tls_keylog") else None,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Capture:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def verify(self) -> list[str]:
        """Files that are missing or whose bytes no longer match their recorded SHA-256."""
        bad = []
        for f in self.files:
            if not f.path.is_file():
                bad.append(f"{f.path}: missing")
            elif file_sha256(f.path) != f.sha256:
                bad.append(f"{f.path}: SHA-256 differs from the one recorded at capture end")
        return bad


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_digest(path: Path) -> FileDigest:
    """Describes one finished capture file (hash and size)."""
    return FileDigest(path, file_sha256(path), path.stat().st_size)
