"""Leak detection as a FlowObserver: every byte the handset sends, decoded, then matched.

The analyzer streams each flow direction once, in order; the stream matcher
finds forms split across segments. Every unencrypted stream is also decoded
(base64, gzip, JSON...) window by window to its end, every datagram on its own,
HTTP requests field by field, DNS names, and whatever a protocol layer recovered
(a whole TLS or QUIC ClientHello, unmasked WebSocket messages, the other bytes of
a retransmission that differed); named fields are judged. At the flow's end its
hits become findings; a hit inside a region that decoding explained is reported
once, with the deepest decode chain. Whatever stops decoding early is a
``decode-limit`` finding: doubt in the verdict, never silence.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from phonehome.policy.assertions.no_cleartext import CLAUSES as CLEARTEXT_CLAUSES
from phonehome.policy.decode import Decoded, Limits, View, decode, is_text
from phonehome.policy.fields import MAX_TEXT_PAIRS, FieldJudge, FieldMatch, read_text_pairs
from phonehome.policy.findings import (
    NO_CLEARTEXT_IDENTIFIERS,
    Finding,
    FlowRef,
    clauses_with,
    escape,
    excerpt,
)
from phonehome.policy.forms import expand
from phonehome.policy.identity import Identity
from phonehome.policy.matcher import Hit, Matcher, StreamScanner
from phonehome.traffic.flow import Content, Flow, HttpRequest

DECODE_WINDOW = 4 << 20
"""Bytes of one stream direction decoded together. A longer stream is decoded window by window (with an
overlap), and says so: an encoding that spans a cut may be decoded only in part."""
WINDOW_OVERLAP = 64 << 10
DATAGRAM_BUDGET = 64 << 20
"""Datagram bytes of one flow direction decoded (each datagram on its own); beyond it, a decode limit."""
TEXT_PAIRS_LIMIT = 1 << 20
"""A text view larger than this is not read for ``key=value`` pairs (the matcher still scans it)."""
MAX_OCCURRENCES = 20_000
"""Occurrences kept per flow; beyond it, a decode limit (a flood of matches is itself suspect)."""
MAX_FRAMES = 20
DECRYPTED = "tls-decrypted"
"""The root of every chain found in TLS records decrypted with a key log: inside encryption on the wire,
visible to its recipient (and to the lab): judged for recipients, never as cleartext."""
LINK_ADDRESS_CHAIN = "dhcp>link-address"
"""The decode chain of a handset's own link-layer address in the DHCP fields that carry it by protocol
(chaddr, client identifier, DUID): exempt only when the bench's own DHCP server receives it."""
ENCRYPTED = ("tls", "quic")

Sender = Callable[[Flow, bool], bool]
"""Whether the bytes of (flow, from_client) were sent by the handset."""


def client_sends(_flow: Flow, from_client: bool) -> bool:
    """The side that opened each flow is taken for the handset (tests and old callers)."""
    return from_client


def both_sides(_flow: Flow, _from_client: bool) -> bool:
    """Without a known handset every byte is looked at; findings say which side sent it, and the
    evaluation keeps those of the handset once it knows which host that is."""
    return True


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
    from_client: bool = True


@dataclass(slots=True)
class _Direction:
    scanner: StreamScanner
    from_client: bool
    chunks: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    """Stream bytes not yet decoded (at most DECODE_WINDOW)."""
    raw_start: int | None = None
    raw_frame: int = 0
    windows: int = 0
    """Windows decoded so far (more than one: the stream was longer than DECODE_WINDOW)."""
    datagram_bytes: int = 0
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
    overflowed: bool = False


