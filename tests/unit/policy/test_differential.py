"""Differential detection on crafted captures: XOR with a fixed key is found, nonces and known encodings are not."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.policy.differential import (
    FieldCollector,
    RunFields,
    Sample,
    compare,
    excerpt,
    request_fields,
    xor_offset,
)
from phonehome.policy.identity import Identity
from phonehome.traffic import analyze
from phonehome.traffic.dns import build_query
from phonehome.traffic.factory import TcpConversation, UdpConversation, pcapng_bytes
from phonehome.traffic.flow import HttpRequest

KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
HANDSET = "10.0.0.2"
SERVER = "203.0.113.9"
ID_A = Identity(imei=["353320118782403"], serial=["LPLFUYLVP6A7"], wifi_mac=["a8:9c:ed:12:34:56"])
ID_B = Identity(imei=["353320119954621"], serial=["Q8ZT1NB2KD4X"], wifi_mac=["a8:9c:ed:65:43:21"])

Sends = Callable[[Identity], dict[str, str]]
"""Headers an imagined firmware sends for an identity."""


def xor(text: str, key: bytes = KEY) -> bytes:
    data = text.encode()
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def _capture(
    tmp_path: Path, name: str, headers: dict[str, str], *, body: bytes = b"", udp: bytes = b"", dns: str = ""
) -> Path:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    method = "POST" if body else "GET"
    request = f"{method} /v1/activate?sdk=34 HTTP/1.1\r\nHost: activation.oem.example\r\n{head}"
    request += f"Content-Length: {len(body)}\r\n" if body else ""
    conv = TcpConversation((HANDSET, 40100), (SERVER, 80), ts=1_700_000_000.0).handshake()
    conv.send(request.encode() + b"\r\n" + body).close()
    packets = list(conv.packets)
    if udp:
        datagrams = UdpConversation((HANDSET, 40200), (SERVER, 9999), ts=1_700_000_001.0)
        datagrams.send(udp)
        packets += datagrams.packets
    if dns:
        lookup = UdpConversation((HANDSET, 40300), ("10.0.0.1", 53), ts=1_700_000_002.0)
        lookup.send(build_query(dns, id=secrets.randbelow(65536)))
        packets += lookup.packets
    path = tmp_path / f"{name}.pcapng"
    path.write_bytes(pcapng_bytes(packets))
    return path


def _run(tmp_path: Path, label: str, identity: Identity, **sent: object) -> RunFields:
    collector = FieldCollector()
    analyze([_capture(tmp_path, label, **sent)], observer=collector, hash_files=False)  # type: ignore[arg-type]
    return RunFields(label, identity, collector.samples)


def test_an_imei_xored_with_a_fixed_key_is_a_probable_obfuscated_identifier(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", ID_A, headers={"X-Device-Token": xor(ID_A.imei[0]).hex()})
    b = _run(tmp_path, "b", ID_B, headers={"X-Device-Token": xor(ID_B.imei[0]).hex()})
    (suspect,) = compare([a, b])
    assert (suspect.endpoint, suspect.field, suspect.method) == (
        f"{SERVER}:80/tcp",
        "header:x-device-token",
        "xor",
    )
    assert suspect.identifiers == ("imei",)
    assert KEY[:15].hex() in suspect.detail  # the key is recovered and shown
    assert [e[1] for e in suspect.excerpts] == [xor(ID_A.imei[0]).hex(), xor(ID_B.imei[0]).hex()]


@pytest.mark.parametrize(
    "encode",
    [lambda b: b.hex(), lambda b: b.hex().upper(), lambda b: __import__("base64").b64encode(b).decode(),
     lambda b: __import__("base64").urlsafe_b64encode(b).decode()],
    ids=["hex", "HEX", "base64", "base64url"],
)  # fmt: skip
def test_the_xor_is_found_whatever_text_encoding_carries_it(
    tmp_path: Path, encode: Callable[[bytes], str]
) -> None:
    a = _run(tmp_path, "a", ID_A, headers={"X-T": encode(b"v1:" + xor(ID_A.serial[0]) + b"!")})
    b = _run(tmp_path, "b", ID_B, headers={"X-T": encode(b"v1:" + xor(ID_B.serial[0]) + b"!")})
    (suspect,) = compare([a, b])
    assert suspect.identifiers == ("serial",)


def test_an_xored_identifier_inside_a_json_body_is_named_by_its_path(tmp_path: Path) -> None:
    def body(identity: Identity) -> bytes:
        return json.dumps({"device": {"token": xor(identity.imei[0]).hex(), "sdk": 34}}).encode()

    a = _run(tmp_path, "a", ID_A, headers={"Content-Type": "application/json"}, body=body(ID_A))
    b = _run(tmp_path, "b", ID_B, headers={"Content-Type": "application/json"}, body=body(ID_B))
    assert [(s.field, s.method) for s in compare([a, b])] == [("json:device.token", "xor")]


def test_an_xored_identifier_in_a_raw_udp_payload_is_found_byte_wise(tmp_path: Path) -> None:
    def payload(identity: Identity) -> bytes:
        return b"\x01\x02HDR" + xor(identity.imei[0], b"\x5a") + b"\x00tail"

    a = _run(tmp_path, "a", ID_A, headers={}, udp=payload(ID_A))
    b = _run(tmp_path, "b", ID_B, headers={}, udp=payload(ID_B))
    (suspect,) = compare([a, b])
    assert (suspect.field, suspect.identifiers) == ("payload#0", ("imei",))
    assert "raw bytes 5..20" in suspect.detail
    assert "\\x" in suspect.excerpts[0][1]  # binary bytes escaped in the excerpt


def test_an_xored_identifier_in_a_dns_label_is_found(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", ID_A, headers={}, dns=f"{xor(ID_A.imei[0]).hex()}.t.oem.example")
    b = _run(tmp_path, "b", ID_B, headers={}, dns=f"{xor(ID_B.imei[0]).hex()}.t.oem.example")
    (suspect,) = compare([a, b])
    assert (suspect.endpoint, suspect.field, suspect.identifiers) == (
        "dns:oem.example",
        "label[-4]",
        ("imei",),
    )


def test_a_random_nonce_per_run_is_not_flagged(tmp_path: Path) -> None:
    runs = [
        _run(tmp_path, name, identity, headers={"X-Request-Id": secrets.token_hex(8), "X-Install-Id": secrets.token_hex(16)})
        for name, identity in (("a", ID_A), ("b", ID_B), ("a2", ID_A))
    ]  # fmt: skip
    assert compare(runs) == []


def test_a_clean_request_is_not_flagged(tmp_path: Path) -> None:
    runs = [
        _run(tmp_path, n, i, headers={"User-Agent": "okhttp/4.12.0"}) for n, i in (("a", ID_A), ("b", ID_B))
    ]
    assert compare(runs) == []


@pytest.mark.parametrize(
    "encode",
    [lambda v: v, lambda v: hashlib.sha256(v.encode()).hexdigest(), lambda v: v.encode().hex()],
    ids=["plain", "sha256", "hex"],
)
def test_identifiers_in_known_encodings_are_left_to_leak_detection(
    tmp_path: Path, encode: Callable[[str], str]
) -> None:
    a = _run(tmp_path, "a", ID_A, headers={"X-Id": encode(ID_A.imei[0])})
    b = _run(tmp_path, "b", ID_B, headers={"X-Id": encode(ID_B.imei[0])})
    a2 = _run(tmp_path, "a2", ID_A, headers={"X-Id": encode(ID_A.imei[0])})
    assert compare([a, b, a2]) == []


def _salted(identity: Identity) -> str:
    return hashlib.sha256(b"oem-salt" + identity.imei[0].encode()).hexdigest()


def test_a_salted_hash_is_flagged_when_an_identity_repeats(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", ID_A, headers={"X-Id": _salted(ID_A)})
    b = _run(tmp_path, "b", ID_B, headers={"X-Id": _salted(ID_B)})
    assert compare([a, b]) == []  # two identities alone cannot tell it from a per-run random id
    a2 = _run(tmp_path, "a2", ID_A, headers={"X-Id": _salted(ID_A)})
    (suspect,) = compare([a, b, a2])
    assert suspect.method == "deterministic"
    assert "imei" in suspect.identifiers
    assert len(suspect.excerpts) == 3


def _fields(label: str, identity: Identity, values: list[bytes]) -> RunFields:
    return RunFields(label, identity, [Sample("e:80/tcp", "header:x", v, i) for i, v in enumerate(values)])


def test_a_hash_whose_value_varies_within_a_run_is_not_flagged() -> None:
    a = _fields("a", ID_A, [_salted(ID_A).encode(), secrets.token_hex(32).encode()])
    b = _fields("b", ID_B, [_salted(ID_B).encode()])
    a2 = _fields("a2", ID_A, [_salted(ID_A).encode()])
    assert compare([a, b, a2]) == []


def test_an_xored_token_cannot_hide_beside_random_or_plain_values_under_its_name() -> None:
    a = _fields("a", ID_A, [secrets.token_bytes(15), xor(ID_A.imei[0]), ID_A.imei[0].encode()])
    b = _fields("b", ID_B, [xor(ID_B.imei[0]), secrets.token_bytes(15)])
    (suspect,) = compare([a, b])
    assert (suspect.method, suspect.identifiers) == ("xor", ("imei",))


def test_identifiers_differing_in_too_few_bytes_prove_nothing() -> None:
    assert xor_offset(b"x" * 15, b"x" * 14 + b"y", b"353320118782403", b"353320118782404") is None
    assert xor_offset(b"abcdefghijklmno", b"abcdefghijklmno", b"123456789012345", b"987654321098765") is None


def test_fields_of_a_request_are_its_path_query_headers_and_body() -> None:
    request = HttpRequest("POST", "/v1/d/abc?x=1&y=", "HTTP/1.1", [("Host", "h"), ("X-A", "b"),
                          ("Content-Type", "application/x-www-form-urlencoded")], b"k=v&k2=w", False, 0, 0, 1, 1)  # fmt: skip
    assert dict(request_fields(request)) == {
        "path[0]": b"v1", "path[1]": b"d", "path[2]": b"abc", "query:x": b"1", "query:y": b"",
        "header:x-a": b"b", "header:content-type": b"application/x-www-form-urlencoded",
        "form:k": b"v", "form:k2": b"w",
    }  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=600), st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""])
)
def test_hostile_bodies_never_crash_the_field_split(body: bytes, kind: str) -> None:
    request = HttpRequest(
        "POST", "/" + "a/" * 50, "HTTP/1.1", [("Content-Type", kind)], body, False, 0, 0, 1, 1
    )
    assert len(list(request_fields(request))) <= 512


def test_deeply_nested_json_is_bounded() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    request = HttpRequest(
        "POST", "/", "HTTP/1.1", [("Content-Type", "application/json")], body, False, 0, 0, 1, 1
    )
    assert list(request_fields(request))[-1] == ("body", body[: 16 * 1024])


def test_an_excerpt_escapes_what_is_not_printable() -> None:
    assert excerpt(b"ab\x00\\\xff") == "ab\\x00\\x5c\\xff"
    assert excerpt(b"x" * 200).endswith("...")
