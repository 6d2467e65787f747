"""Crafted captures of firmware that wants to pass, through the real analyzer and policy, with controls.

Every capture here is a pcapng the traffic factory writes (handset 10.77.0.2,
its resolver 10.77.0.1 on the same link, a lossless capture), judged by
`analyze_capture` exactly as `phonehome analyze --identity --manifest` judges a file.
"""

from __future__ import annotations

import base64
import gzip
import struct
from pathlib import Path

import hpack
import pytest

from phonehome.policy import Evaluation, Identity, Manifest, analyze_capture
from phonehome.traffic import dns, tls
from phonehome.traffic.factory import (
    ETHERNET,
    Link,
    TcpConversation,
    UdpConversation,
    encapsulate,
    gre,
    icmp,
    interleave,
    ipv4,
    ipv6,
    pcap_bytes,
    pcapng_bytes,
    udp,
)
from phonehome.traffic.timeline import PhaseMarker
from phonehome.traffic.writers import Packet

HANDSET, RESOLVER = "10.77.0.2", "10.77.0.1"
HANDSET_MAC, ROUTER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:fe"
IMEI = "352099001761481"
T0 = 1_700_000_000.0
IDENTITY = Identity.model_validate({"imei": IMEI, "wifi_mac": "aa:bb:cc:dd:ee:0f", "serial": "PNX7B1234567"})
MANIFEST = Manifest.model_validate(
    {
        "firmware": "test",
        "endpoints": [
            {"name": "check", "hosts": ["check.example.com"], "ports": [80, 443], "transport": ["tls", "cleartext"],
             "before_consent": True, "purpose": "probe"},
            {"name": "api", "hosts": ["api.example.com"], "ports": [443], "before_consent": True, "purpose": "api"},
        ],
    }
)  # fmt: skip
CONSENT = [PhaseMarker(T0 - 10, "boot"), PhaseMarker(T0 - 10, "consent", {"accepted": True})]
PUBLIC = {"check.example.com": "198.18.0.10", "api.example.com": "198.18.0.11", "zzhc.vnet.cn": "198.18.0.12"}


def lookup(name: str, port: int, ts: float) -> list[Packet]:
    conv = UdpConversation((HANDSET, port), (RESOLVER, 53), ts=ts)
    conv.send(dns.build_query(name))
    conv.send(dns.build_response(name, [dns.DnsRecord(name, dns.A, 60, PUBLIC[name])]), from_client=False)
    return conv.packets


def lookups(*names: str) -> list[Packet]:
    return [p for i, n in enumerate(names) for p in lookup(n, 50000 + i, T0 - 5 + i * 0.1)]


def tls_to(name: str, sport: int, ts: float, *, sni: str | None = None, then: bytes = b"") -> list[Packet]:
    conv = TcpConversation((HANDSET, sport), (PUBLIC[name], 443), ts=ts).handshake()
    conv.send(tls.build_client_hello(sni or name) + then).close()
    return conv.packets


def judge(tmp_path: Path, *conversations: list[Packet], pcap: bool = False, **kw: object) -> Evaluation:
    packets = interleave(*conversations)
    path = tmp_path / ("c.pcap" if pcap else "c.pcapng")
    path.write_bytes(pcap_bytes(packets) if pcap else pcapng_bytes(packets, drops={0: 0}))
    kw.setdefault("timeline", CONSENT)
    kw.setdefault("manifest", MANIFEST)
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, **kw)  # type: ignore[arg-type]
    return evaluation


def result(evaluation: Evaluation, assertion: str) -> str:
    return next(v.result for v in evaluation.verdicts if v.assertion == assertion)


def leaked(evaluation: Evaluation) -> set[str]:
    return {f.identifier for f in evaluation.findings if f.rule == "cleartext-identifier" and f.identifier}


