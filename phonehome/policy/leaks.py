"""Leak detection as a FlowObserver: every unencrypted byte the handset sends, decoded, then matched.

The analyzer streams each flow direction once, in order; the stream matcher
finds forms split across segments. HTTP requests, UDP datagrams, DNS names
and the first bytes of other TCP streams are also decoded (base64, gzip,
JSON...) and matched again, and named fields are judged. At the flow's end
its hits become findings; a hit inside a region that decoding explained is
reported once, with the deepest decode chain.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from phonehome.policy.decode import Decoded, Limits, View, decode, is_text
from phonehome.policy.fields import FieldJudge, FieldMatch, text_pairs
from phonehome.policy.findings import (
    NO_CLEARTEXT_IDENTIFIERS,
    Finding,
    FlowRef,
    clauses_for,
    escape,
    excerpt,
)
from phonehome.policy.forms import expand
from phonehome.policy.identity import Identity
from phonehome.policy.matcher import Hit, Matcher, StreamScanner
from phonehome.traffic.flow import Flow, HttpRequest

RAW_DECODE_CAP = 64 << 10
"""Bytes of a non-HTTP TCP direction (and of UDP datagrams, per flow) kept to decode at its end; the
stream matcher still sees every byte."""
MAX_FRAMES = 20

Sender = Callable[[Flow, bool], bool]
"""Whether the bytes of (flow, from_client) were sent by the handset."""


def client_sends(_flow: Flow, from_client: bool) -> bool:
    """Without a known handset, the side that opened each flow is taken for it."""
    return from_client


@dataclass(slots=True)
class _Occurrence:
    identifier: str | None
    form: str
    chain: str
    offset: int
    exact: bool
    frames: list[int]
    excerpt: str
    region: tuple[int, int] | None
    """Stream span that decoding explained (an HTTP request, a datagram): stream hits inside it yield."""
    rule: str = "cleartext-identifier"
    detail: str = ""


@dataclass(slots=True)
class _Direction:
    scanner: StreamScanner
    chunks: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    raw_start: int | None = None
    datagrams: list[tuple[int, bytes, int]] = field(default_factory=list)
    """UDP: (offset, datagram, frame), up to RAW_DECODE_CAP bytes."""
    kept: int = 0
    hits: list[tuple[Hit, str]] = field(default_factory=list)
    """Stream hits with their excerpt (taken when the bytes were at hand)."""
    tail: bytes = b""
    tail_base: int = 0

    def frame_at(self, offset: int) -> int:
        i = bisect.bisect_right(self.chunks, offset) - 1
        return self.frames[max(i, 0)] if self.frames else 0


@dataclass(slots=True)
class _FlowState:
    directions: dict[bool, _Direction] = field(default_factory=dict)
    occurrences: list[_Occurrence] = field(default_factory=list)


class LeakDetector:
    """FlowObserver that turns the handset's unencrypted bytes into ``cleartext-identifier`` findings.

    One per identity and capture; compile cost (~0.1 s) is paid once here.
    ``phase_at(ts)`` places findings in scenario phases (Timeline.phase_at).
    """

    def __init__(
        self,
        identity: Identity,
        *,
        sends: Sender = client_sends,
        limits: Limits | None = None,
        phase_at: Callable[[float], str | None] | None = None,
    ) -> None:
        self.identity = identity
        self.expansion = expand(identity)
        self.matcher = Matcher(self.expansion)
        self.judge = FieldJudge(self.expansion, _identity_values(identity))
        self.sends = sends
        self.limits = limits or Limits()
        self.phase_at = phase_at
        self.findings: list[Finding] = []
        self._flows: dict[int, _FlowState] = {}
        self.bytes_scanned = 0

    # -- FlowObserver ----------------------------------------------------------------------------
    def on_payload(self, flow: Flow, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        if not self.sends(flow, from_client) or not data:
            return
        state = self._flows.setdefault(flow.id, _FlowState())
        direction = state.directions.get(from_client)
        if direction is None:
            direction = state.directions[from_client] = _Direction(self.matcher.stream())
        if len(direction.chunks) < 100_000:
            direction.chunks.append(offset)
            direction.frames.append(frame)
        self.bytes_scanned += len(data)
        # Keep a little of what came before, to excerpt hits that straddle this chunk's start.
        window = direction.tail + data if direction.tail_base + len(direction.tail) == offset else data
        window_base = offset + len(data) - len(window)
        for hit in direction.scanner.feed(data, offset):
            self._stream_hit(direction, hit, window, window_base)
        direction.tail = window[-256:]
        direction.tail_base = offset + len(data) - len(direction.tail)
        if direction.kept < RAW_DECODE_CAP:
            take = data[: RAW_DECODE_CAP - direction.kept]
            direction.kept += len(take)
            if flow.proto == "udp":
                direction.datagrams.append((offset, take, frame))
            elif direction.raw_start is None or direction.raw_start + len(direction.raw) == offset:
                if direction.raw_start is None:
                    direction.raw_start = offset
                direction.raw += take

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        if not self.sends(flow, True):
            return
        state = self._flows.setdefault(flow.id, _FlowState())
        end = request.body_offset + len(request.body)
        region = (request.offset, max(end, request.body_offset))
        frames = sorted({request.first_frame, request.last_frame})
        prefix = len(request.method) + 1
        views: list[Decoded] = [
            decode(
                request.target.encode("latin-1", "replace"),
                "http-target",
                origin=request.offset + prefix,
                limits=self.limits,
            )
        ]
        path, _q, query = request.target.partition("?")
        if query:
            views.append(
                decode(
                    query.encode("latin-1", "replace"),
                    "http-query",
                    origin=request.offset + prefix + len(path) + 1,
                    limits=self.limits,
                )
            )
        content_type = content_encoding = None
        for name, value in request.headers:
            lower = name.lower()
            raw = value.encode("latin-1", "replace")
            if lower == "content-type":
                content_type = value
            elif lower == "content-encoding":
                content_encoding = value
            if lower == "cookie":
                for part in raw.split(b";"):
                    cookie, _eq, cookie_value = part.strip().partition(b"=")
                    label = escape(cookie, 60)
                    views.append(
                        decode(
                            cookie_value,
                            f"http-cookie:{label}",
                            key=cookie.decode("latin-1"),
                            origin=request.offset,
                            limits=self.limits,
                        )
                    )
            else:
                views.append(
                    decode(
                        raw,
                        f"http-header:{escape(name, 60)}",
                        key=name,
                        origin=request.offset,
                        limits=self.limits,
                    )
                )
        if request.body:
            views.append(
                decode(
                    request.body,
                    "http-body",
                    origin=request.body_offset,
                    content_type=content_type,
                    content_encoding=content_encoding,
                    limits=self.limits,
                )
            )
        for decoded in views:
            self._decoded(state, decoded, frames, region)
        if request.body_truncated:
            state.occurrences.append(
                _Occurrence(
                    None,
                    "",
                    "http-body",
                    request.body_offset,
                    False,
                    frames,
                    "",
                    region,
                    "decode-limit",
                    "request body cut at the analyzer's body "
                    "limit or by the capture's end: not all of it was decoded",
                )
            )

    def on_flow_end(self, flow: Flow) -> None:
        state = self._flows.pop(flow.id, None)
        if state is None:
            if (flow.dns_queries or (flow.transport == "quic" and flow.sni)) and self.sends(flow, True):
                state = _FlowState()
            else:
                return
        for from_client, direction in state.directions.items():
            for hit in direction.scanner.close():
                self._stream_hit(direction, hit, direction.tail, direction.tail_base)
            self._decode_raw(flow, state, direction, from_client)
        if flow.dns_queries and self.sends(flow, True):
            for query in flow.dns_queries:
                decoded = decode(query.name.encode("latin-1", "replace"), "dns-qname", limits=self.limits)
                self._decoded(state, decoded, [query.frame], (0, 1 << 62))
        if flow.transport == "quic" and flow.sni and self.sends(flow, True):
            frame = flow.tls.frame if flow.tls else flow.first_frame
            self._decoded(
                state, decode(flow.sni.encode(), "quic-sni", limits=self.limits), [frame], (0, 1 << 62)
            )
        self.findings += self._findings(flow, state)

    def finish(self, flows: Iterable[Flow] = ()) -> list[Finding]:
        """Ends flows the analyzer did not end (a capture cut short) and returns all findings."""
        by_id = {flow.id: flow for flow in flows}
        for flow_id in list(self._flows):
            if flow_id in by_id:
                self.on_flow_end(by_id[flow_id])
        return self.findings

    # -- internals -------------------------------------------------------------------------------
    def _stream_hit(self, direction: _Direction, hit: Hit, window: bytes, base: int) -> None:
        text = excerpt(window, hit.start - base, hit.end - base) if hit.start >= base else ""
        direction.hits.append((hit, text))

    def _decode_raw(self, flow: Flow, state: _FlowState, direction: _Direction, from_client: bool) -> None:
        """Decodes what no protocol parser explained: UDP datagrams, the start of a non-HTTP TCP stream."""
        if flow.app in ("http", "tls", "quic", "dns", "dot", "doh") or flow.http_requests:
            return
        chain = "udp-payload" if flow.proto == "udp" else "tcp-payload"
        pieces = direction.datagrams or (
            [(direction.raw_start or 0, bytes(direction.raw), direction.frames[0])]
            if direction.raw and direction.frames
            else []
        )
        for offset, data, frame in pieces:
            decoded = decode(data, chain, origin=offset, limits=self.limits)
            if decoded.views:
                decoded.views[0].scan = False  # the stream matcher already saw these very bytes
            self._decoded(state, decoded, [frame], (offset, offset + len(data)))

    def _decoded(
        self, state: _FlowState, decoded: Decoded, frames: list[int], region: tuple[int, int]
    ) -> None:
        for view in decoded.views:
            if view.scan:
                for hit in self.matcher.scan(view.data):
                    offset = view.origin + hit.start if view.exact else view.origin
                    state.occurrences.append(
                        _Occurrence(
                            hit.identifier,
                            hit.form,
                            view.chain,
                            offset,
                            view.exact,
                            frames,
                            _excerpt(view, hit.start, hit.end),
                            region,
                        )
                    )
            for match in self._fields(view):
                self._field(state, view, match, frames, region)
        for event in decoded.limits:
            state.occurrences.append(
                _Occurrence(
                    None,
                    "",
                    event.chain,
                    event.origin,
                    False,
                    frames,
                    "",
                    region,
                    "decode-limit",
                    event.reason,
                )
            )

    def _fields(self, view: View) -> list[FieldMatch]:
        if view.key is not None and ":" in view.chain.rsplit(">", 1)[-1]:
            text = view.data[:200].decode("utf-8", "replace")
            found = self.judge.judge(view.key, text, 0)
            return [found] if found else []
        if not view.parsed and len(view.data) <= 1 << 20 and is_text(view.data):
            out = []
            for key, value, start in text_pairs(view.data):
                found = self.judge.judge(key, value, start)
                if found:
                    out.append(found)
            return out
        return []

    def _field(
        self, state: _FlowState, view: View, match: FieldMatch, frames: list[int], region: tuple[int, int]
    ) -> None:
        start = max(match.start, 0)
        offset = view.origin + start if view.exact else view.origin
        chain = view.chain if view.key is not None else f"{view.chain}:{escape(match.key, 60)}"
        text = _excerpt(view, start, start + len(match.value.encode("utf-8", "replace")))
        if match.identifier is not None:
            state.occurrences.append(
                _Occurrence(match.identifier, match.form, chain, offset, view.exact, frames, text, region)
            )
        else:
            state.occurrences.append(
                _Occurrence(
                    None,  # not an identity key: the value is not this handset's (the kind is in the form)
                    f"{match.kind}-shaped",
                    chain,
                    offset,
                    view.exact,
                    frames,
                    text,
                    region,
                    "identifier-shaped-field",
                    f"field {escape(match.key, 60)} carries a {match.kind} that is not in the identity "
                    "(another SIM or device?); add it to the identity if it is this handset's",
                )
            )

    def _findings(self, flow: Flow, state: _FlowState) -> list[Finding]:
        ref = FlowRef.of(flow)
        occurrences = list(state.occurrences)
        decoded_ids = {(o.identifier, o.region) for o in occurrences if o.rule == "cleartext-identifier"}
        root = {"tls": "tls-clienthello", "dns": "dns-message", "http": "http-stream"}.get(
            flow.app or "", f"{flow.proto}-stream"
        )
        for from_client, direction in state.directions.items():
            for hit, text in direction.hits:
                region = next(
                    (
                        o.region
                        for o in occurrences
                        if o.region
                        and o.region[0] <= hit.start < o.region[1]
                        and (hit.identifier, o.region) in decoded_ids
                    ),
                    None,
                )
                if region is not None:
                    continue  # decoding explained this hit, with a better chain
                frame = direction.frame_at(hit.start)
                occurrences.append(
                    _Occurrence(
                        hit.identifier,
                        hit.form,
                        root if from_client else f"{root}-reply",
                        hit.start,
                        True,
                        [frame],
                        text,
                        None,
                    )
                )
        occurrences = _deepest(occurrences)
        grouped: dict[tuple[str, str | None, str], Finding] = {}
        phase = self.phase_at(flow.first_ts) if self.phase_at else None
        for occ in occurrences:
            group = (occ.rule, occ.identifier, occ.chain)
            found = grouped.get(group)
            if found is not None:
                found.occurrences += 1
                found.frames = sorted(set(found.frames) | set(occ.frames))[:MAX_FRAMES]
                continue
            detail = occ.detail or (
                f"{occ.identifier} ({occ.form}) sent unencrypted to {ref.endpoint} in {occ.chain}"
            )
            grouped[group] = Finding(
                rule=occ.rule,
                assertion=NO_CLEARTEXT_IDENTIFIERS,
                detail=detail,
                flow=ref,
                identifier=occ.identifier,
                form=occ.form or None,
                decode=occ.chain,
                frames=sorted(set(occ.frames)),
                offset=occ.offset,
                offset_exact=occ.exact,
                excerpt=occ.excerpt or None,
                phase=phase,
                ts=flow.first_ts,
                clauses=clauses_for(NO_CLEARTEXT_IDENTIFIERS, occ.identifier),
            )
        return list(grouped.values())


def _excerpt(view: View, start: int, end: int) -> str:
    """The match in its container when the view is a field (``"IMEI1": «3520...»``), else in the view."""
    if view.context is not None and end - start >= 4:
        found = view.context.find(view.data[start:end])
        if found >= 0:
            return excerpt(view.context, found, found + end - start)
    return excerpt(view.data, start, end)


def _deepest(occurrences: list[_Occurrence]) -> list[_Occurrence]:
    """Drops an occurrence when the same identifier was found deeper in the same region's decoding.

    The 2019 body matches as in-place base64 at ``http-body`` and as a JSON field at
    ``http-body>base64>json:IMEI1``; the report names the latter. Overlapping hits of one identifier in
    one view (``+4791234567`` and ``4791234567``) keep the longest.
    """
    keep = []
    for occ in occurrences:
        if occ.rule != "cleartext-identifier":
            keep.append(occ)
            continue
        deeper = any(
            other is not occ
            and other.rule == occ.rule
            and other.identifier == occ.identifier
            and other.region == occ.region
            and other.chain.startswith(occ.chain + ">")
            for other in occurrences
        )
        same_place = any(
            other is not occ
            and other.rule == occ.rule
            and other.identifier == occ.identifier
            and other.chain == occ.chain
            and other.region == occ.region
            and other.offset == occ.offset
            and other.exact
            and occ.exact
            and len(other.excerpt) > len(occ.excerpt)
            for other in occurrences
        )
        if not deeper and not same_place:
            keep.append(occ)
    return keep


def _identity_values(identity: Identity) -> dict[str, set[str]]:
    """Canonical values per field kind, to tell this handset's identifiers from identifier-shaped ones."""
    imeis = {i[:14] for i in identity.imei} | {s[:14] for s in identity.imeisv}
    return {
        "imei": imeis,
        "meid": set(identity.meid),
        "imsi": set(identity.imsi),
        "iccid": {i[:18] for i in identity.iccid},
        "msisdn": {m.lstrip("+")[-8:] for m in identity.msisdn},
        "mac": set(identity.wifi_mac) | set(identity.bt_mac) | set(identity.bssid),
        "android_id": set(identity.android_id) | {str(int(a, 16)) for a in identity.android_id},
        "advertising_id": {a.replace("-", "") for a in identity.advertising_id},
        "gsf_id": set(identity.gsf_id) | {str(int(g, 16)) for g in identity.gsf_id},
        "serial": {s.lower() for s in identity.serial},
        "ssid": {s.lower() for s in identity.ssid},
    }
