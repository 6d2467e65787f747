"""Leak detection end to end over Flow records: every encoding found, every look-alike left alone."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from urllib.parse import quote

import brotli
import pytest
import zstandard

from phonehome.policy.identity import Identity
from tests.unit.policy.builders import http_request, leaks, make_flow, post, run

IMEI = "352099001761481"
ICCID = "89860312345678901234"
MAC = "aa:bb:cc:dd:ee:0f"


def _nokia_2019_body() -> bytes:
    """The self-registration payload as Android's Base64.DEFAULT writes it: MIME lines of 76 characters."""
    doc = {
        "REGVER": "7",
        "MEID": "",
        "MODEL": "TA-1062",
        "SWVER": "00WW_1_13E",
        "UETYPE": "1",
        "IMEI1": IMEI,
        "IMEI2": "",
        "SIM1ICCID": ICCID,
        "SIM1LTEIMSI": "",
        "SIM1TYPE": "1",
        "MACID": MAC.upper(),
        "CELLID": str(219769363 & 0xFF),
        "MANUFACTURE": "HMD Global",
        "OSVER": "Android9",
        "ACCESSTYPE": "1",
        "REGDATE": "2019-01-21 10:11:12",
    }
    return base64.encodebytes(json.dumps(doc).encode())


def test_nokia_2019_payload_reports_imei_iccid_mac_in_its_decode_chain(detector_factory) -> None:
    body = _nokia_2019_body()
    assert b"\n" in body  # MIME line breaks, as on the wire
    headers = [("User-Agent", "zzhc/1.0.0"), ("Content-Type", "application/encrypted-json")]
    detector = post(detector_factory(), body, headers, segment=100)
    chains = {f.identifier: f.decode for f in detector.findings if f.rule == "cleartext-identifier"}
    assert chains["imei"] == "http-body>base64>json:IMEI1"
    assert chains["iccid"] == "http-body>base64>json:SIM1ICCID"
    assert chains["wifi_mac"] == "http-body>base64>json:MACID"
    assert chains["cell"] == "http-body>base64>json:CELLID"  # the low 8 bits, under its own name
    imei = next(f for f in detector.findings if f.identifier == "imei")
    assert imei.flow is not None
    assert (imei.flow.proto, imei.flow.dport) == ("tcp", 80)
    assert imei.frames
    assert imei.offset is not None
    assert "«352099001761481»" in (imei.excerpt or "")
    assert "EN 18031-2 SCM-1" in imei.clauses
    assert "Android CDD 9.8.5" in imei.clauses