def test_control_lookup_then_tls_to_a_declared_name_passes(tmp_path: Path) -> None:
    evaluation = judge(tmp_path, lookups("check.example.com"), tls_to("check.example.com", 41000, T0))
    assert result(evaluation, "declared-endpoints") == "PASS"
    assert result(evaluation, "no-cleartext-identifiers") == "PASS"
    assert result(evaluation, "transport") == "PASS"
    assert evaluation.infrastructure.startswith("guessed: 10.77.0.1")


# -- every flow and every packet ---------------------------------------------------------------------------


def test_an_imei_from_udp_source_port_53_is_the_handsets(tmp_path: Path) -> None:
    conv = UdpConversation((HANDSET, 53), ("203.0.113.9", 40000), ts=T0).send(f"imei={IMEI}".encode())
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert "imei" in leaked(evaluation)
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_an_imei_in_a_tcp_stream_seen_from_the_middle_from_port_443(tmp_path: Path) -> None:
    conv = TcpConversation((HANDSET, 443), ("203.0.113.9", 50123), ts=T0)
    conv.segment(0x18, f"POST /r HTTP/1.1\r\nHost: x\r\n\r\nimei={IMEI}".encode(), True, seq=5000)
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert "imei" in leaked(evaluation)


def test_an_imei_in_icmp_echo_padding_fails(tmp_path: Path) -> None:
    frame = ETHERNET.frame(
        ipv4(icmp(8, 0, b"\x00\x01\x00\x01" + IMEI.encode()), HANDSET, "203.0.113.9", 1), True
    )
    evaluation = judge(tmp_path, lookups("check.example.com"), [Packet(T0, frame, 1)])
    assert "imei" in leaked(evaluation)
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_an_imei_inside_gre_and_6in4_tunnels_fails(tmp_path: Path) -> None:
    inner = UdpConversation(("10.99.0.1", 40000), ("198.51.100.77", 9999), link=Link(101), ts=T0)
    inner.send(f"imei={IMEI}".encode())
    in_gre = encapsulate(inner.packets, lambda p: ipv4(gre(p), HANDSET, "203.0.113.40", 47))
    inner6 = UdpConversation(("2001:db8::1", 40000), ("2001:db8::2", 9999), link=Link(101), ts=T0 + 1)
    inner6.send(f"imei={IMEI}".encode())
    in_6in4 = encapsulate(inner6.packets, lambda p: ipv4(p, HANDSET, "203.0.113.41", 41))
    evaluation = judge(tmp_path, lookups("check.example.com"), in_gre, in_6in4)
    flows = {f.flow.dst for f in evaluation.findings if f.rule == "cleartext-identifier" and f.flow}
    assert {"198.51.100.77", "2001:db8::2"} <= flows
    undeclared = " ".join(f.detail for f in evaluation.findings if f.rule == "undeclared-endpoint")
    assert "203.0.113.40" in undeclared
    assert "203.0.113.41" in undeclared


def test_a_frame_without_ip_carrying_the_imei_fails(tmp_path: Path) -> None:
    frame = (
        bytes.fromhex("ffffffffffff")
        + bytes.fromhex(HANDSET_MAC.replace(":", ""))
        + b"\x88\xb5"
        + IMEI.encode()
    )
    evaluation = judge(tmp_path, lookups("check.example.com"), [Packet(T0, frame, 1)])
    assert "imei" in leaked(evaluation)


def test_a_truncated_first_fragment_is_doubt(tmp_path: Path) -> None:
    packet = ipv4(udp(40000, 9999, b"x" * 3000), HANDSET, "203.0.113.9", 17, more=True)
    cut = ETHERNET.frame(packet, True)[:200]
    evaluation = judge(
        tmp_path, lookups("check.example.com"), tls_to("check.example.com", 41000, T0), [Packet(T0, cut, 1)]
    )
    assert "PASS" not in {result(evaluation, a) for a in ("declared-endpoints", "no-cleartext-identifiers")}


def test_a_pcap_without_drop_counters_cannot_pass(tmp_path: Path) -> None:
    evaluation = judge(
        tmp_path, lookups("check.example.com"), tls_to("check.example.com", 41000, T0), pcap=True
    )
    assert "PASS" not in {v.result for v in evaluation.verdicts}


