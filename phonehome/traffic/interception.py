"""What the bench's TLS service did with each TLS connection: the certificate it offered, what the handset did.

The bench writes these records (``tls.jsonl``, JSON Lines) while a capture runs
in ``tls: validate`` or ``tls: intercept`` mode; the policy reads them to judge
``certificate-validation`` and to tell decrypted flows from those the handset
refused to let the bench decrypt (pinning). They live here, not in ``bench``,
because the policy reads them and must not import the bench. The capture stays
the authority on what was sent; a record names its flow by its 5-tuple.

A *probe* is the kind of certificate offered: ``self-signed`` (the right name,
no issuer), ``wrong-name`` (the lab CA's chain, for another name), ``expired``
(the lab CA's chain, the right name, out of date), ``untrusted-ca`` (the right
name from a CA no handset trusts) and ``lab-ca`` (the lab CA's chain, the right
name, in date: what a handset with the lab CA installed accepts). nogotofail's
attacks are the model (``selfsigned``, ``invalidhostname``, ``anonserver`` aside).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TlsMode = Literal["alert", "validate", "intercept"]
"""alert: every ClientHello gets a fatal alert (nothing is decrypted, no certificate is tested);
validate: each TLS endpoint is offered certificates it must refuse, in turn; intercept: each is offered
the lab CA's certificate for its name, and what the handset then sends is decrypted."""

BAD_PROBES = ("self-signed", "wrong-name", "expired", "untrusted-ca")
"""Certificates a handset must refuse, in the order each endpoint is offered them."""
CONTROL = "lab-ca"
"""The lab CA's good certificate: accepted where the lab CA is installed, refused where the app pins."""
PROBES_IN_TURN = (*BAD_PROBES, CONTROL)
NEEDS_LAB_CA = ("wrong-name", "expired")
"""Probes whose refusal proves something only when the handset trusts the lab CA (their chain is the
lab CA's: without it they are refused for the chain alone, whatever the name or date check does)."""

Handshake = Literal["completed", "refused", "failed"]
"""completed: the handset finished the handshake; refused: it sent an alert or hung up during the
handshake (it would not accept the certificate); failed: the handshake broke for another reason (no
shared cipher or version, bytes that were not TLS): the probe was not really offered."""


