"""Differential detection: a field that follows the handset's identity but matches no known encoding.

Leak detection looks for an identifier in every encoding it knows; an OEM that
XORs the IMEI with a key fixed in its firmware, or hashes it with a salt of
its own, slips past every one of them. The same firmware on two handsets (or
two runs with different identities) gives it away: compared per endpoint and
field, the obfuscated value changes exactly when the identifier changes.

Two proofs, from the strongest:

- ``xor``: the two values (raw, hex- or base64-decoded) XOR to exactly what
  the two identifiers XOR to, at one offset: both were XORed with one key
  (which is then known, and is reported). Two runs with different identities
  are enough; a random value matches by chance with odds of 2**-24 or less
  (at least `MIN_DIFFERING` bytes must differ between the identifiers).
- ``deterministic``: over three or more runs, runs of one identity send one
  value and runs of different identities different values (a custom hash or
  fixed-key encryption). It needs a repeated identity, or a per-run random
  install id would look the same.

A value that matches a known encoding of the run's identity (leak detection's
job, reported there) and low-entropy values are never compared; a field whose
value varies within one run (a request id) can only be proven by its XOR. Pure: fed by `FieldCollector`, an
analyzer observer, and by the runs' identities.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from phonehome.policy.forms import expand
from phonehome.policy.identity import Identity
from phonehome.traffic.flow import Flow, HttpRequest

MIN_DIFFERING = 3
"""Bytes in which two identifiers must differ before their XOR is looked for (fewer: matched by chance)."""
MIN_VALUE = 6
"""Shorter values carry too little to tell an identifier from a counter."""
RAW_LIMIT = 16 * 1024
"""Client bytes kept per non-HTTP flow (compared byte-wise)."""
MAX_FIELDS = 512
"""Fields kept per request (JSON leaves, form fields, headers): hostile bodies stay bounded."""
EXCERPT = 96
PER_RUN = 8
"""Distinct values kept per field and run (each compared with every other run's)."""
IDENTIFIERS = (
    "imei", "imeisv", "meid", "imsi", "iccid", "msisdn", "serial", "wifi_mac", "bt_mac", "android_id",
    "advertising_id", "gsf_id",
)  # fmt: skip
"""Identity keys whose values are compared (location and cell are not one string each)."""
_SKIPPED_HEADERS = frozenset({"host", "content-length", "date", "connection", "accept-encoding"})
_ENCRYPTED = frozenset({"tls", "quic"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One value a handset sent: where to, under which field, and where in the capture."""

    endpoint: str
    """``server_name`` (or address) ``:port/proto``: one endpoint across benches."""
    field: str
    """``query:t``, ``header:x-device-token``, ``json:device.id``, ``form:imei``, ``path[2]``, ``payload#0``."""
    value: bytes
    frame: int


@dataclass(frozen=True, slots=True)
class RunFields:
    """One run to compare: a label for reports, the identity it was judged with, what it sent."""

    label: str
    identity: Identity
    samples: Sequence[Sample]


@dataclass(frozen=True, slots=True)
class Suspect:
    """A probable obfuscated identifier, with each run's excerpt of it."""

    endpoint: str
    field: str
    identifiers: tuple[str, ...]
    """The identity keys it follows (``xor``: the one whose XOR matched; ``deterministic``: every key
    that differed between the runs, which cannot be told apart)."""
    method: str
    """``xor`` or ``deterministic``."""
    detail: str
    excerpts: tuple[tuple[str, str, int], ...]
    """(run label, excerpt of the value, frame) per run."""

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "field": self.field,
            "identifiers": list(self.identifiers),
            "method": self.method,
            "detail": self.detail,
            "excerpts": [{"run": r, "excerpt": e, "frame": f} for r, e, f in self.excerpts],
        }


# -- what a run sent, field by field -------------------------------------------------------------


def endpoint_of(flow: Flow) -> str:
    return f"{flow.server_name or flow.dst}:{flow.dport}/{flow.proto}"


def request_fields(request: HttpRequest) -> Iterator[tuple[str, bytes]]:
    """An HTTP request's fields: path segments, query, headers, and a body as form, JSON or whole."""
    target = urlsplit(request.target)
    pieces: list[tuple[str, bytes]] = [
        (f"path[{i}]", seg.encode()) for i, seg in enumerate(s for s in target.path.split("/") if s)
    ]
    pieces += [(f"query:{k}", v.encode()) for k, v in parse_qsl(target.query, keep_blank_values=True)]
    pieces += [
        (f"header:{name.lower()}", value.encode(errors="surrogateescape"))
        for name, value in request.headers
        if name.lower() not in _SKIPPED_HEADERS
    ]
    yield from itertools.islice(itertools.chain(pieces, _body_fields(request)), MAX_FIELDS)


def _body_fields(request: HttpRequest) -> Iterator[tuple[str, bytes]]:
    body = request.body
    if not body:
        return
    kind = next((v.lower() for k, v in request.headers if k.lower() == "content-type"), "")
    if "json" in kind or body[:1] in (b"{", b"["):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # not JSON after all, or nested past Python's stack
            doc = None
        if doc is not None:
            yield from _json_leaves(doc, "json:")
            return
    if "x-www-form-urlencoded" in kind:
        text = body.decode("latin-1")
        yield from ((f"form:{k}", v.encode("latin-1")) for k, v in parse_qsl(text, keep_blank_values=True))
        return
    yield "body", body[:RAW_LIMIT]


def _json_leaves(doc: object, path: str, depth: int = 0) -> Iterator[tuple[str, bytes]]:
    if depth > 32:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _json_leaves(value, f"{path}{'.' if not path.endswith(':') else ''}{key}", depth + 1)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _json_leaves(value, f"{path}[{i}]", depth + 1)
    elif doc is not None and not isinstance(doc, bool):
        yield path, str(doc).encode()


def dns_fields(name: str, frame: int) -> list[Sample]:
    """A DNS query name's labels left of its registrable-looking suffix (the last two labels), each a
    field of that suffix: ``<token>.t.oem.example`` gives ``label[-4]`` (counted from the right) of ``dns:oem.example``."""
    labels = name.rstrip(".").split(".")
    if len(labels) < 3:
        return []
    suffix = ".".join(labels[-2:]).lower()
    count = len(labels)
    return [
        Sample(f"dns:{suffix}", f"label[{i - count}]", label.encode(errors="surrogateescape"), frame)
        for i, label in enumerate(labels[:-2])
    ]


@dataclass
class FieldCollector:
    """An analyzer observer (`phonehome.traffic.FlowObserver`): every field the client sent.

    HTTP requests are split into fields; other unencrypted flows keep their first `RAW_LIMIT` client
    bytes as ``payload#N`` (the N-th such flow to that endpoint), compared byte-wise."""

    samples: list[Sample] = field(default_factory=list)
    _raw: dict[int, bytearray] = field(default_factory=dict)
    _first: dict[int, int] = field(default_factory=dict)
    _seen: dict[str, int] = field(default_factory=dict)

    def on_payload(self, flow: Flow, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        if not from_client:
            return
        kept = self._raw.setdefault(flow.id, bytearray())
        self._first.setdefault(flow.id, frame)
        if len(kept) < RAW_LIMIT:
            kept += data[: RAW_LIMIT - len(kept)]

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        where = endpoint_of(flow)
        for name, value in request_fields(request):
            self.samples.append(Sample(where, name, value, request.first_frame))

    def on_flow_end(self, flow: Flow) -> None:
        for query in flow.dns_queries[:MAX_FIELDS]:
            self.samples += dns_fields(query.name, query.frame)
        raw = self._raw.pop(flow.id, None)
        frame = self._first.pop(flow.id, flow.first_frame)
        if raw is None or flow.http_requests or flow.transport in _ENCRYPTED or flow.tls is not None:
            return
        where = endpoint_of(flow)
        index = self._seen.get(where, 0)
        self._seen[where] = index + 1
        self.samples.append(Sample(where, f"payload#{index}", bytes(raw), frame))


# -- comparing runs ----------------------------------------------------------------------------------


def compare(runs: Sequence[RunFields]) -> list[Suspect]:
    """The fields of ``runs`` that follow an identifier and match no known encoding of it."""
    known = [_known_forms(run.identity) for run in runs]
    table: dict[tuple[str, str], list[tuple[int, bytes, int]]] = {}
    varies: set[tuple[str, str]] = set()
    for i, run in enumerate(runs):
        for sample in run.samples:
            key = (sample.endpoint, sample.field)
            values = table.setdefault(key, [])
            mine = [v for r, v, _f in values if r == i]
            if mine and sample.value not in mine:
                varies.add(key)  # a request id: new on every request
            if sample.value not in mine and len(mine) < PER_RUN:
                values.append((i, sample.value, sample.frame))
    found = []
    for key, values in table.items():
        # A known encoding is leak detection's finding; the field's other values are still compared
        # (an XORed token beside a random one under the same name must not hide behind it).
        usable = [(r, v, f) for r, v, f in values if len(v) >= MIN_VALUE and not _is_known(v, known[r])]
        if len({r for r, _v, _f in usable}) < 2:
            continue
        suspect = _xor(key, usable, runs)
        if suspect is None and key not in varies and len(usable) == len(values):
            suspect = _deterministic(key, usable, runs)
        if suspect is not None:
            found.append(suspect)
    return sorted(found, key=lambda s: (s.endpoint, s.field))


def _known_forms(identity: Identity) -> list[tuple[bytes, bool]]:
    return [
        (f.pattern.lower() if f.caseless else f.pattern, f.caseless)
        for f in expand(identity).forms
        if not f.regex
    ]


def _is_known(value: bytes, forms: list[tuple[bytes, bool]]) -> bool:
    """Whether ``value`` (or what it decodes to) holds a known form: leak detection reports it."""
    for data in [value, *(d for _name, d in _decodings(value))]:
        lower = data.lower()
        if any(p in (lower if caseless else data) for p, caseless in forms if p):
            return True
    return False


def _decodings(value: bytes) -> Iterator[tuple[str, bytes]]:
    """The value as hex and as base64 (standard or URL-safe), where it is either."""
    text = value.strip()
    if len(text) % 2 == 0 and text and all(c in b"0123456789abcdefABCDEF" for c in text):
        yield "hex", binascii.unhexlify(text)
    packed = b"".join(text.split())  # Android's Base64.DEFAULT breaks lines (RFC 2045)
    if len(packed) % 4 == 0 and packed:
        for name, alphabet in (("base64", None), ("base64url", b"-_")):
            try:
                yield name, base64.b64decode(packed, altchars=alphabet, validate=True)
            except (binascii.Error, ValueError):
                continue


def _identifier_values(identity: Identity) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for key in IDENTIFIERS:
        values = [str(v) for v in getattr(identity, key, ()) or ()]
        forms = [v.encode() for v in values]
        if key.endswith("mac"):
            forms += [v.replace(":", "").encode() for v in values]
        out[key] = forms
    return out


def _xor(
    key: tuple[str, str], values: list[tuple[int, bytes, int]], runs: Sequence[RunFields]
) -> Suspect | None:
    """Two runs whose values XOR to their identifiers' XOR: one key fixed in the firmware."""
    for (ra, va, _fa), (rb, vb, _fb) in itertools.combinations(values, 2):
        if ra == rb:
            continue
        ids_a, ids_b = _identifier_values(runs[ra].identity), _identifier_values(runs[rb].identity)
        views_a, views_b = dict([("raw", va), *_decodings(va)]), dict([("raw", vb), *_decodings(vb)])
        for view in views_a.keys() & views_b.keys():
            da, db = views_a[view], views_b[view]
            for kind in IDENTIFIERS:
                for ia, ib in zip(ids_a[kind], ids_b[kind], strict=False):
                    offset = xor_offset(da, db, ia, ib)
                    if offset is None:
                        continue
                    secret = bytes(p ^ q for p, q in zip(da[offset : offset + len(ia)], ia, strict=True))
                    detail = (
                        f"{view} bytes {offset}..{offset + len(ia)} are {kind} XOR key {secret.hex()} in "
                        f"{runs[ra].label} and {runs[rb].label}: an identifier obfuscated with a fixed key"
                    )
                    return _suspect(
                        key, identifiers=(kind,), method="xor", detail=detail, values=values, runs=runs
                    )
    return None


def xor_offset(da: bytes, db: bytes, ia: bytes, ib: bytes) -> int | None:
    """Where ``da`` XOR ``db`` equals ``ia`` XOR ``ib`` (and ``da`` is not ``ia`` itself), or None."""
    if len(da) != len(db) or len(ia) != len(ib) or len(da) < len(ia):
        return None
    delta = bytes(p ^ q for p, q in zip(ia, ib, strict=True))
    if sum(1 for b in delta if b) < MIN_DIFFERING:
        return None
    x = bytes(p ^ q for p, q in zip(da, db, strict=True))
    offset = x.find(delta)
    while offset != -1:
        if da[offset : offset + len(ia)] != ia:
            return offset
        offset = x.find(delta, offset + 1)
    return None


def _deterministic(
    key: tuple[str, str], values: list[tuple[int, bytes, int]], runs: Sequence[RunFields]
) -> Suspect | None:
    """One value per identity and a different one per different identity, shown by a repeated identity."""
    same = different = False
    changed: set[str] = set()
    for (ra, va, _fa), (rb, vb, _fb) in itertools.combinations(values, 2):
        ids_a, ids_b = _identifier_values(runs[ra].identity), _identifier_values(runs[rb].identity)
        moved = {k for k in IDENTIFIERS if ids_a[k] != ids_b[k] and ids_a[k] and ids_b[k]}
        if not moved:
            if va != vb:
                return None  # one identity, two values: random per run
            same = True
        else:
            if va == vb:
                return None  # two identities, one value: not the identity's
            different = True
            changed |= moved
    if not (same and different):
        return None
    detail = (
        "one value per identity over the runs, a different one for each other identity, and no known "
        "encoding of it: a custom hash or an encryption with a fixed key"
    )
    kinds = tuple(k for k in IDENTIFIERS if k in changed)
    return _suspect(key, identifiers=kinds, method="deterministic", detail=detail, values=values, runs=runs)


def _suspect(
    key: tuple[str, str],
    *,
    identifiers: tuple[str, ...],
    method: str,
    detail: str,
    values: list[tuple[int, bytes, int]],
    runs: Sequence[RunFields],
) -> Suspect:
    excerpts = tuple((runs[r].label, excerpt(v), frame) for r, v, frame in values)
    return Suspect(key[0], key[1], identifiers, method, detail, excerpts)


def excerpt(value: bytes) -> str:
    """Printable ASCII as is, every other byte as ``\\xNN``; at most `EXCERPT` bytes."""
    shown = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in value[:EXCERPT])
    return shown + ("..." if len(value) > EXCERPT else "")