def test_a_clock_that_steps_back_is_doubt(tmp_path: Path) -> None:
    late = tls_to("check.example.com", 41000, T0)
    early = tls_to("check.example.com", 41001, T0 - 3600)
    packets = [*lookups("check.example.com"), *late, *early]  # written in this order: the clock went back
    path = tmp_path / "c.pcapng"
    path.write_bytes(pcapng_bytes(packets, drops={0: 0}))
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=MANIFEST, timeline=CONSENT)
    assert any("clock" in doubt for doubt in evaluation.doubts)
    assert "PASS" not in {v.result for v in evaluation.verdicts}


# -- no blanket exemptions ---------------------------------------------------------------------------------


def test_dns_to_a_public_resolver_is_an_endpoint_to_judge(tmp_path: Path) -> None:
    conv = UdpConversation((HANDSET, 50009), ("8.8.8.8", 53), ts=T0).send(
        dns.build_query("check.example.com")
    )
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_a_name_dressed_as_a_reverse_lookup_is_judged(tmp_path: Path) -> None:
    conv = UdpConversation((HANDSET, 50010), (RESOLVER, 53), ts=T0).send(
        dns.build_query(f"{IMEI}.in-addr.arpa")
    )
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert result(evaluation, "declared-endpoints") == "FAIL"
    assert "imei" in leaked(evaluation)


# -- the destination is where the packets went ----------------------------------------------------------------


def test_a_declared_sni_on_the_address_of_an_undeclared_name_fails(tmp_path: Path) -> None:
    evaluation = judge(
        tmp_path,
        lookups("check.example.com", "zzhc.vnet.cn"),
        tls_to("zzhc.vnet.cn", 41000, T0, sni="check.example.com"),
    )
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_an_answer_the_handset_forged_names_nothing(tmp_path: Path) -> None:
    forged = UdpConversation((RESOLVER, 53), (HANDSET, 50011), ts=T0 - 2)
    forged.link = Link(client_mac=HANDSET_MAC, server_mac=ROUTER_MAC)  # sent from the handset's own MAC
    forged.send(
        dns.build_response("api.example.com", [dns.DnsRecord("api.example.com", dns.A, 60, "203.0.113.80")])
    )
    conv = TcpConversation((HANDSET, 41002), ("203.0.113.80", 443), ts=T0).handshake()
    conv.send(tls.build_client_hello("api.example.com")).close()
    evaluation = judge(tmp_path, lookups("check.example.com"), forged.packets, conv.packets)
    assert result(evaluation, "declared-endpoints") == "FAIL"


def test_the_second_request_on_a_connection_counts(tmp_path: Path) -> None:
    conv = TcpConversation((HANDSET, 41003), (PUBLIC["check.example.com"], 80), ts=T0).handshake()
    conv.send(
        b"GET / HTTP/1.1\r\nHost: check.example.com\r\n\r\nGET /r HTTP/1.1\r\nHost: zzhc.vnet.cn\r\n\r\n"
    )
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.close().packets)
    assert any("zzhc.vnet.cn" in f.detail for f in evaluation.findings if f.rule == "undeclared-claim")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"CONNECT zzhc.vnet.cn:443 HTTP/1.1\r\nHost: zzhc.vnet.cn:443\r\n\r\n",
        b"GET http://zzhc.vnet.cn/r HTTP/1.1\r\nHost: check.example.com\r\n\r\n",
        b"\x05\x01\x00\x05\x01\x00\x03\x0czzhc.vnet.cn\x01\xbb",  # SOCKS5 greeting + CONNECT by name
    ],
    ids=["connect", "absolute-uri", "socks5"],
)
def test_a_proxy_request_names_its_real_destination(tmp_path: Path, request_bytes: bytes) -> None:
    conv = TcpConversation((HANDSET, 41004), (PUBLIC["check.example.com"], 80), ts=T0).handshake()
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.send(request_bytes).close().packets)
    assert any("zzhc.vnet.cn" in f.detail for f in evaluation.findings if f.rule == "undeclared-claim")


