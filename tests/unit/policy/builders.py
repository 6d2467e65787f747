"""Builders for the policy tests: an identity, Flow records and a detector fed like the analyzer feeds it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from phonehome.policy.leaks import LeakDetector
from phonehome.traffic.analysis import Analysis, DnsAnswer, Stats
from phonehome.traffic.flow import Flow, HttpRequest, NameClaim

IDENTITY = {
    "imei": "352099001761481",
    "imsi": "460031234567890",
    "iccid": "89860312345678901234",
    "msisdn": "+4791234567",
    "serial": "PNX7B1234567",
    "wifi_mac": ["AA:BB:CC:DD:EE:0F", "3a:11:22:33:44:55"],
    "bt_mac": "AC:37:43:01:02:03",
    "android_id": "3f2a9c1b7d4e5a60",
    "advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "gsf_id": "3c8b5e9a1f20d477",
    "ssid": "phonehome-bench-7",
    "bssid": "02:1a:11:f0:00:07",
    "location": {"lat": 59.913868, "lon": 10.752245},
    "cell": {"mcc": 242, "mnc": 1, "lac": 2301, "tac": 2301, "cid": 219769363},
}
_ids = itertools.count(1)


def make_flow(
    proto: str = "tcp",
    dport: int = 80,
    *,
    src: str = "10.77.0.2",
    dst: str = "203.0.113.5",
    app: str | None = "http",
    transport: str = "cleartext",
    server_name: str | None = "example.test",
    name_source: str = "http-host",
    first_ts: float = 1000.0,
    **extra: object,
) -> Flow:
    flow = Flow(
        id=next(_ids),
        proto=proto,
        src=src,
        sport=40000 + next(_ids) % 20000,
        dst=dst,
        dport=dport,
        first_ts=first_ts,
        last_ts=first_ts + 1,
        first_frame=1,
        last_frame=10,
        app=app,
        transport=transport,
        server_name=server_name,
        name_source=name_source,
    )
    for key, value in extra.items():
        setattr(flow, key, value)
    if server_name and name_source in ("sni", "quic-sni", "http-host") and "claims" not in extra:
        flow.claims = [NameClaim(server_name, name_source, 3)]  # type: ignore[arg-type]
    return flow


RESOLVER = "10.77.0.1"


def resolved(flows: Sequence[Flow], *, resolver: str = RESOLVER, client: str = "10.77.0.2") -> Analysis:
    """An Analysis whose DNS answers name each flow's address as its server name, sent by the resolver to
    the handset just before the flow began: what a capture of a clean lookup-then-connect shows."""
    answers = [
        DnsAnswer(f.server_name, f.dst, client, resolver, None, None, 0, f.first_ts - 0.5, 0)
        for f in flows
        if f.server_name
    ]
    return Analysis(flows=list(flows), files=[], stats=Stats(), warnings=[], dns_answers=answers)


def http_request(
    body: bytes = b"",
    *,
    method: str = "POST",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    offset: int = 0,
) -> tuple[bytes, HttpRequest]:
    """The request's bytes on the wire and its HttpRequest record, as the analyzer would hand it over."""
    all_headers = [("Host", "example.test"), *headers]
    if body:
        all_headers.append(("Content-Length", str(len(body))))
    head = (
        f"{method} {target} HTTP/1.1\r\n".encode()
        + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in all_headers)
        + b"\r\n"
    )
    wire = head + body
    request = HttpRequest(
        method, target, "HTTP/1.1", list(all_headers), body, False, offset, offset + len(head), 2, 3
    )
    return wire, request


def run(
    detector: LeakDetector,
    flow: Flow,
    wire: bytes,
    requests: Sequence[HttpRequest] = (),
    *,
    segment: int = 1460,
    from_client: bool = True,
) -> LeakDetector:
    """Feeds ``wire`` in segments of ``segment`` bytes, then the requests, then ends the flow."""
    for index, start in enumerate(range(0, len(wire), segment)):
        detector.on_payload(flow, from_client, start, wire[start : start + segment], 2 + index)
    for request in requests:
        flow.http_requests.append(request)
        detector.on_http_request(flow, request)
    detector.on_flow_end(flow)
    return detector


def leaks(detector: LeakDetector) -> set[str]:
    """Identity keys reported as cleartext identifiers."""
    return {f.identifier for f in detector.findings if f.rule == "cleartext-identifier" and f.identifier}


def post(
    detector: LeakDetector,
    body: bytes,
    headers: Sequence[tuple[str, str]] = (),
    target: str = "/",
    segment: int = 1460,
) -> LeakDetector:
    wire, request = http_request(body, headers=headers, target=target)
    return run(detector, make_flow(), wire, [request], segment=segment)