def _encodings() -> dict[str, tuple[bytes, list[tuple[str, str]]]]:
    doc = json.dumps({"imei": IMEI, "note": "x"}).encode()
    inner = base64.urlsafe_b64encode(b"\xfb\xff" + doc).decode().rstrip("=")  # \xfb\xff: "-" and "_" appear
    nested = base64.b64encode(json.dumps({"blob": inner}).encode())
    return {
        "plain-json": (doc, []),
        "form": (f"a=1&imei={IMEI}&b=2".encode(), [("Content-Type", "application/x-www-form-urlencoded")]),
        "gzip-mislabelled": (gzip.compress(doc, mtime=0), [("Content-Type", "text/plain")]),
        "zlib": (zlib.compress(doc), []),
        "raw-deflate": (zlib.compress(doc)[2:-4], [("Content-Encoding", "deflate")]),
        "raw-deflate-unlabelled": (zlib.compress(doc * 3)[2:-4], []),
        "brotli": (brotli.compress(doc), [("Content-Encoding", "br")]),
        "brotli-unlabelled": (brotli.compress(doc), []),
        "zstd": (zstandard.ZstdCompressor().compress(doc), []),
        "base64-padded": (base64.b64encode(doc), []),
        "base64-unpadded": (base64.b64encode(doc).rstrip(b"="), []),
        "base64url": (base64.urlsafe_b64encode(b"\xfb\xff" + doc), []),
        "base64-crlf-lines": (base64.encodebytes(doc * 4).replace(b"\n", b"\r\n"), []),
        "base64-nested-url-safe": (nested, []),
        "gzip-in-base64": (base64.b64encode(gzip.compress(doc, mtime=0)), []),
        "hex-blob": (doc.hex().encode(), []),
        "hex-in-json": (json.dumps({"payload": doc.hex()}).encode(), []),
        "url-encoded-json": (quote(doc.decode()).encode(), []),
        "multipart": (
            b'--XyZ\r\nContent-Disposition: form-data; name="dev"\r\n\r\n' + doc + b"\r\n--XyZ--\r\n",
            [("Content-Type", "multipart/form-data; boundary=XyZ")],
        ),
        "multipart-base64-part": (
            b'--b1\r\nContent-Disposition: form-data; name="f"\r\nContent-Transfer-Encoding: '
            b"base64\r\n\r\n" + base64.encodebytes(doc) + b"\r\n--b1--\r\n",
            [("Content-Type", "multipart/form-data; boundary=b1")],
        ),
        "protobuf": (b"\x0a\x0f" + IMEI.encode() + b"\x10\x01", [("Content-Type", "application/x-protobuf")]),
        "protobuf-nested-in-gzip": (
            gzip.compress(b"\x12\x13\x0a\x11" + b"\x08\x01\x12\x0f" + IMEI.encode(), mtime=0),
            [],
        ),
        "xml": (f"<req><IMEI>{IMEI}</IMEI></req>".encode(), []),
        "imei-hex-ascii": (IMEI.encode().hex().upper().encode(), [("X", "y")]),
        "md5-lower": (json.dumps({"d": hashlib.md5(IMEI.encode()).hexdigest()}).encode(), []),
        "sha1-upper": (hashlib.sha1(IMEI.encode()).hexdigest().upper().encode(), []),
        "sha256-base64": (
            json.dumps({"h": base64.b64encode(hashlib.sha256(IMEI.encode()).digest()).decode()}).encode(),
            [],
        ),
        "imei-14": (b"dev=" + IMEI[:14].encode() + b";", []),
        "imeisv": (b"sv=" + IMEI[:14].encode() + b"07&", []),
    }


@pytest.mark.parametrize("name", sorted(_encodings()))
def test_imei_is_found_in_every_encoding(detector_factory, name: str) -> None:
    body, headers = _encodings()[name]
    detector = post(detector_factory(), body, headers)
    assert "imei" in leaks(detector), [f.to_json() for f in detector.findings]


def test_decode_chain_names_each_layer(detector_factory) -> None:
    body, headers = _encodings()["base64-nested-url-safe"]
    found = next(f for f in post(detector_factory(), body, headers).findings if f.identifier == "imei")
    assert found.decode == "http-body>base64>json:blob>base64url>json:imei"


@pytest.mark.parametrize(
    ("where", "target", "headers"),
    [
        ("query", f"/reg?imei={IMEI}&v=1", []),
        ("path", f"/devices/{IMEI}/register", []),
        ("header", "/", [("X-Device-Id", IMEI)]),
        ("cookie", "/", [("Cookie", f"sid=1; dev={base64.b64encode(IMEI.encode()).decode()}")]),
        ("percent-encoded mac", f"/r?m={quote(MAC, safe='')}", []),
    ],
)
def test_identifiers_in_request_line_headers_and_cookies(
    detector_factory, where: str, target: str, headers: list[tuple[str, str]]
) -> None:
    detector = post(detector_factory(), b"", headers, target=target)
    assert leaks(detector) & {"imei", "wifi_mac"}, where