def test_ech_hides_the_endpoint(tmp_path: Path) -> None:
    conv = TcpConversation((HANDSET, 41005), (PUBLIC["check.example.com"], 443), ts=T0).handshake()
    conv.send(tls.as_records(tls.build_client_hello_message("check.example.com", ech=True))).close()
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert result(evaluation, "declared-endpoints") == "INCONCLUSIVE"


# -- streams read to the end ---------------------------------------------------------------------------------


def test_cleartext_after_a_client_hello_is_found(tmp_path: Path) -> None:
    packets = tls_to("api.example.com", 41006, T0, then=f"imei={IMEI}".encode())
    evaluation = judge(tmp_path, lookups("api.example.com"), packets)
    assert "imei" in leaked(evaluation)
    assert result(evaluation, "transport") == "FAIL"


def test_text_framed_as_tls_application_data_is_cleartext(tmp_path: Path) -> None:
    body = f"imei={IMEI}".encode()
    record = struct.pack("!BHH", 23, 0x0303, len(body)) + body
    packets = tls_to("api.example.com", 41007, T0, then=record)
    evaluation = judge(tmp_path, lookups("api.example.com"), packets)
    assert "imei" in leaked(evaluation)
    assert result(evaluation, "transport") == "FAIL"


def test_an_encoded_imei_beyond_the_first_64_kib_of_a_stream_is_found(tmp_path: Path) -> None:
    blob = base64.b64encode(gzip.compress(f'{{"imei":"{IMEI}"}}'.encode()))
    payload = b"x" * (100 << 10) + b"\n" + blob + b"\n"
    conv = TcpConversation((HANDSET, 41008), ("203.0.113.9", 7777), ts=T0).handshake()
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.send(payload).close().packets)
    assert "imei" in leaked(evaluation)


def test_a_masked_websocket_frame_is_unmasked(tmp_path: Path) -> None:
    text = f'{{"imei":"{IMEI}"}}'.encode()
    mask = b"\x11\x22\x33\x44"
    frame = bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: check.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    conv = TcpConversation((HANDSET, 41009), (PUBLIC["check.example.com"], 80), ts=T0).handshake()
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.send(upgrade + frame).close().packets)
    assert "imei" in leaked(evaluation)


def test_an_hpack_huffman_header_in_h2c_is_decoded(tmp_path: Path) -> None:
    block = hpack.Encoder().encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "check.example.com"),
         ("x-device", IMEI)],
        huffman=True,
    )  # fmt: skip
    headers = struct.pack("!I", len(block))[1:] + bytes([1, 0x05]) + struct.pack("!I", 1) + block
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    conv = TcpConversation((HANDSET, 41010), (PUBLIC["check.example.com"], 80), ts=T0).handshake()
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.send(preface + headers).close().packets)
    assert IMEI.encode() not in block  # Huffman coding hides it from a byte scan
    assert "imei" in leaked(evaluation)


def test_smtp_before_starttls_is_cleartext(tmp_path: Path) -> None:
    conv = TcpConversation((HANDSET, 41011), ("203.0.113.25", 25), ts=T0).handshake()
    conv.send(b"EHLO phone\r\nMAIL FROM:<" + IMEI.encode() + b"@x>\r\nSTARTTLS\r\n")
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.close().packets)
    assert "imei" in leaked(evaluation)


def test_a_retransmission_with_other_bytes_is_scanned_too(tmp_path: Path) -> None:
    conv = TcpConversation((HANDSET, 41012), ("203.0.113.9", 7777), ts=T0).handshake()
    start = conv._seq[0]
    conv.segment(0x18, b"x" * 15, True, seq=start)
    conv.segment(0x18, IMEI.encode(), True, seq=start)  # the same bytes again, but different
    conv._seq[0] = start + 15
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.close().packets)
    assert "imei" in leaked(evaluation)


