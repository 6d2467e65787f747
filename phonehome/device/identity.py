"""A handset's identity with where each value came from, and where sources disagree.

The reader (`phonehome.device.reader`) turns shell output into `Reading`s;
the inventory and the bench add theirs; `merge` builds the
`phonehome.policy.Identity` leak detection looks for. Every value of every
source is kept (a wrong value costs a search term, a missing one a false
PASS); when what the phone reports and what the lab declared differ, the
report says so in `IdentityReport.conflicts` instead of choosing silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phonehome.policy.identity import IDENTIFIER_KEYS, Cell, Identity, Location

if TYPE_CHECKING:
    from phonehome.device.inventory import InventoryEntry

SERVICE_CALL = "adb:service-call"
GETPROP = "adb:getprop"
SETTINGS = "adb:settings"
DUMPSYS = "adb:dumpsys"
IP_LINK = "adb:ip-link"
INVENTORY = "inventory"
BENCH = "bench"
ADB_SOURCES = (SERVICE_CALL, GETPROP, SETTINGS, DUMPSYS, IP_LINK)
SCALAR_KEYS = ("location", "cell")
CELL_KEYS = ("mcc", "mnc", "lac", "tac", "cid")


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one identity key, from one source (``adb:service-call``, ``inventory``...)."""

    key: str  # an identity key: imei, iccid, wifi_mac, cell, location...
    value: str  # normalised as in `Identity` (digits, 12-hex MACs); cell/location in `cell_text` form
    source: str
    detail: str  # the command, property or file that gave it


@dataclass(frozen=True, slots=True)
class Conflict:
    """The handset says one thing, the lab (or the bench) another."""

    key: str
    read: tuple[str, ...]
    declared: tuple[str, ...]
    declared_by: str  # inventory | bench

    def __str__(self) -> str:
        return (
            f"{self.key}: the handset reports {', '.join(self.read)} but the {self.declared_by} declares "
            f"{', '.join(self.declared)}"
        )


@dataclass(frozen=True, slots=True)
class Unread:
    """A key (or one attempt at it) the shell could not read, and why.

    Either a gap (denied, failed, garbled: the handset has a value nobody read) or, when ``absent``
    says why, no value to read at all (no SIM, no radio, no fix). Only gaps make verdicts that look
    for identifiers INCONCLUSIVE (`phonehome.policy.Identity.unread`).
    """

    key: str
    detail: str
    reason: str
    absent: str = ""
    """Why the handset has no such value (``no SIM: gsm.sim.state ABSENT``); empty for a gap."""

    def __str__(self) -> str:
        text = f"{self.key}: {self.detail}: {self.reason}"
        return f"{text} (not present: {self.absent})" if self.absent else text