def test_value_split_across_segments_is_found_in_plain_tcp(detector_factory) -> None:
    flow = make_flow(app=None, transport="unknown", dport=9999, server_name=None, name_source="none")
    detector = run(detector_factory(), flow, b"HELLO " + IMEI.encode() + b" BYE", segment=3)
    found = [f for f in detector.findings if f.identifier == "imei"]
    assert found
    assert found[0].offset == 6
    assert found[0].decode == "tcp-stream"


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("mac-no-separator", b"m=AABBCCDDEE0F"),
        ("mac-dashes", b"aa-bb-cc-dd-ee-0f"),
        ("mac-cisco", b"aabb.ccdd.ee0f"),
        ("mac-randomized", b"3A:11:22:33:44:55"),
        ("iccid-trailing-f", b"89860312345678901234F"),
        ("iccid-nibble-swapped", b"98683021436587092143"),
        ("imsi", b"460031234567890"),
        ("msisdn-e164", b"tel=%2B4791234567"),
        ("msisdn-national", b"tel 91234567;"),
        ("serial-lower", b"sn=pnx7b1234567"),
        ("android-id-upper", b"3F2A9C1B7D4E5A60"),
        ("android-id-decimal", str(int("3f2a9c1b7d4e5a60", 16)).encode()),
        ("gsf-id-decimal", b"gsf:" + str(int("3c8b5e9a1f20d477", 16)).encode()),
        ("advertising-id-upper", b"38400000-8CF0-11BD-B23E-10B96E40000D"),
        ("ssid", b"ssid=phonehome-bench-7&"),
        ("bssid", b"02-1A-11-F0-00-07"),
        ("location-decimal", b"59.91387,10.75225"),
        ("location-reversed", b"[10.752245, 59.913868]"),
        ("location-e7", b"lat=599138680&lon=107522450"),
        ("location-2-places", b"59.91;10.75"),
        ("location-geojson", b'{"type":"Point","coordinates":[10.752245,59.913868]}'),
        ("location-xml", b"<lat>59.9139</lat><lon>10.7522</lon>"),
        ("imei-tac-snr", b"35209900-176148-1"),
        ("iccid-as-printed", b"8986 0312 3456 7890 1234"),
        ("mac-spaced", b"AA BB CC DD EE 0F"),
        ("cell-decimal", b"ci=219769363"),
        ("cell-hex", b"ECI=0D196A13"),
        ("lac-under-its-name", b"LAC=2301&x=1"),
    ],
)
def test_identifier_forms_are_found_in_a_datagram(detector_factory, name: str, payload: bytes) -> None:
    flow = make_flow(
        proto="udp", dport=5683, app=None, transport="unknown", server_name=None, name_source="none"
    )
    detector = run(detector_factory(), flow, payload)
    assert leaks(detector), name


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("another-valid-imei", b'{"imei_hash":"x","other":"490154203237518"}'),
        ("imei-body-inside-longer-number", b"id=1" + IMEI[:14].encode() + b"99"),
        ("tac-alone", b"tac=35209900&model=TA-1062"),
        ("hash-of-something-else", hashlib.sha256(b"352099001761482").hexdigest().encode()),
        ("random-base64", base64.b64encode(bytes(range(200)))),
        ("short-number-like-cell-low-bits", b"count=19&page=19&CID_COUNT=3"),
        ("cell-id-value-without-its-name", b"total=219769363000"),
        ("lac-without-its-name", b"retry 2301 times"),
        ("other-mac", b"mac=aa:bb:cc:dd:ee:0e"),
        ("price-list", b"prices: 59.95 and 10.80"),
        ("prices-near-the-coordinates", b"total 59.91 and 10.75 EUR"),
        ("imei-inside-a-longer-number", b"ts=9" + IMEI.encode() + b"7"),
        ("one-coordinate-alone", b"temp 59.9139 ok"),
        ("other-location", b"lat=48.8566&lon=2.3522"),
        ("iccid-prefix", b"89860312345"),
        ("uuid-of-something-else", b"38400000-8cf0-11bd-b23e-10b96e40000e"),
        ("serial-inside-longer-word", b"XPNX7B1234567Z"),
        ("msisdn-inside-longer-number", b"ref=1491234567890"),
    ],
)
def test_look_alikes_are_not_leaks(detector_factory, name: str, payload: bytes) -> None:
    detector = post(detector_factory(), payload)
    assert not leaks(detector), (name, [f.to_json() for f in detector.findings])


def test_identifier_shaped_field_with_an_unknown_value_is_reported_as_such(detector_factory) -> None:
    body = json.dumps({"IMEI2": "490154203237518", "SIM2ICCID": "89860399999999999990", "MACID": ""}).encode()
    detector = post(detector_factory(), body)
    shaped = {(f.form, f.decode) for f in detector.findings if f.rule == "identifier-shaped-field"}
    assert all(f.identifier is None for f in detector.findings)  # no identity key: not this handset's
    assert shaped == {("imei-shaped", "http-body>json:IMEI2"), ("iccid-shaped", "http-body>json:SIM2ICCID")}
    assert not leaks(detector)


