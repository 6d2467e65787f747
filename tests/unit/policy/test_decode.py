"""Decoders: each layer recorded in the chain, every bound respected, hostile input never raises."""

from __future__ import annotations

import base64
import gzip
import json
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