class LeakDetector:
    """FlowObserver that turns the handset's bytes into ``cleartext-identifier`` findings.

    One per identity and capture; compile cost (~0.1 s) is paid once here.
    ``sends`` says which bytes are the handset's; None (no handset known yet)
    looks at both sides and lets the evaluation choose by ``Finding.from_client``.
    ``phase_at(ts)`` places findings in scenario phases (Timeline.phase_at).
    """

    def __init__(
        self,
        identity: Identity,
        *,
        sends: Sender | None = None,
        limits: Limits | None = None,
        phase_at: Callable[[float], str | None] | None = None,
    ) -> None:
        self.identity = identity
        self.expansion = expand(identity)
        self.matcher = Matcher(self.expansion)
        self.judge = FieldJudge(self.expansion, _identity_values(identity))
        self.sends = sends or both_sides
        self.limits = limits or Limits()
        self.phase_at = phase_at
        self.findings: list[Finding] = []
        self._flows: dict[int, _FlowState] = {}
        self.bytes_scanned = 0

    # -- FlowObserver ----------------------------------------------------------------------------
    def on_payload(self, flow: Flow, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        if not data or not self.sends(flow, from_client):
            return
        state = self._flows.setdefault(flow.id, _FlowState())
        direction = self._direction(state, from_client)
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
        if flow.transport in ENCRYPTED and not flow.cleartext_in_tls:
            self._decode_window(flow, state, direction)  # what came before the handshake, if anything
            return  # ciphertext: scanned above, not decoded
        if flow.proto != "tcp":
            self._datagram(flow, state, direction, offset, data, frame=frame)
            return
        if direction.raw_start is not None and direction.raw_start + len(direction.raw) != offset:
            self._decode_window(flow, state, direction)  # a gap: decode what came before it on its own
        if direction.raw_start is None:
            direction.raw_start, direction.raw_frame = offset, frame
        direction.raw += data
        if len(direction.raw) >= DECODE_WINDOW:
            self._decode_window(flow, state, direction, rolling=True)

    def on_content(self, flow: Flow, from_client: bool, content: Content) -> None:
        """Bytes a protocol layer recovered (a whole ClientHello, a WebSocket message...): decoded and matched."""
        if not content.data or not self.sends(flow, from_client):
            return
        state = self._flows.setdefault(flow.id, _FlowState())
        self._direction(state, from_client)
        self.bytes_scanned += len(content.data)
        span = len(content.data) if content.exact else len(content.data) + 1024
        region = (content.offset, content.offset + max(span, 1))
        decoded = decode(
            content.data,
            content.chain,
            key=content.key,
            origin=content.offset,
            limits=self.limits,
        )
        if decoded.views and not content.exact:
            for view in decoded.views:
                view.exact = view.exact and content.exact
        self._decoded(state, decoded, [content.frame], region, from_client)

    def on_http_request(self, flow: Flow, request: HttpRequest) -> None:
        if not self.sends(flow, True):
            return
        state = self._flows.setdefault(flow.id, _FlowState())
        end = request.body_offset + len(request.body)
        region = (request.offset, max(end, request.body_offset))
        frames = sorted({request.first_frame, request.last_frame})
        prefix = len(request.method) + 1
        # A request decrypted with the lab's key log went inside TLS: its chains say so.
        root = f"{DECRYPTED}>" if getattr(request, "decrypted", False) else ""
        views: list[Decoded] = [
            decode(
                request.target.encode("latin-1", "replace"),
                f"{root}http-target",
                origin=request.offset + prefix,
                limits=self.limits,
            )
        ]
        path, _q, query = request.target.partition("?")
        if query:
            views.append(
                decode(
                    query.encode("latin-1", "replace"),
                    f"{root}http-query",
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
                            f"{root}http-cookie:{label}",
                            key=cookie.decode("latin-1"),
                            origin=request.offset,
                            limits=self.limits,
                        )
                    )
            else:
                views.append(
                    decode(
                        raw,
                        f"{root}http-header:{escape(name, 60)}",
                        key=name,
                        origin=request.offset,
                        limits=self.limits,
                    )
                )
        if request.body:
            views.append(
                decode(
                    request.body,
                    f"{root}http-body",
                    origin=request.body_offset,
                    content_type=content_type,
                    content_encoding=content_encoding,
                    limits=self.limits,
                )
            )
        for decoded in views:
            self._decoded(state, decoded, frames, region, True)
        if request.body_truncated:
            state.occurrences.append(
                _Occurrence(
                    None,
                    "",
                    f"{root}http-body",
                    request.body_offset,
                    False,
                    frames,
                    "",
                    region,
                    "decode-limit",
                    "request body cut at the analyzer's body "
                    "limit or by the capture's end: not all of it was decoded",
                    True,
                )
            )

    def on_flow_end(self, flow: Flow) -> None:
        state = self._flows.pop(flow.id, None)
        if state is None:
            if flow.dns_queries or (flow.transport == "quic" and flow.sni):
                state = _FlowState()
            else:
                return
        for direction in state.directions.values():
            for hit in direction.scanner.close():
                self._stream_hit(direction, hit, direction.tail, direction.tail_base)
            self._decode_window(flow, state, direction)
        # Names the client asked or claimed, decoded again (a base32 label, a hex SNI): the stream matcher
        # saw their bytes as sent, but not what they decode to.
        asker = self.sends(flow, True)
        if flow.dns_queries and asker:
            for query in flow.dns_queries:
                decoded = decode(query.name.encode("latin-1", "replace"), "dns-qname", limits=self.limits)
                self._decoded(state, decoded, [query.frame], (0, 1 << 62), True)
        if flow.transport == "quic" and flow.sni and asker:
            frame = flow.tls.frame if flow.tls else flow.first_frame
            decoded = decode(flow.sni.encode(), "quic-sni", limits=self.limits)
            self._decoded(state, decoded, [frame], (0, 1 << 62), True)
        self.findings += self._findings(flow, state)

    def finish(self, flows: Iterable[Flow] = ()) -> list[Finding]:
        """Ends flows the analyzer did not end (a capture cut short) and returns all findings."""
        by_id = {flow.id: flow for flow in flows}
        for flow_id in list(self._flows):
            if flow_id in by_id:
                self.on_flow_end(by_id[flow_id])
        return self.findings

    # -- internals -------------------------------------------------------------------------------
    def _direction(self, state: _FlowState, from_client: bool) -> _Direction:
        direction = state.directions.get(from_client)
        if direction is None:
            direction = state.directions[from_client] = _Direction(self.matcher.stream(), from_client)
        return direction

    def _stream_hit(self, direction: _Direction, hit: Hit, window: bytes, base: int) -> None:
        text = excerpt(window, hit.start - base, hit.end - base) if hit.start >= base else ""
        direction.hits.append((hit, text))

    def _datagram(
        self, flow: Flow, state: _FlowState, direction: _Direction, offset: int, data: bytes, *, frame: int
    ) -> None:
        """One datagram (UDP, or one packet of another protocol), decoded on its own."""
        if direction.datagram_bytes >= DATAGRAM_BUDGET:
            return
        direction.datagram_bytes += len(data)
        chain = f"{flow.proto}-payload"
        if direction.datagram_bytes >= DATAGRAM_BUDGET:
            self._limit(
                state,
                chain,
                offset,
                frame,
                f"more than {DATAGRAM_BUDGET >> 20} MiB of datagrams from one side: later ones were scanned, "
                "not decoded",
                from_client=direction.from_client,
            )
        decoded = decode(data, chain, origin=offset, limits=self.limits)
        if decoded.views:
            decoded.views[0].scan = False  # the stream matcher already saw these very bytes
        self._decoded(state, decoded, [frame], (offset, offset + len(data)), direction.from_client)

    def _decode_window(
        self, flow: Flow, state: _FlowState, direction: _Direction, *, rolling: bool = False
    ) -> None:
        """Decodes the stream bytes kept so far; ``rolling``: a full window, keep an overlap for the next."""
        if not direction.raw or direction.raw_start is None:
            return
        data, start = bytes(direction.raw), direction.raw_start
        chain = f"{flow.proto}-payload"
        decoded = decode(data, chain, origin=start, limits=self.limits)
        if decoded.views:
            decoded.views[0].scan = False  # the stream matcher already saw these very bytes
        frame = direction.frame_at(start) or direction.raw_frame
        self._decoded(state, decoded, [frame], (start, start + len(data)), direction.from_client)
        direction.windows += 1
        if rolling:
            keep = data[-WINDOW_OVERLAP:]
            if direction.windows == 1:
                self._limit(
                    state,
                    chain,
                    start,
                    frame,
                    f"stream longer than the {DECODE_WINDOW >> 20} MiB decode window: decoded window by window, "
                    "so an encoding that spans a cut was decoded in part",
                    from_client=direction.from_client,
                )
            direction.raw = bytearray(keep)
            direction.raw_start = start + len(data) - len(keep)
            direction.raw_frame = direction.frame_at(direction.raw_start)
        else:
            direction.raw = bytearray()
            direction.raw_start = None

    def _limit(
        self, state: _FlowState, chain: str, offset: int, frame: int, reason: str, *, from_client: bool
    ) -> None:
        state.occurrences.append(
            _Occurrence(
                None, "", chain, offset, False, [frame], "", None, "decode-limit", reason, from_client
            )
        )

    def _decoded(
        self,
        state: _FlowState,
        decoded: Decoded,
        frames: list[int],
        region: tuple[int, int],
        from_client: bool,
    ) -> None:
        for view in decoded.views:
            if len(state.occurrences) >= MAX_OCCURRENCES:
                if not state.overflowed:
                    state.overflowed = True
                    self._limit(
                        state,
                        view.chain,
                        view.origin,
                        frames[0] if frames else 0,
                        f"more than {MAX_OCCURRENCES} matches in one flow: the rest were not recorded",
                        from_client=from_client,
                    )
                return
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
                            from_client=from_client,
                        )
                    )
            for match in self._fields(state, view, frames, from_client):
                self._field(state, view, match, frames, region, from_client=from_client)
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
                    from_client,
                )
            )

    def _fields(
        self, state: _FlowState, view: View, frames: list[int], from_client: bool
    ) -> list[FieldMatch]:
        if view.key is not None and ":" in view.chain.rsplit(">", 1)[-1]:
            text = view.data[:200].decode("utf-8", "replace")
            found = self.judge.judge(view.key, text, 0)
            return [found] if found else []
        if view.parsed or not is_text(view.data):
            return []
        if len(view.data) > TEXT_PAIRS_LIMIT:
            self._limit(
                state,
                view.chain,
                view.origin,
                frames[0] if frames else 0,
                f"text of {len(view.data)} bytes not read for key=value fields (over {TEXT_PAIRS_LIMIT >> 20} MiB)",
                from_client=from_client,
            )
            return []
        read = read_text_pairs(view.data)
        if read.cut_at is not None:
            self._limit(
                state,
                view.chain,
                view.origin + (read.cut_at if view.exact else 0),
                frames[0] if frames else 0,
                f"more than {MAX_TEXT_PAIRS} key=value pairs: those from byte {read.cut_at} on were not judged "
                "by name",
                from_client=from_client,
            )
        out = []
        for key, value, start in read.pairs:
            found = self.judge.judge(key, value, start)
            if found:
                out.append(found)
        return out

    def _field(
        self,
        state: _FlowState,
        view: View,
        match: FieldMatch,
        frames: list[int],
        region: tuple[int, int],
        *,
        from_client: bool,
    ) -> None:
        start = max(match.start, 0)
        offset = view.origin + start if view.exact else view.origin
        chain = view.chain if view.key is not None else f"{view.chain}:{escape(match.key, 60)}"
        text = _excerpt(view, start, start + len(match.value.encode("utf-8", "replace")))
        if match.identifier is not None:
            state.occurrences.append(
                _Occurrence(
                    match.identifier,
                    match.form,
                    chain,
                    offset,
                    view.exact,
                    frames,
                    text,
                    region,
                    from_client=from_client,
                )
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
                    from_client,
                )
            )

    def _findings(self, flow: Flow, state: _FlowState) -> list[Finding]:
        ref = FlowRef.of(flow)
        occurrences = list(state.occurrences)
        decoded_ids = {(o.identifier, o.region) for o in occurrences if o.rule == "cleartext-identifier"}
        root = {"tls": "tls-stream", "dns": "dns-message", "http": "http-stream"}.get(
            flow.app or "", f"{flow.proto}-stream"
        )
        link_spans = _link_spans(flow)
        for from_client, direction in state.directions.items():
            for hit, text in direction.hits:
                if (hit.start, hit.end, from_client) in link_spans:
                    chain = LINK_ADDRESS_CHAIN
                else:
                    region = next(
                        (
                            o.region
                            for o in occurrences
                            if o.region
                            and o.from_client == from_client
                            and o.region[0] <= hit.start < o.region[1]
                            and (hit.identifier, o.region) in decoded_ids
                        ),
                        None,
                    )
                    if region is not None:
                        continue  # decoding explained this hit, with a better chain
                    chain = root if from_client else f"{root}-reply"
                frame = direction.frame_at(hit.start)
                occurrences.append(
                    _Occurrence(
                        hit.identifier,
                        hit.form,
                        chain,
                        hit.start,
                        True,
                        [frame],
                        text,
                        None,
                        from_client=from_client,
                    )
                )
        occurrences = _deepest(
            _structured_first([o for o in occurrences if not _link_decoded(o, link_spans)])
        )
        grouped: dict[tuple[str, str | None, str, bool], Finding] = {}
        phase = self.phase_at(flow.first_ts) if self.phase_at else None
        for occ in occurrences:
            group = (occ.rule, occ.identifier, occ.chain, occ.from_client)
            found = grouped.get(group)
            if found is not None:
                found.occurrences += 1
                found.frames = sorted(set(found.frames) | set(occ.frames))[:MAX_FRAMES]
                continue
            side = "" if occ.from_client else " (sent by the flow's server side)"
            inside = occ.rule == "cleartext-identifier" and occ.chain.startswith(DECRYPTED)
            rule = "tls-identifier" if inside else occ.rule
            how = "sent inside TLS (decrypted with the lab's key log)" if inside else "sent unencrypted"
            detail = (
                occ.detail or f"{occ.identifier} ({occ.form}) {how} to {ref.endpoint} in {occ.chain}{side}"
            )
            grouped[group] = Finding(
                rule=rule,
                assertion=NO_CLEARTEXT_IDENTIFIERS,
                detail=detail,
                flow=ref,
                identifier=occ.identifier,
                form=occ.form or None,
                decode=occ.chain,
                frames=sorted(set(occ.frames))[:MAX_FRAMES],
                offset=occ.offset,
                offset_exact=occ.exact,
                excerpt=occ.excerpt or None,
                phase=phase,
                ts=flow.first_ts,
                clauses=clauses_with(CLEARTEXT_CLAUSES, occ.identifier),
                from_client=occ.from_client,
            )
        return list(grouped.values())


