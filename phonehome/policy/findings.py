"""Findings and verdicts: what a lab's report says, each traced to the clauses it bears on.

Plain records with a ``to_json`` each, because labs script against the JSON
of ``phonehome analyze``. Strings taken from traffic are escaped here, once
(traffic is hostile; a report must not carry its bytes raw).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from phonehome.traffic.flow import Flow

Result = Literal["PASS", "FAIL", "INCONCLUSIVE", "NOT_APPLICABLE"]

RESULTS: tuple[Result, ...] = ("FAIL", "INCONCLUSIVE", "PASS", "NOT_APPLICABLE")
"""Every result, worst first: the one ordering the policy, the plugin and ``phonehome run`` use."""


def worst(results: Iterable[Result]) -> Result:
    """FAIL if any FAIL; else INCONCLUSIVE if any; else PASS if any PASS; else NOT_APPLICABLE."""
    seen = set(results)
    return next((r for r in RESULTS if r in seen), "NOT_APPLICABLE")


# Assertion names (DESIGN.md, "Verdict assertions"). What each judges and the clauses it traces to live
# in its own module under ``phonehome.policy.assertions``; these names are what findings carry.
DECLARED_ENDPOINTS = "declared-endpoints"
NO_CLEARTEXT_IDENTIFIERS = "no-cleartext-identifiers"
IDENTIFIER_RECIPIENTS = "identifier-recipients"
TRANSPORT = "transport"
CONSENT = "consent"
REGIONS = "regions"
VISIBLE_DNS = "visible-dns"
CERTIFICATE_VALIDATION = "certificate-validation"
BUILD_IDENTITY = "build-identity"

# Identifiers with clauses of their own (Android CDD 9.8.5: device identifiers; 9.8.8: location).
RESTRICTED_IDENTIFIERS = frozenset({"imei", "imeisv", "meid", "serial", "imsi", "iccid"})
LOCATION_IDENTIFIERS = frozenset({"location", "cell", "bssid", "ssid"})


def clauses_with(clauses: Iterable[str], identifier: str | None = None) -> list[str]:
    """An assertion's clauses plus those an identifier of this kind adds (CDD 9.8.5, 9.8.8)."""
    out = list(clauses)
    if identifier in RESTRICTED_IDENTIFIERS and "Android CDD 9.8.5" not in out:
        out.append("Android CDD 9.8.5")
    if identifier in LOCATION_IDENTIFIERS and "Android CDD 9.8.8" not in out:
        out.append("Android CDD 9.8.8")
    return out


def escape(data: bytes | str, limit: int = 400) -> str:
    """Printable ASCII kept, everything else ``\\xNN`` (so «» can mark a match unambiguously)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    out = []
    for byte in raw[:limit]:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out) + ("..." if len(raw) > limit else "")


def excerpt(data: bytes, start: int, end: int, context: int = 40) -> str:
    """``...before«match»after...``, escaped."""
    start, end = max(0, start), min(len(data), end)
    head = ("..." if start > context else "") + escape(data[max(0, start - context) : start])
    tail = escape(data[end : end + context]) + ("..." if end + context < len(data) else "")
    return f"{head}«{escape(data[start:end], 200)}»{tail}"


@dataclass(frozen=True, slots=True)
class FlowRef:
    """The flow a finding is about, as a report shows it."""

    id: int
    proto: str
    src: str
    sport: int
    dst: str
    dport: int
    server_name: str | None
    name_source: str
    transport: str
    app: str | None

    @classmethod
    def of(cls, flow: Flow) -> FlowRef:
        return cls(
            flow.id,
            flow.proto,
            flow.src,
            flow.sport,
            flow.dst,
            flow.dport,
            escape(flow.server_name) if flow.server_name else None,
            flow.name_source,
            flow.transport,
            flow.app,
        )

    @property
    def endpoint(self) -> str:
        return f"{self.server_name or self.dst}:{self.dport}/{self.proto}"


@dataclass(slots=True)
class Finding:
    """One thing the traffic shows that an assertion cares about, with its evidence."""

    rule: str
    """What was seen: ``cleartext-identifier``, ``identifier-shaped-field``, ``decode-limit``,
    ``undeclared-endpoint``, ``undeclared-lookup``, ``undeclared-recipient``, ``cleartext-transport``,
    ``weak-tls``, ``before-consent``, ``after-decline``, ``region``, ``denied-network``, ``hidden-dns``."""
    assertion: str
    detail: str
    """One sentence a lab can read."""
    flow: FlowRef | None = None
    identifier: str | None = None
    """The identity file's key (``imei``, ``iccid``, ``wifi_mac``, ``location``...)."""
    form: str | None = None
    """How it appeared (``imei-14``, ``md5-hex(mac-colon)``...)."""
    decode: str | None = None
    """Decode chain, e.g. ``http-body>base64>json:IMEI1``."""
    frames: list[int] = field(default_factory=list)
    offset: int | None = None
    """Byte offset in the sender's stream of the match (or, when decoded, of the encoded region)."""
    offset_exact: bool = True
    excerpt: str | None = None
    phase: str | None = None
    ts: float | None = None
    occurrences: int = 1
    clauses: list[str] = field(default_factory=list)
    from_client: bool | None = None
    """Which side of the flow sent the bytes: its client (opener) or its server; None when not about bytes."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["flow"] = asdict(self.flow) if self.flow else None
        return out


@dataclass(slots=True)
class Verdict:
    """PASS, FAIL, INCONCLUSIVE or NOT_APPLICABLE for one assertion, and why."""

    assertion: str
    result: Result
    reason: str
    findings: int = 0
    """How many findings bear on it (they carry ``assertion``)."""
    clauses: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