def handshake_of(value: object) -> Handshake:
    """``value`` as a `Handshake`; ValueError for anything else."""
    for known in ("completed", "refused", "failed"):
        if value == known:
            return known
    raise ValueError(f"handshake {value!r}")


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """The certificate the bench presented, as a lab report quotes it."""

    probe: str
    subject: str
    issuer: str
    names: tuple[str, ...]
    """Its subjectAltName entries (DNS names and IP addresses)."""
    not_before: str
    not_after: str
    """ISO 8601, UTC."""
    sha256: str
    """SHA-256 of the DER certificate, hex (what ``openssl x509 -fingerprint -sha256`` shows)."""

    def describe(self) -> str:
        names = ", ".join(self.names) or "no names"
        return (
            f"{self.probe} certificate subject {self.subject!r} issuer {self.issuer!r} for {names}, valid "
            f"{self.not_before} to {self.not_after}, SHA-256 {self.sha256[:16]}..."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "subject": self.subject,
            "issuer": self.issuer,
            "names": list(self.names),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CertificateInfo:
        return cls(
            str(data["probe"]),
            str(data["subject"]),
            str(data["issuer"]),
            tuple(str(n) for n in data.get("names", [])),
            str(data["not_before"]),
            str(data["not_after"]),
            str(data["sha256"]),
        )


@dataclass(slots=True)
class TlsOffer:
    """One TLS connection of the handset's: the certificate offered and how the handset took it."""

    client: tuple[str, int]
    """The handset's address and port."""
    dst: tuple[str, int]
    """The destination the handset addressed (before the bench redirected it)."""
    ts: float
    end: float
    mode: str
    endpoint: str
    """``name:port`` by the SNI (``address:port`` without one): what probes are counted per."""
    attempt: int
    """This connection is the endpoint's N-th (1...): probes go round in ``BAD_PROBES`` + ``CONTROL`` order."""
    sni: str | None
    certificate: CertificateInfo
    handshake: Handshake
    error: str = ""
    """What the TLS library said when the handshake did not complete (the handset's alert, or why)."""
    tls_version: str | None = None
    alpn: str | None = None
    app_bytes: int = 0
    """Application data the handset sent after the handshake (decrypted bytes, all of them counted)."""
    app_head: bytes = b""
    """The first of those bytes (up to ``HEAD_BYTES``)."""
    requests: int = 0
    """HTTP requests the handset sent on the connection."""

    @property
    def accepted(self) -> bool:
        """The handset completed the handshake *and* sent application data: it trusted the certificate.
        A handshake completed and then hung up on is a refusal after the fact (a hostname verifier or a
        pin checked after the handshake, as Android's HttpsURLConnection and OkHttp do)."""
        return self.handshake == "completed" and self.app_bytes > 0

    @property
    def refused(self) -> bool:
        return self.handshake == "refused" or (self.handshake == "completed" and self.app_bytes == 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "tls",
            "client": list(self.client),
            "dst": list(self.dst),
            "ts": self.ts,
            "end": self.end,
            "mode": self.mode,
            "endpoint": self.endpoint,
            "attempt": self.attempt,
            "sni": self.sni,
            "certificate": self.certificate.to_dict(),
            "handshake": self.handshake,
            "error": self.error,
            "tls_version": self.tls_version,
            "alpn": self.alpn,
            "app_bytes": self.app_bytes,
            "app_head": base64.b64encode(self.app_head).decode(),
            "requests": self.requests,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TlsOffer:
        return cls(
            client=(str(data["client"][0]), int(data["client"][1])),
            dst=(str(data["dst"][0]), int(data["dst"][1])),
            ts=float(data["ts"]),
            end=float(data["end"]),
            mode=str(data["mode"]),
            endpoint=str(data["endpoint"]),
            attempt=int(data["attempt"]),
            sni=str(data["sni"]) if data.get("sni") is not None else None,
            certificate=CertificateInfo.from_dict(data["certificate"]),
            handshake=handshake_of(data["handshake"]),
            error=str(data.get("error", "")),
            tls_version=data.get("tls_version"),
            alpn=data.get("alpn"),
            app_bytes=int(data.get("app_bytes", 0)),
            app_head=base64.b64decode(data.get("app_head", "")),
            requests=int(data.get("requests", 0)),
        )


@dataclass(slots=True)
class Exchange:
    """One HTTP request the TLS service read (decrypted when ``tls``), and the status it answered."""

    client: tuple[str, int]
    dst: tuple[str, int]
    ts: float
    tls: bool
    sni: str | None
    method: str
    url: str
    """scheme://host[:port]/path?query as the request gave it (bounded)."""
    http_version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_bytes: int = 0
    body_head: bytes = b""
    body_sha256: str = ""
    status: int | None = None
    websocket_messages: int = 0
    """Messages the handset sent on the WebSocket this request opened (each one is a ``websocket`` record)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "http",
            "client": list(self.client),
            "dst": list(self.dst),
            "ts": self.ts,
            "tls": self.tls,
            "sni": self.sni,
            "method": self.method,
            "url": self.url,
            "http_version": self.http_version,
            "headers": [list(h) for h in self.headers],
            "body_bytes": self.body_bytes,
            "body_head": base64.b64encode(self.body_head).decode(),
            "body_sha256": self.body_sha256,
            "status": self.status,
            "websocket_messages": self.websocket_messages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(
            client=(str(data["client"][0]), int(data["client"][1])),
            dst=(str(data["dst"][0]), int(data["dst"][1])),
            ts=float(data["ts"]),
            tls=bool(data["tls"]),
            sni=data.get("sni"),
            method=str(data["method"]),
            url=str(data["url"]),
            http_version=str(data.get("http_version", "")),
            headers=[(str(k), str(v)) for k, v in data.get("headers", [])],
            body_bytes=int(data.get("body_bytes", 0)),
            body_head=base64.b64decode(data.get("body_head", "")),
            body_sha256=str(data.get("body_sha256", "")),
            status=None if data.get("status") is None else int(data["status"]),
            websocket_messages=int(data.get("websocket_messages", 0)),
        )


@dataclass(slots=True)
class Interception:
    """Everything the TLS service of one run wrote: its mode, its offers, the exchanges it decrypted."""

    mode: str
    offers: list[TlsOffer] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    unreadable: int = 0
    """Lines that were not records (a last line cut by a kill): the record may be missing offers."""

    _by_tuple: dict[tuple[tuple[str, int], tuple[str, int]], TlsOffer] = field(
        default_factory=dict, repr=False
    )
    _indexed: int = field(default=0, init=False, repr=False)

    def offer_for(self, client: tuple[str, int], dst: tuple[str, int]) -> TlsOffer | None:
        """The offer made on the connection with this 5-tuple (TCP), if any (the first, should a port be
        reused). Indexed once: a handset opening many connections must not make judging quadratic."""
        for offer in self.offers[self._indexed :]:
            self._by_tuple.setdefault((offer.client, offer.dst), offer)
        self._indexed = len(self.offers)
        return self._by_tuple.get((client, dst))


def read_interception(path: Path, mode: str) -> Interception:
    """The TLS service's records; lines that do not parse are counted, never fatal (the bench wrote them,
    but a kill can cut the last one)."""
    found = Interception(mode)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return found
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            kind = data.get("type")
            if kind == "tls":
                found.offers.append(TlsOffer.from_dict(data))
            elif kind == "http":
                found.exchanges.append(Exchange.from_dict(data))
            elif kind != "websocket":
                found.unreadable += 1
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            found.unreadable += 1
    return found


@dataclass(slots=True)
class EndpointRecord:
    """Per TLS endpoint: what each probe did (``accepted``, ``refused``, ``failed``), in the order tried."""

    endpoint: str
    outcomes: dict[str, list[str]] = field(default_factory=dict)

    def tried(self, probe: str) -> bool:
        """Offered and answered by the handset (a failed handshake is no answer)."""
        return any(o in ("accepted", "refused") for o in self.outcomes.get(probe, []))

    def accepted(self, probe: str) -> bool:
        return "accepted" in self.outcomes.get(probe, [])

    @property
    def pinned(self) -> bool:
        """The lab CA's good certificate was refused every time it was offered (meaningful only where the
        handset is known to trust the lab CA)."""
        control = self.outcomes.get(CONTROL, [])
        return bool(control) and "refused" in control and "accepted" not in control

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "outcomes": self.outcomes, "pinned": self.pinned}


def outcome(offer: TlsOffer) -> str:
    return "accepted" if offer.accepted else "refused" if offer.refused else "failed"


def endpoints(offers: Iterable[TlsOffer]) -> dict[str, EndpointRecord]:
    """Per endpoint, what each probe did, in the order offered."""
    table: dict[str, EndpointRecord] = {}
    for offer in sorted(offers, key=lambda o: (o.endpoint, o.attempt, o.ts)):
        record = table.setdefault(offer.endpoint, EndpointRecord(offer.endpoint))
        record.outcomes.setdefault(offer.certificate.probe, []).append(outcome(offer))
    return table


def lab_ca_trusted(offers: Iterable[TlsOffer]) -> bool:
    """Some endpoint accepted the lab CA's good certificate: the handset trusts the lab CA."""
    return any(o.certificate.probe == CONTROL and o.accepted for o in offers)


def summary(interception: Interception) -> dict[str, Any]:
    """Per endpoint, what was offered and how the handset took it, for the results (``tls-endpoints.json``)."""
    table = endpoints(interception.offers)
    trusted = lab_ca_trusted(interception.offers)
    return {
        "mode": interception.mode,
        "lab_ca_trusted": trusted,
        "endpoints": [{**record.to_dict(), "pinned": record.pinned and trusted} for record in table.values()],
        "undecrypted": [
            {"client": list(o.client), "dst": list(o.dst), "endpoint": o.endpoint, "why": why(o, trusted)}
            for o in interception.offers
            if not o.accepted
        ],
        "unreadable_lines": interception.unreadable,
    }


def why(offer: TlsOffer, trusted: bool) -> str:
    """Why the bench could not read what the handset sent on this connection."""
    if offer.handshake == "failed":
        return f"the handshake failed ({offer.error or 'no reason given'})"
    if offer.certificate.probe != CONTROL:
        return f"the handset refused the {offer.certificate.probe} certificate (as it must)"
    if trusted:
        return "pinned: the handset refused the lab CA's certificate that it accepts elsewhere"
    return "the handset refused the lab CA's certificate: pinned, or the lab CA is not installed on it"
