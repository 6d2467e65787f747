"""The JSON form: valid against the published schema, names normalised, nothing from bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from phonehome.traffic import Analysis, analyze, dns, factory, http, quic, tls
from phonehome.traffic.dns import CNAME, A, DnsRecord
from phonehome.traffic.export import schema, to_dict
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
    data = json.loads(json.dumps(run(mixed_capture()).to_dict()))
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
    data = run(mixed_capture()).to_dict()
    del data[field]
    assert not VALIDATOR.is_valid(data)


def test_the_schema_rejects_a_wrong_transport(run: Analyze) -> None:
    data = run(mixed_capture()).to_dict()
    data["flows"][0]["transport"] = "encrypted"
    assert not VALIDATOR.is_valid(data)


def test_the_schema_itself_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
