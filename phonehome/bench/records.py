"""What a bench created, one typed record per thing: the data its removal needs, nothing more.

Each record is a frozen dataclass with a ``kind`` tag; the bench writes them
into its state file (``to_dict``) the moment the thing exists, and any process
reads them back (`record_from_dict`) to remove the bench, also after a crash.
Removing is `phonehome.bench.undo`'s job (a record only holds data, as a
labgrid resource does). A record of a kind this version does not know is an
error, never skipped: it would be something left on the host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from phonehome.bench.process import ProcessId


@dataclass(frozen=True, slots=True)
class NetnsCreated:
    """A network namespace (``ip netns add``)."""

    kind: ClassVar[str] = "netns"
    name: str

    def describe(self) -> str:
        return f"namespace {self.name}"


@dataclass(frozen=True, slots=True)
class LinkCreated:
    """An interface the bench made (veth, bridge, VLAN); ``netns`` None is the host."""

    kind: ClassVar[str] = "link"
    netns: str | None
    ifname: str

    def describe(self) -> str:
        return f"link {self.ifname} in {self.netns or 'host'}"


@dataclass(frozen=True, slots=True)
class LinkMoved:
    """An interface moved into ``netns`` that goes back home as ``home``."""

    kind: ClassVar[str] = "moved"
    netns: str
    ifname: str
    home: str

    def describe(self) -> str:
        return f"link {self.ifname} in {self.netns}"


@dataclass(frozen=True, slots=True)
class HostInterfaceTaken:
    """A host interface moved into ``netns``; ``state`` (`phonehome.bench.hostif.snapshot`) is what it gets
    back: name, MTU, MAC, master, sysctls, addresses, routes."""

    kind: ClassVar[str] = "taken"
    netns: str
    ifname: str
    state: dict[str, Any]

    def describe(self) -> str:
        return f"link {self.ifname} in {self.netns}"


@dataclass(frozen=True, slots=True)
class PhyTaken:
    """A Wi-Fi radio (``phy``) moved into ``netns`` with its interface ``ifname``; ``state`` is what the
    interface gets back once the radio is home."""

    kind: ClassVar[str] = "phy"
    netns: str
    phy: str
    ifname: str
    state: dict[str, Any]

    def describe(self) -> str:
        return f"radio {self.phy} ({self.ifname}) in {self.netns}"


@dataclass(frozen=True, slots=True)
class NftTable:
    """An nftables table (``family`` ``table``) in ``netns`` (None: the host)."""

    kind: ClassVar[str] = "nft"
    netns: str | None
    family: str
    table: str

    def describe(self) -> str:
        return f"nft table {self.family} {self.table} in {self.netns or 'host'}"


@dataclass(frozen=True, slots=True)
class SysctlSet:
    """A sysctl the bench wrote; ``old`` is the value it had (None: it did not exist)."""

    kind: ClassVar[str] = "sysctl"
    netns: str | None
    key: str
    old: str | None

    def describe(self) -> str:
        return f"sysctl {self.key} in {self.netns or 'host'}"


@dataclass(frozen=True, slots=True)
class ProcessStarted:
    """A process the bench started (``role``: dnsmasq, resolver, sinks, ``capture:PORT``, ``hostapd:PORT``)."""

    kind: ClassVar[str] = "process"
    role: str
    pid: int
    start: int

    @property
    def process(self) -> ProcessId:
        return ProcessId(self.pid, self.start)

    def describe(self) -> str:
        return f"{self.role} (pid {self.pid})"


@dataclass(frozen=True, slots=True)
class PathCreated:
    """A file or folder the bench wrote outside its results (``/etc/netns/NAME``, a hostapd config)."""

    kind: ClassVar[str] = "path"
    path: str

    def describe(self) -> str:
        return f"path {self.path}"


Record = (
    NetnsCreated
    | LinkCreated
    | LinkMoved
    | HostInterfaceTaken
    | PhyTaken
    | NftTable
    | SysctlSet
    | ProcessStarted
    | PathCreated
)
RECORD_KINDS: dict[str, type[Record]] = {
    cls.kind: cls
    for cls in (
        NetnsCreated,
        LinkCreated,
        LinkMoved,
        HostInterfaceTaken,
        PhyTaken,
        NftTable,
        SysctlSet,
        ProcessStarted,
        PathCreated,
    )
}


class UnknownRecord(ValueError):
    """A state file record this version cannot read: its thing may still exist on the host."""


def record_to_dict(record: Record) -> dict[str, Any]:
    """The JSON form in the state file: ``{"kind": ..., field: value, ...}``."""
    return {"kind": record.kind, **asdict(record)}


def record_from_dict(data: dict[str, Any]) -> Record:
    """The record a state file holds; `UnknownRecord` for a kind or fields this version does not know."""
    kind = data.get("kind") if isinstance(data, dict) else None
    cls = RECORD_KINDS.get(str(kind))
    if cls is None:
        raise UnknownRecord(f"unknown undo record kind {kind!r}")
    names = {f.name for f in fields(cls)}
    given = {k: v for k, v in data.items() if k != "kind"}
    if set(given) != names:
        raise UnknownRecord(f"undo record {kind!r} has fields {sorted(given)}, expected {sorted(names)}")
    return cls(**given)


def path_record(path: Path) -> PathCreated:
    return PathCreated(str(path))