def test_an_imei_in_a_quic_transport_parameter_is_found(tmp_path: Path) -> None:
    from phonehome.traffic.quic import build_initial

    initial = build_initial("check.example.com", transport_parameters=b"\x3f\x0f" + IMEI.encode())
    conv = UdpConversation((HANDSET, 41013), (PUBLIC["check.example.com"], 443), ts=T0)
    for datagram in initial if isinstance(initial, list) else [initial]:
        conv.send(datagram)
    evaluation = judge(tmp_path, lookups("check.example.com"), conv.packets)
    assert "imei" in leaked(evaluation)


def test_ipv6_from_the_handsets_mac_is_the_handsets(tmp_path: Path) -> None:
    v6 = UdpConversation(("fe80::1", 40000), ("2001:db8::9", 9999), ts=T0)
    v6.link = Link(client_mac=HANDSET_MAC, server_mac=ROUTER_MAC)
    v6.send(f"imei={IMEI}".encode())
    v4 = UdpConversation((HANDSET, 40001), ("203.0.113.9", 9999), ts=T0)
    v4.link = Link(client_mac=HANDSET_MAC, server_mac=ROUTER_MAC)
    v4.send(b"hello")
    from phonehome.policy import parse_handset

    evaluation = judge(
        tmp_path, lookups("check.example.com"), v4.packets, v6.packets, handset=parse_handset(HANDSET)
    )
    assert "imei" in leaked(evaluation)
    assert "fe80::1" in evaluation.handset


def test_ipv6_helper_packets_are_well_formed() -> None:
    assert ipv6(b"", "2001:db8::1", "2001:db8::2", 59)[0] >> 4 == 6


# -- TLS the lab decrypted (a key log) ---------------------------------------------------------------------


def _sealed(tmp_path: Path, name: str, plaintext: bytes, *, keylog: bool = True) -> Evaluation:
    from phonehome.traffic.tls_build import Tls13Connection

    tls13 = Tls13Connection(sni=name)
    conv = TcpConversation((HANDSET, 41020), (PUBLIC[name], 443), ts=T0).handshake()
    tls13.send(plaintext)
    for from_client, data in tls13.flights():
        conv.send(data, from_client)
    packets = interleave(lookups(name), conv.close().packets)
    path = tmp_path / "sealed.pcapng"
    path.write_bytes(pcapng_bytes(packets, drops={0: 0}, tls_keylog=tls13.keylog() if keylog else None))
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=MANIFEST, timeline=CONSENT)
    return evaluation


REGISTER = (
    f"POST /register HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 20\r\n\r\nimei={IMEI}".encode()
)


def test_an_identifier_inside_decrypted_tls_is_judged_for_its_recipient_not_as_cleartext(
    tmp_path: Path,
) -> None:
    evaluation = _sealed(tmp_path, "api.example.com", REGISTER)
    (recipient,) = [f for f in evaluation.findings if f.rule == "undeclared-recipient"]
    assert recipient.identifier == "imei"
    assert (recipient.decode or "").startswith("tls-decrypted>http-body")
    assert "'api')" in recipient.detail
    assert result(evaluation, "no-cleartext-identifiers") == "PASS"  # it was encrypted on the wire
    assert result(evaluation, "identifier-recipients") == "FAIL"  # api.example.com may not receive an IMEI


def test_without_the_key_log_the_same_flow_stays_inconclusive_for_recipients(tmp_path: Path) -> None:
    evaluation = _sealed(tmp_path, "api.example.com", REGISTER, keylog=False)
    assert not [f for f in evaluation.findings if f.rule == "undeclared-recipient"]
    assert result(evaluation, "identifier-recipients") == "INCONCLUSIVE"


def test_a_decrypted_flow_without_identifiers_passes_recipients(tmp_path: Path) -> None:
    clean = b"GET /generate_204 HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
    evaluation = _sealed(tmp_path, "api.example.com", clean)
    assert result(evaluation, "identifier-recipients") == "PASS"