@dataclass(frozen=True)
class IdentityReport:
    """The merged identity, the provenance of every value, conflicts, and what could not be read."""

    serial: str
    identity: Identity
    provenance: tuple[Reading, ...]
    conflicts: tuple[Conflict, ...] = ()
    unread: tuple[Unread, ...] = ()
    warnings: tuple[str, ...] = ()
    inventory_entry: str | None = None  # "devices/inventory.yaml: B2NGAA..." when one matched

    def sources(self, key: str) -> list[str]:
        """Where the values of ``key`` came from, in order of first appearance."""
        return list(dict.fromkeys(r.source for r in self.provenance if r.key == key))

    def values(self, key: str, source: str | None = None) -> list[str]:
        return list(
            dict.fromkeys(r.value for r in self.provenance if r.key == key and source in (None, r.source))
        )

    def table(self) -> str:
        """The provenance table as text, for logs and the lab report."""
        rows = [("key", "value", "source", "detail")]
        rows += [(r.key, r.value, r.source, r.detail) for r in self.provenance]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in rows]
        lines += [f"CONFLICT {c}" for c in self.conflicts]
        lines += [f"unread   {u}" for u in self.unread]
        return "\n".join(line.rstrip() for line in lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the results folder."""
        return {
            "serial": self.serial,
            "identity": self.identity.model_dump(mode="json", exclude_defaults=True),
            "provenance": [
                {"key": r.key, "value": r.value, "source": r.source, "detail": r.detail}
                for r in self.provenance
            ],
            "conflicts": [
                {
                    "key": c.key,
                    "read": list(c.read),
                    "declared": list(c.declared),
                    "declared_by": c.declared_by,
                }
                for c in self.conflicts
            ],
            "unread": [
                {"key": u.key, "detail": u.detail, "reason": u.reason, "absent": u.absent or None}
                for u in self.unread
            ],
            "warnings": list(self.warnings),
            "inventory_entry": self.inventory_entry,
        }


def normalize(key: str, value: str) -> str:
    """``value`` as `Identity` stores it; ValueError (pydantic's) when it is not a valid ``key``."""
    ident = Identity.model_validate({key: [value]})
    return str(getattr(ident, key)[0])


def cell_text(cell: Cell) -> str:
    """``mcc=242 mnc=1 tac=4567 cid=12345678``: a cell in one comparable string."""
    return " ".join(f"{k}={getattr(cell, k)}" for k in CELL_KEYS if getattr(cell, k) is not None)


def location_text(location: Location) -> str:
    text = f"{location.lat:.6f},{location.lon:.6f}"
    return f"{text}~{location.tolerance:g}" if location.tolerance else text


def _cell_from(text: str) -> Cell:
    return Cell.model_validate(dict(part.split("=", 1) for part in text.split()))


def _location_from(text: str) -> Location:
    coords, _, tolerance = text.partition("~")
    lat, lon = coords.split(",")
    return Location(lat=float(lat), lon=float(lon), tolerance=float(tolerance or 0))


def identity_readings(identity: Identity, source: str, detail: str) -> list[Reading]:
    """The values of a declared identity (inventory, bench) as readings."""
    out = []
    for key in IDENTIFIER_KEYS:
        value = getattr(identity, key)
        if key == "cell" and value is not None:
            out.append(Reading(key, cell_text(value), source, detail))
        elif key == "location" and value is not None:
            out.append(Reading(key, location_text(value), source, detail))
        elif isinstance(value, list):
            out += [Reading(key, str(v), source, detail) for v in value]
    return out


def _universal(mac: str) -> bool:
    """A burned-in MAC (not locally administered, IEEE 802 bit 1 of the first octet)."""
    return not int(mac[:2], 16) & 0x02


def _conflicts(readings: list[Reading]) -> list[Conflict]:
    out = []
    for key in IDENTIFIER_KEYS:
        read = [r.value for r in readings if r.key == key and r.source in ADB_SOURCES]
        for declared_by in (INVENTORY, BENCH):
            declared = [r.value for r in readings if r.key == key and r.source == declared_by]
            if not read or not declared:
                continue
            mine, theirs = list(dict.fromkeys(read)), list(dict.fromkeys(declared))
            if key in ("wifi_mac", "bt_mac"):  # randomized MACs differ by design; compare burned-in ones
                mine = [m for m in mine if _universal(m)]
            if key in SCALAR_KEYS:
                differ = not _same_scalar(key, mine[0], theirs[0])
            else:
                differ = bool(set(mine) - set(theirs)) and bool(set(theirs) - set(mine))
            if mine and differ:
                out.append(Conflict(key, tuple(mine), tuple(theirs), declared_by))
    return out


def _same_scalar(key: str, read: str, declared: str) -> bool:
    if key == "location":
        a, b = _location_from(read), _location_from(declared)
        slack = 0.01 + max(a.tolerance, b.tolerance)  # ~1 km: a bench's mock fix vs the phone's last fix
        return abs(a.lat - b.lat) <= slack and abs(a.lon - b.lon) <= slack
    mine, theirs = _cell_from(read), _cell_from(declared)
    return all(
        getattr(mine, k) == getattr(theirs, k)
        for k in CELL_KEYS
        if getattr(mine, k) is not None and getattr(theirs, k) is not None
    )


def gaps(unread: Iterable[Unread]) -> dict[str, str]:
    """Identity keys the handset has but that could not be read (denied, failed), each with the first why.

    A key counts as a gap as soon as one attempt at it failed for a reason other than absence: a SIM
    the shell was denied is still a SIM whose ICCID may leak.
    """
    out: dict[str, str] = {}
    for u in unread:
        if u.key in IDENTIFIER_KEYS and not u.absent and u.key not in out:
            out[u.key] = f"{u.reason} ({u.detail})"
    return out


def merge(
    serial: str,
    readings: Iterable[Reading],
    unread: Iterable[Unread] = (),
    *,
    entry: InventoryEntry | None = None,
    inventory_path: str = "",
    bench: Identity | None = None,
    svn: str | None = None,
) -> IdentityReport:
    """Read values, then the bench's, then the inventory's: every value kept, conflicts reported.

    Single values (cell, location) take the first source in that order.
    ``svn`` (getDeviceSvn) completes the IMEISV of the first IMEI when the
    handset did not report one.
    """
    rows = list(readings)
    where = f"{inventory_path or 'inventory'}: {entry.serial}" if entry else None
    if bench is not None:
        rows += identity_readings(bench, BENCH, "bench")
    if entry is not None:
        rows += identity_readings(entry.identity, INVENTORY, where or "inventory")
    imeis = [r for r in rows if r.key == "imei" and len(r.value) in (14, 15)]
    if svn and imeis and not any(r.key == "imeisv" for r in rows):
        first = imeis[0]
        source = SERVICE_CALL if first.source == SERVICE_CALL else f"{SERVICE_CALL}+{first.source}"
        rows.append(
            Reading("imeisv", first.value[:14] + svn, source, f"IMEI 1 ({first.source}) + getDeviceSvn")
        )
    rows = list(dict.fromkeys(rows))
    data: dict[str, Any] = {}
    sources: dict[str, list[str]] = {}
    for r in rows:
        if r.key in SCALAR_KEYS:
            if r.key not in data:
                data[r.key] = _cell_from(r.value) if r.key == "cell" else _location_from(r.value)
                sources.setdefault(r.key, []).append(r.source)
            continue
        values = data.setdefault(r.key, [])
        if r.value not in values:
            values.append(r.value)
        if r.source not in sources.setdefault(r.key, []):
            sources[r.key].append(r.source)
    data["sources"] = {k: "+".join(v) for k, v in sources.items()}
    unread_list = list(unread)
    data["unread"] = gaps(unread_list)
    identity = Identity.model_validate(data)  # drops from ``unread`` what another source supplied
    absent = {u.key: u.absent for u in unread_list if u.absent and u.key in IDENTIFIER_KEYS}
    warnings = identity.warnings() + [
        f"{key} could not be read over ADB and no inventory declares it: leak detection cannot look for it"
        for key in identity.unread
    ]
    warnings += [
        f"{key}: not present ({why}); if the handset has one, declare it in the inventory"
        for key, why in absent.items()
        if key not in identity.unread and not getattr(identity, key)
    ]
    return IdentityReport(
        serial=serial,
        identity=identity,
        provenance=tuple(rows),
        conflicts=tuple(_conflicts(rows)),
        unread=tuple(unread_list),
        warnings=tuple(dict.fromkeys(warnings)),
        inventory_entry=where,
    )