def _structured_first(occurrences: list[_Occurrence]) -> list[_Occurrence]:
    """Drops what the raw stream decode found where a protocol parser found the same identifier.

    Every stream is decoded raw (bytes no parser explained must be decoded too); inside an HTTP request
    or a protocol message the parser's chain (``http-body>base64>json:IMEI1``) says more.
    """
    matches = ("cleartext-identifier", "identifier-shaped-field")
    structured = [
        (o.rule, o.identifier or o.form, o.region, o.from_client)
        for o in occurrences
        if o.region and o.rule in matches and not _raw(o)
    ]
    if not structured:
        return occurrences
    keep = []
    for occ in occurrences:
        what = occ.identifier or occ.form
        if (
            occ.rule in matches
            and _raw(occ)
            and any(
                rule == occ.rule
                and kind == what
                and side == occ.from_client
                and region[0] <= occ.offset < region[1]
                for rule, kind, region, side in structured
            )
        ):
            continue
        keep.append(occ)
    return keep


def _raw(occ: _Occurrence) -> bool:
    """Found by decoding a stream's or datagram's raw bytes (not through a protocol parser's fields)."""
    root = occ.chain.split(">", 1)[0].split(":", 1)[0]
    if root.endswith("-payload"):
        return True
    # Decrypted TLS records, decoded as they came: a request parsed from them says more.
    parsed = (f"{DECRYPTED}>http-", f"{DECRYPTED}>websocket", f"{DECRYPTED}>h2-")
    return root == DECRYPTED and not occ.chain.startswith(parsed)


def _link_spans(flow: Flow) -> set[tuple[int, int, bool]]:
    """Stream spans of DHCP fields that hold the sender's own link-layer address (as its frames show it)."""
    out = set()
    for message in flow.dhcp:
        sender_mac = flow.src_mac if message.from_client else flow.dst_mac
        if not message.client_mac or not sender_mac or message.client_mac.lower() != sender_mac.lower():
            continue
        for start, end in message.link_spans:
            out.add((message.offset + start, message.offset + end, message.from_client))
    return out


def _link_decoded(occ: _Occurrence, spans: set[tuple[int, int, bool]]) -> bool:
    """A decoded occurrence of an exactly placed link address (the stream hit there is labelled instead)."""
    return (
        occ.exact
        and occ.region is not None
        and occ.rule == "cleartext-identifier"
        and any(start <= occ.offset < end and side == occ.from_client for start, end, side in spans)
    )


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
