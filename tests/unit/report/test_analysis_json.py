"""The JSON form: valid against the published schema, names normalised, nothing from bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from phonehome.report.analysis_json import schema, to_dict
from phonehome.traffic import Analysis, analyze, dns, factory, http, quic, tls
from phonehome.traffic.dns import CNAME, A, DnsRecord
from phonehome.traffic.factory import Packet, TcpConversation, UdpConversation

Analyze = Callable[..., Analysis]
VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def mixed_capture() -> list[Packet]:
    answer = UdpConversation(("10.0.0.2", 33000), ("10.0.0.1", 53))
    answer.send(dns.build_query("Api.Example.COM."))
    answer.send(
        dns.build_response(
            "api.example.com",
            [
                DnsRecord("api.example.com", CNAME, 5, "edge.example.net"),
                DnsRecord("edge.example.net", A, 5, "198.51.100.20"),
            ],
        ),
        from_client=False,
    )
    tls_conv = TcpConversation(("10.0.0.2", 41000), ("198.51.100.20", 443), ts=answer.ts).handshake()
    tls_conv.send(tls.build_client_hello("API.example.com.")).send(
        tls.build_server_hello(0x0304), from_client=False
    ).close()
    web = TcpConversation(("10.0.0.2", 41001), ("198.51.100.21", 80), ts=tls_conv.ts).handshake()
    web.send(http.build_request("POST", "/p", {"Host": "Upload.Example.ORG."}, b"secret-body", chunked=True))
    quic_conv = UdpConversation(("10.0.0.2", 50000), ("198.51.100.22", 443), ts=web.ts)
    quic_conv.send(quic.build_initial("q.example")[0])
    bare = (
        TcpConversation(("10.0.0.2", 41002), ("198.51.100.23", 5228), ts=quic_conv.ts)
        .handshake()
        .send(b"\x01\x02")
    )
    ping = Packet(
        bare.ts,
        factory.ETHERNET.frame(factory.ipv4(b"\x08\x00\x00\x00", "10.0.0.2", "198.51.100.24", 1), True),
    )
    return answer.packets + tls_conv.packets + web.packets + quic_conv.packets + bare.packets + [ping]


def test_json_of_a_mixed_capture_is_valid_and_says_what_labs_need(run: Analyze) -> None:
    data = json.loads(json.dumps(to_dict(run(mixed_capture()))))
    VALIDATOR.validate(data)
    flows = data["flows"]
    required = {
        "proto",
        "src",
        "sport",
        "dst",
        "dport",
        "transport",
        "server_name",
        "name_source",
        "sni",
        "http_host",
        "dns_queries",
        "first_frame",
    }
    assert all(required <= set(f) for f in flows)
    by_port = {f["dport"]: f for f in flows}
    assert by_port[53]["dns_queries"] == ["api.example.com"]
    assert (by_port[443]["sni"], by_port[443]["name_source"]) in {
        ("api.example.com", "sni"),
        ("q.example", "quic-sni"),
    }
    assert by_port[80]["http_host"] == "upload.example.org"
    assert (by_port[5228]["name_source"], by_port[5228]["server_name"]) == ("none", None)
    assert "secret-body" not in json.dumps(data)
    assert data["flows"][2]["http_requests"][0]["body_length"] == len(b"secret-body")
    assert data["other"][0]["icmp_type"] == 8
    names = [e["name"] for e in data["endpoints"]]
    assert names[:2] == ["10.0.0.1", "api.example.com"]


def test_capture_facts_are_exported(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng.gz"
    path.write_bytes(factory.pcapng_bytes(mixed_capture(), drops={0: 2}, comment="run 7", compress=True))
    data = to_dict(analyze(path))
    VALIDATOR.validate(data)
    capture = data["capture"]
    assert capture["paths"] == [str(path)]
    assert (capture["format"], capture["files"][0]["compressed"]) == ("pcapng", True)
    assert capture["link_types"] == [1]
    assert (capture["drops"], capture["truncated"]) == (2, False)
    assert len(capture["sha256"][0]) == 64
    assert capture["files"][0]["comments"] == [{"frame": None, "text": "run 7"}]


def test_truncated_capture_with_malformed_packets_is_valid_json(tmp_path: Path) -> None:
    bad = Packet(1.0, factory.ETHERNET.frame(b"\x46\x00\x00\x10" + b"\x00" * 30, True))
    path = tmp_path / "c.pcap"
    path.write_bytes(factory.pcap_bytes([bad, *mixed_capture()])[:-7])
    data = to_dict(analyze(path))
    VALIDATOR.validate(data)
    assert data["capture"]["truncated"]
    assert data["stats"]["malformed"] == {"ipv4-header-length": 1}
    assert data["warnings"]


@pytest.mark.parametrize("field", ["flows", "capture", "stats"])
def test_the_schema_rejects_output_missing_a_required_part(run: Analyze, field: str) -> None:
    data = to_dict(run(mixed_capture()))
    del data[field]
    assert not VALIDATOR.is_valid(data)


def test_the_schema_rejects_a_wrong_transport(run: Analyze) -> None:
    data = to_dict(run(mixed_capture()))
    data["flows"][0]["transport"] = "encrypted"
    assert not VALIDATOR.is_valid(data)


def test_the_schema_itself_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def integrity_capture() -> list[Packet]:
    ping = Packet(
        1.0,
        factory.ETHERNET.frame(factory.ipv4(factory.icmp(8, 0, b"pad"), "10.0.0.2", "198.51.100.9", 1), True),
    )
    arp = Packet(
        2.0,
        factory.ethernet(b"\x00\x01" + bytes(26), 0x0806, src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff"),
    )
    inner = TcpConversation(("10.0.0.2", 40000), ("203.0.113.66", 80), link=factory.RAW, ts=3.0).handshake()
    inner.send(http.build_request("GET", "/", {"Host": "inner.example"}))
    gre = factory.encapsulate(
        inner.packets, lambda p: factory.ipv4(factory.gre(p), "10.0.0.2", "192.0.2.99", 47)
    )
    overlap = TcpConversation(("10.0.0.2", 40001), ("198.51.100.20", 80), ts=10.0).handshake().send(b"abcdef")
    overlap.segment(0x18, b"XYZ", seq=1001 + 3)
    answer = UdpConversation(("10.0.0.2", 33000), ("10.0.0.1", 53), ts=20.0)
    answer.send(
        dns.build_response("a.example", [DnsRecord("a.example", A, 5, "198.51.100.20")]), from_client=False
    )
    return [ping, arp, *gre, *overlap.packets, *answer.packets, Packet(5.0, ping.data)]


def test_json_carries_the_integrity_fields_and_validates(run: Analyze) -> None:
    data = json.loads(json.dumps(to_dict(run(integrity_capture(), observer=factory.RecordingObserver()))))
    VALIDATOR.validate(data)
    assert data["schema_version"] == 2
    by_proto = {f["proto"]: f for f in data["flows"]}
    assert set(by_proto) == {"icmp", "link-0x0806", "gre", "tcp", "udp"}
    assert by_proto["icmp"]["icmp_types"] == [8]
    assert (by_proto["link-0x0806"]["src"], by_proto["link-0x0806"]["dst_mac"]) == (
        "02:00:00:00:00:01",
        "ff:ff:ff:ff:ff:ff",
    )
    inner = next(f for f in data["flows"] if f["tunnel"])
    assert inner["tunnel"] == {
        "kind": "gre",
        "src": "10.0.0.2",
        "dst": "192.0.2.99",
        "flow_id": by_proto["gre"]["id"],
    }
    assert any("different bytes" in a for f in data["flows"] for a in f["anomalies"])
    assert data["dns_answers"][0]["name"] == "a.example"
    assert data["dns_answers"][0]["server"] == "10.0.0.1"
    assert data["macs"]["02:00:00:00:00:01"] >= 3
    assert data["stats"]["clock_steps"] == 1
    ports = {p for e in data["endpoints"] for p in e["ports"]}
    assert {"icmp", "gre", "link-0x0806", "tcp/80"} <= ports