def test_cell_id_low_bits_count_only_under_a_cell_field_name(detector_factory) -> None:
    low = str(219769363 & 0xFF)
    assert "cell" in leaks(post(detector_factory(), json.dumps({"CELLID": low}).encode()))
    assert "cell" in leaks(post(detector_factory(), f"BASEID={low}&x=1".encode()))
    assert not leaks(post(detector_factory(), json.dumps({"count": low}).encode()))


def test_decompression_bomb_is_a_finding_not_an_out_of_memory(detector_factory) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), mtime=0)
    detector = post(detector_factory(), bomb, [("Content-Encoding", "gzip")])
    limits = [f for f in detector.findings if f.rule == "decode-limit"]
    assert limits
    assert "bomb" in limits[0].detail


def test_dns_query_name_carrying_an_identifier_is_found(detector_factory) -> None:
    from phonehome.traffic.flow import DnsQuery

    name = f"{IMEI}.t.example.test"
    flow = make_flow(proto="udp", dport=53, app="dns", server_name=None, name_source="none")
    flow.dns_queries.append(DnsQuery(name, 1, 5, 1000.0))
    wire = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x0f"
        + IMEI.encode()
        + b"\x01t\x07example\x04test\x00\x00\x01\x00\x01"
    )
    detector = run(detector_factory(), flow, wire)
    assert [f.decode for f in detector.findings if f.identifier == "imei"] == ["dns-qname"]


def test_hex_encoded_identifier_in_a_dns_label_is_found(detector_factory) -> None:
    from phonehome.traffic.flow import DnsQuery

    flow = make_flow(proto="udp", dport=53, app="dns", server_name=None, name_source="none")
    flow.dns_queries.append(DnsQuery(f"{json.dumps({'i': IMEI}).encode().hex()}.x.test", 16, 5, 1000.0))
    detector = run(detector_factory(), flow, b"")
    assert "imei" in leaks(detector)


def test_bytes_of_either_side_are_found_and_say_which_side_sent_them(detector_factory) -> None:
    # Without a known handset both sides are looked at; the evaluation keeps the handset's side.
    flow = make_flow(app=None, transport="unknown", dport=7000)
    detector = run(detector_factory(), flow, b"echo " + IMEI.encode(), from_client=False)
    assert [(f.identifier, f.from_client) for f in detector.findings] == [("imei", False)]


def test_a_given_sender_limits_the_scan_to_its_bytes(identity) -> None:
    from phonehome.policy.leaks import LeakDetector, client_sends

    flow = make_flow(app=None, transport="unknown", dport=7000)
    detector = run(
        LeakDetector(identity, sends=client_sends), flow, b"echo " + IMEI.encode(), from_client=False
    )
    assert not detector.findings


def test_excerpts_escape_hostile_bytes(detector_factory) -> None:
    flow = make_flow(app=None, transport="unknown", dport=7000)
    detector = run(detector_factory(), flow, b"\x1b[31m<script>\x00" + IMEI.encode() + b"\xff\r\n")
    text = next(f.excerpt for f in detector.findings if f.identifier == "imei") or ""
    assert "\\x1b" in text
    assert "\\x00" in text
    assert "\\xff" in text
    assert "\x1b" not in text


def test_same_identifier_twice_in_a_flow_is_one_finding_with_occurrences(detector_factory) -> None:
    wire1, req1 = http_request(json.dumps({"imei": IMEI}).encode())
    wire2, req2 = http_request(json.dumps({"imei": IMEI}).encode(), offset=len(wire1))
    flow = make_flow()
    detector = run(detector_factory(), flow, wire1 + wire2, [req1, req2])
    found = [f for f in detector.findings if f.identifier == "imei"]
    assert len(found) == 1
    assert found[0].occurrences == 2


def test_generic_field_names_with_unknown_values_are_not_identifier_shaped(detector_factory) -> None:
    detector = post(
        detector_factory(), b"utm_campaign=apr&cid=206568151&serial=7&sn=Q1&location=home", target="/"
    )
    assert not detector.findings


