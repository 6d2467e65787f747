"""Endpoints: flows grouped by the server they reached."""

from __future__ import annotations

from phonehome.traffic import endpoints
from phonehome.traffic.flow import Flow


def flow(
    fid: int,
    dst: str,
    name: str | None,
    *,
    dport: int = 443,
    proto: str = "tcp",
    transport: str = "tls",
    c2s: int = 10,
    s2c: int = 100,
) -> Flow:
    f = Flow(
        id=fid,
        proto=proto,
        src="10.0.0.2",
        sport=40000 + fid,
        dst=dst,
        dport=dport,
        first_ts=100.0 + fid,
        last_ts=101.0 + fid,
        first_frame=fid * 10 + 1,
        last_frame=fid * 10 + 5,
    )  # type: ignore[arg-type]
    f.server_name = name
    f.name_source = "sni" if name else "none"
    f.transport = transport  # type: ignore[assignment]
    f.bytes_c2s, f.bytes_s2c = c2s, s2c
    return f


def test_flows_to_one_name_are_one_endpoint_with_all_addresses_ports_and_bytes() -> None:
    eps = endpoints(
        [
            flow(0, "198.51.100.1", "a.example"),
            flow(1, "198.51.100.2", "a.example", dport=80, transport="cleartext"),
            flow(2, "198.51.100.1", "a.example", proto="udp", transport="quic"),
        ]
    )
    (ep,) = eps
    assert (ep.name, ep.named, ep.flows, ep.bytes) == ("a.example", True, 3, 330)
    assert ep.addresses == ["198.51.100.1", "198.51.100.2"]
    assert ep.ports == ["tcp/443", "tcp/80", "udp/443"]
    assert ep.transports == ["tls", "cleartext", "quic"]
    assert (ep.first_frame, ep.first_ts) == (1, 100.0)


def test_unnamed_flows_group_by_address_and_never_merge_with_names() -> None:
    eps = endpoints(
        [
            flow(0, "198.51.100.1", None),
            flow(1, "198.51.100.1", None, dport=8443),
            flow(2, "198.51.100.1", "198.51.100.1"),
        ]
    )
    assert [(e.name, e.named, e.flows) for e in eps] == [
        ("198.51.100.1", False, 2),
        ("198.51.100.1", True, 1),
    ]


def test_endpoints_are_in_order_of_first_contact() -> None:
    eps = endpoints([flow(3, "198.51.100.3", "late.example"), flow(1, "198.51.100.1", "early.example")])
    assert [e.name for e in eps] == ["early.example", "late.example"]
