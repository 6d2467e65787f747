"""Decoders: each layer recorded in the chain, every bound respected, hostile input never raises."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import time
import zlib

import brotli
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.policy.decode import Limits, decode
from phonehome.policy.protobuf import parse_message

DOC = json.dumps({"IMEI1": "352099001761481", "n": 1}).encode()


def chains(data: bytes, **kwargs: object) -> list[str]:
    return [v.chain for v in decode(data, "body", **kwargs).views]  # type: ignore[arg-type]


def test_json_fields_become_views_named_by_key() -> None:
    views = {v.chain: v for v in decode(DOC, "body").views}
    assert views["body>json:IMEI1"].data == b"352099001761481"
    assert views["body>json:IMEI1"].key == "IMEI1"
    assert views["body>json:n"].data == b"1"
    assert views["body"].parsed  # its fields are judged by name; no key=value guessing in its text


def test_mime_base64_with_crlf_and_lf_breaks() -> None:
    for sep in (b"\n", b"\r\n"):
        long_doc = json.dumps({"IMEI1": "352099001761481", "pad": "x" * 200}).encode()
        body = base64.encodebytes(long_doc).replace(b"\n", sep)
        assert body.count(sep) > 2
        assert "body>base64>json:IMEI1" in chains(body)


def test_every_compression_is_tried_whatever_the_header_says() -> None:
    assert "body>gzip>json:IMEI1" in chains(gzip.compress(DOC), content_type="application/json")
    assert "body>zlib>json:IMEI1" in chains(zlib.compress(DOC))
    assert "body>zstd>json:IMEI1" in chains(zstandard.ZstdCompressor().compress(DOC))
    assert "body>brotli>json:IMEI1" in chains(brotli.compress(DOC), content_encoding="br")
    assert "body>deflate>json:IMEI1" in chains(zlib.compress(DOC)[2:-4], content_encoding="deflate")


def test_multi_member_gzip_is_read_to_the_end() -> None:
    views = decode(gzip.compress(b"x" * 10) + gzip.compress(DOC), "body").views
    assert any(v.chain == "body>gzip" and v.data.endswith(DOC) for v in views)


def test_bombs_are_limit_events_with_the_ratio() -> None:
    limits = Limits(max_output=1 << 20)
    for blob in (
        gzip.compress(b"\0" * (32 << 20)),
        zstandard.ZstdCompressor().compress(b"\0" * (32 << 20)),
        brotli.compress(b"\0" * (32 << 20)),
    ):
        out = decode(blob, "body", limits=limits)
        assert out.limits
        assert out.limits[0].bomb
        assert max(len(v.data) for v in out.views) <= 2 << 20  # brotli's limit is approximate


def test_nesting_is_bounded() -> None:
    data = DOC
    for _ in range(12):
        data = base64.b64encode(data)
    out = decode(data, "body", limits=Limits(max_depth=5))
    assert any("nesting" in e.reason for e in out.limits)


def test_total_budget_is_bounded() -> None:
    data = json.dumps([base64.b64encode(bytes(64)).decode()] * 5000).encode()
    out = decode(data, "body", limits=Limits(max_views=500))
    assert len(out.views) <= 500
    assert any("budget" in e.reason for e in out.limits)


def test_schema_less_protobuf_strings_varints_and_nested_messages() -> None:
    inner = b"\x0a\x05hello\x10\x96\x01"
    message = b"\x08\x96\x01\x12" + bytes([len(inner)]) + inner + b"\x19" + (2**40).to_bytes(8, "little")
    fields = parse_message(message)
    assert fields is not None
    assert [f.number for f in fields] == [1, 2, 3]
    found = {v.chain: v.data for v in decode(message, "body").views}
    assert found["body>protobuf:2>protobuf:2.1"] == b"hello"
    assert str(2**40).encode() in found["body>protobuf:numbers"].split(b"\n")
    assert parse_message(b"\x0a\x10short") is None  # length past the end: not a message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_hostile_bytes_never_raise(data: bytes) -> None:
    decode(
        data,
        "body",
        content_encoding="br, deflate",
        content_type="multipart/form-data; boundary=x",
        limits=Limits(max_output=1 << 16, max_views=200),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=30,
    )
)
def test_any_json_in_any_wrapping_decodes_without_error(doc: object) -> None:
    raw = json.dumps(doc).encode()
    for wrapped in (raw, base64.b64encode(gzip.compress(raw)), raw.hex().encode()):
        decode(wrapped, "body", limits=Limits(max_views=500))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_protobuf_parser_never_raises(data: bytes) -> None:
    parse_message(data)


# -- compression at any depth, within one budget ---------------------------------------------------


def _deep(inner: bytes, levels: int) -> bytes:
    """``inner`` under ``levels`` layers of base64-in-JSON: each layer two decodings deeper."""
    data = inner
    for _ in range(levels):
        data = base64.b64encode(json.dumps({"d": base64.b64encode(data).decode()}).encode())
    return data


def test_magic_less_compression_is_tried_at_any_depth() -> None:
    for name, packed in (("deflate", zlib.compress(DOC)[2:-4]), ("brotli", brotli.compress(DOC))):
        out = decode(_deep(packed, 2), "body")
        found = [v.chain for v in out.views if v.data == DOC]
        assert found, name
        assert found[0].endswith(f">{name}"), name


def test_gzip_inside_gzip_inside_gzip_is_read_to_the_bottom() -> None:
    data = DOC
    for _ in range(3):
        data = gzip.compress(data)
    assert "body>gzip>gzip>gzip>json:IMEI1" in chains(data)


def test_spending_the_decompression_budget_is_a_limit_event() -> None:
    blobs = " ".join(
        base64.b64encode(zlib.compress(bytes(range(i, i + 40)))[2:-4]).decode() for i in range(6)
    )
    out = decode(blobs.encode(), "body", limits=Limits(max_decompress_attempts=3))
    assert any("decompression budget spent" in e.reason for e in out.limits)


def test_nested_bombs_stay_bounded_in_time_and_memory() -> None:
    limits = Limits(max_output=1 << 20, max_total=4 << 20)
    nested = gzip.compress(gzip.compress(gzip.compress(b"\0" * (64 << 20))))
    many = " ".join(base64.b64encode(gzip.compress(b"\0" * (8 << 20))).decode() for _ in range(20)).encode()
    for data in (nested, many):
        started = time.process_time()
        out = decode(data, "body", limits=limits)
        assert time.process_time() - started < 2
        assert sum(len(v.data) for v in out.views) <= limits.max_total + len(data)
        assert out.limits


def test_a_gzip_stream_behind_a_length_prefix_is_found() -> None:
    framed = len(gzip.compress(DOC)).to_bytes(4, "big") + gzip.compress(DOC)
    assert any(v.data == DOC for v in decode(framed, "body").views)


# -- JSON sequences ----------------------------------------------------------------------------------


def test_json_sequences_decode_every_document() -> None:
    second = {"IMEI1": "352099001761481"}
    for data in (
        b'{"n": 1}\n' + json.dumps(second).encode() + b"\n",  # JSON Lines / NDJSON
        b'{"n": 1}' + json.dumps(second).encode(),  # concatenated documents
        b'\x1e{"n": 1}\n\x1e' + json.dumps(second).encode() + b"\n",  # RFC 7464
        b"[1]\r\n[2]\r\n" + json.dumps(second).encode(),
    ):
        views = {v.chain: v.data for v in decode(data, "body").views}
        assert views.get("body>json:IMEI1") == b"352099001761481", data
        assert views.get("body>json:n", b"1") == b"1"


def test_text_after_a_json_document_is_decoded_as_well() -> None:
    data = b'{"n": 1} trailer ' + base64.b64encode(DOC)
    assert any(v.data == DOC for v in decode(data, "body").views)


# -- base32 -------------------------------------------------------------------------------------------


def test_base32_whole_values_in_both_cases_padded_or_not() -> None:
    for encoded in (
        base64.b32encode(DOC),
        base64.b32encode(DOC).lower(),
        base64.b32encode(DOC).rstrip(b"="),
        base64.b32hexencode(DOC),
    ):
        assert any(v.data == DOC for v in decode(encoded, "body").views), encoded


def test_base32_runs_inside_text() -> None:
    for encoded in (base64.b32encode(DOC), base64.b32encode(DOC).lower().rstrip(b"=")):
        text = b"id: " + encoded + b"; ok"
        assert any(v.data == DOC for v in decode(text, "body").views), encoded


# -- tokens in binary data ----------------------------------------------------------------------------


def test_base64_after_a_binary_prefix_is_decoded() -> None:
    for prefix, packed in itertools.product(
        (bytes(range(256)) * 2 + b"\x00" * 88, b"\x00\x93Qk", b"\x01\x02Q"),
        (base64.b64encode(gzip.compress(DOC + b" " * pad)) for pad in range(3)),
    ):
        data = prefix + packed + b"\x00\x01"
        assert any(v.data.rstrip() == DOC for v in decode(data, "body").views), (prefix[-4:], packed)


def test_hex_and_base32_after_a_binary_prefix_are_decoded() -> None:
    for encoded in (gzip.compress(DOC).hex().encode(), base64.b32encode(gzip.compress(DOC))):
        data = b"\x00\x01\x02\x03" * 150 + encoded
        assert any(v.data == DOC for v in decode(data, "body").views), encoded[:10]


def test_json_after_a_binary_length_prefix_is_parsed() -> None:
    doc = json.dumps({"CELLID": "19", "x": "y" * 20}).encode()
    for framed in (len(doc).to_bytes(4, "big") + doc, b"\x00\x07\x01\x00" + doc):
        views = {v.chain: v.data for v in decode(framed, "body").views}
        assert [data for chain, data in views.items() if chain.endswith(">json:CELLID")] == [b"19"], framed