def test_comma_separated_settings_with_equals_signs_do_not_nest_forms(detector_factory) -> None:
    flow = make_flow(
        proto="udp", dport=20010, app=None, transport="unknown", server_name=None, name_source="none"
    )
    detector = run(
        detector_factory(),
        flow,
        b"render=a,env=b,circuit=c,app=d,project=e,platform=f,host=g,driver=h,vendor=i",
    )
    assert not [f for f in detector.findings if f.rule == "decode-limit"]


def test_location_in_protobuf_doubles_and_signed_e7_is_found(detector_factory) -> None:
    import struct

    doubles = b"\x09" + struct.pack("<d", 59.913868) + b"\x11" + struct.pack("<d", 10.752245)
    assert "location" in leaks(post(detector_factory(), b"\x0a\x12" + doubles))
    south = Identity.model_validate({"location": {"lat": -33.8567850, "lon": 151.2152967}})
    from phonehome.policy.leaks import LeakDetector

    e7 = b"\x0d" + struct.pack("<i", -338567850) + b"\x15" + struct.pack("<i", 1512152967)
    detector = LeakDetector(south)
    wire, request = http_request(e7, headers=[("Content-Type", "application/x-protobuf")])
    assert "location" in leaks(run(detector, make_flow(), wire, [request]))


def _dhcp_discover(detector_factory, *, link_mac: str, chaddr_mac: str, dst: str = "255.255.255.255"):
    """A DHCPDISCOVER as the analyzer hands it over: the flow, its bytes, its decoded message."""
    from phonehome.traffic.flow import DhcpMessage

    flow = make_flow(
        proto="udp", dport=67, src="0.0.0.0", dst=dst, app="dhcp", transport="cleartext", server_name=None,
        name_source="none",
    )  # fmt: skip
    flow.sport, flow.src_mac, flow.dst_mac = 68, link_mac, "ff:ff:ff:ff:ff:ff"
    chaddr = bytes.fromhex(chaddr_mac.replace(":", ""))
    hostname = b"android-3f2a9c1b7d4e5a60"  # Android < 8 named itself after its ANDROID_ID
    payload = b"\x01\x01\x06\x00" + bytes(24) + chaddr + bytes(10) + hostname
    flow.dhcp.append(DhcpMessage(4, True, 1, 2, 0, link_spans=((28, 34),), client_mac=chaddr_mac))
    return flow, run(detector_factory(), flow, payload)


def test_dhcp_carrying_the_link_mac_to_the_bench_is_not_a_leak_but_its_hostname_is(detector_factory) -> None:
    from phonehome.policy.evaluate import evaluate
    from phonehome.policy.handset import parse_handset

    flow, detector = _dhcp_discover(
        detector_factory, link_mac="aa:bb:cc:dd:ee:0f", chaddr_mac="aa:bb:cc:dd:ee:0f"
    )
    identity = detector.identity
    result = evaluate([flow], detector, identity=identity, handset=parse_handset("aa:bb:cc:dd:ee:0f"))
    assert {f.identifier for f in result.findings if f.rule == "cleartext-identifier"} == {"android_id"}


def test_dhcp_carrying_the_factory_mac_behind_a_randomized_one_is_a_leak(detector_factory) -> None:
    from phonehome.policy.evaluate import evaluate
    from phonehome.policy.handset import parse_handset

    # The link uses the randomized MAC; chaddr carries the factory one: that is the factory MAC, sent.
    flow, detector = _dhcp_discover(
        detector_factory, link_mac="3a:11:22:33:44:55", chaddr_mac="aa:bb:cc:dd:ee:0f"
    )
    result = evaluate(
        [flow], detector, identity=detector.identity, handset=parse_handset("3a:11:22:33:44:55")
    )
    assert "wifi_mac" in {f.identifier for f in result.findings if f.rule == "cleartext-identifier"}


def test_the_link_mac_in_dhcp_to_a_server_that_is_not_the_bench_is_a_leak(detector_factory) -> None:
    from phonehome.policy.evaluate import evaluate
    from phonehome.policy.handset import parse_handset
    from phonehome.policy.infrastructure import BenchFacts

    flow, detector = _dhcp_discover(
        detector_factory, link_mac="aa:bb:cc:dd:ee:0f", chaddr_mac="aa:bb:cc:dd:ee:0f", dst="203.0.113.67"
    )
    bench = BenchFacts(router_addresses=["10.77.0.1"], subnets=["10.77.0.0/24"])
    result = evaluate(
        [flow], detector, identity=detector.identity, handset=parse_handset("aa:bb:cc:dd:ee:0f"), bench=bench
    )
    assert "wifi_mac" in {f.identifier for f in result.findings if f.rule == "cleartext-identifier"}


def _verdict(detector, flows) -> str:  # type: ignore[no-untyped-def]
    from phonehome.policy.evaluate import evaluate
    from phonehome.policy.handset import parse_handset

    result = evaluate(flows, detector, identity=detector.identity, handset=parse_handset("10.77.0.2"))
    return next(v.result for v in result.verdicts if v.assertion == "no-cleartext-identifiers")


def test_a_payload_past_the_token_budget_is_inconclusive_not_pass(detector_factory) -> None:
    from phonehome.policy.decode import Limits

    detector = detector_factory()
    detector.limits = Limits(max_tokens=300)
    noise = ";".join(hashlib.sha1(str(i).encode()).hexdigest() for i in range(300))
    body = f"{noise};{gzip.compress(IMEI.encode(), mtime=0).hex()}".encode()
    wire, request = http_request(body)
    flow = make_flow()
    run(detector, flow, wire, [request])
    assert not leaks(detector)
    assert any("encoded runs" in f.detail for f in detector.findings if f.rule == "decode-limit")
    assert _verdict(detector, [flow]) == "INCONCLUSIVE"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("base32-imei", base64.b32encode(IMEI.encode())),
        (
            "base32-in-a-header-like-line",
            b"token: " + base64.b32encode(gzip.compress(IMEI.encode(), mtime=0)).lower(),
        ),
        ("ndjson-escaped", b'{"n":1}\n{"d":"' + "".join(f"\\u{ord(c):04x}" for c in IMEI).encode() + b'"}\n'),
        (
            "300-hex-runs-first",
            (";".join(hashlib.sha1(b"%d" % i).hexdigest() for i in range(300))).encode()
            + b";"
            + gzip.compress(IMEI.encode(), mtime=0).hex().encode(),
        ),
        (
            "600-bytes-of-binary-first",
            bytes(range(256)) * 2 + bytes(88) + base64.b64encode(gzip.compress(IMEI.encode(), mtime=0)),
        ),
        (
            "gzip-three-times",
            gzip.compress(
                gzip.compress(gzip.compress(json.dumps({"i": IMEI}).encode(), mtime=0), mtime=0), mtime=0
            ),
        ),
        (
            "raw-deflate-behind-a-length",
            len(zlib.compress(IMEI.encode())[2:-4]).to_bytes(2, "big") + zlib.compress(IMEI.encode())[2:-4],
        ),
        (
            "base64-starting-like-zlib",
            base64.b64encode(b"\\bt\x1d\x02<" + gzip.compress(IMEI.encode(), mtime=0)),
        ),
    ],
)
def test_firmware_that_wants_to_pass_is_still_caught(detector_factory, name: str, body: bytes) -> None:
    detector = post(detector_factory(), body)
    assert "imei" in leaks(detector), name


def test_a_serial_hyperscan_cannot_compile_is_still_found() -> None:
    from phonehome.policy.leaks import LeakDetector

    serial = "SN-" + "".join(chr(0x30 + i % 70) for i in range(200_000)) + "\x00\xff"
    detector = LeakDetector(Identity.model_validate({"serial": serial}))
    assert "serial" in leaks(post(detector, b"s=" + base64.b64encode(serial.encode())))


def test_key_value_pairs_past_the_limit_are_a_visible_limit(detector_factory) -> None:
    from phonehome.policy.fields import MAX_TEXT_PAIRS

    flow = make_flow(app=None, transport="unknown", dport=7000)
    text = b"\n".join(b"k%d=v" % i for i in range(MAX_TEXT_PAIRS + 10)) + b"\nCELLID=19\n"
    detector = run(detector_factory(), flow, text, segment=1 << 20)
    assert any("key=value pairs" in f.detail for f in detector.findings if f.rule == "decode-limit")
