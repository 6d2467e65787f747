"""Whatever stops a decoder early is a LimitEvent (chain, origin, a reason a lab can read): no silent cut.

Each test builds a payload that reaches one bound and checks that the bound
is recorded; where the bound is no longer needed (a binary head, a corrupt
checksum, bytes after a stream), that what it hid is now decoded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import zlib

import zstandard

from phonehome.policy.decode import Limits, decode, is_text
from phonehome.policy.protobuf import MAX_FIELDS

IMEI = b"352099001761481"
DOC = json.dumps({"IMEI1": IMEI.decode()}).encode()


def reasons(data: bytes, **kwargs: object) -> list[str]:
    return [e.reason for e in decode(data, "body", **kwargs).limits]  # type: ignore[arg-type]


def decoded(data: bytes, **kwargs: object) -> dict[str, bytes]:
    return {v.chain: v.data for v in decode(data, "body", **kwargs).views}  # type: ignore[arg-type]


def test_hex_runs_past_the_token_budget_are_a_limit_event() -> None:
    noise = " ".join(hashlib.sha1(bytes([i, j])).hexdigest() for i in range(2) for j in range(150))
    out = decode(f"log {noise} end {DOC.hex()}".encode(), "body", limits=Limits(max_tokens=256))
    assert not any(v.data == DOC for v in out.views)
    [event] = out.limits
    assert event.chain == "body"
    assert "more than 256 encoded runs" in event.reason


def test_three_hundred_hex_runs_before_the_one_that_matters_are_all_decoded_by_default() -> None:
    noise = " ".join(hashlib.sha1(str(i).encode()).hexdigest() for i in range(300))
    out = decode(f"log {noise} end {DOC.hex()}".encode(), "body")
    assert any(v.data == DOC for v in out.views)
    assert not out.limits


def test_json_walk_budget_is_a_limit_event() -> None:
    data = json.dumps([None] * 600 + [IMEI.decode()]).encode()
    out = decode(data, "body", limits=Limits(max_views=500))
    assert any("JSON with more than 500 values" in e.reason for e in out.limits)


def test_json_deeper_than_the_parser_is_a_limit_event() -> None:
    assert any("JSON nested" in r for r in reasons(b"[" * 100_000 + b"1" + b"]" * 100_000))


def test_max_views_and_max_total_are_limit_events() -> None:
    data = json.dumps({f"k{i}": "v" for i in range(400)}).encode()
    assert any("budget exhausted" in r for r in reasons(data, limits=Limits(max_views=100)))
    assert any("budget exhausted" in r for r in reasons(data, limits=Limits(max_total=2000)))


def test_depth_is_a_limit_event_with_the_chain_that_stopped() -> None:
    data = DOC
    for _ in range(4):
        data = base64.b64encode(data)
    out = decode(data, "body", limits=Limits(max_depth=2))
    [event] = [e for e in out.limits if "nesting" in e.reason]
    assert event.chain == "body>base64>base64>base64"


def test_protobuf_with_more_fields_than_the_parser_reads_is_a_limit_event() -> None:
    message = b"\x08\x01" * MAX_FIELDS + b"\x12\x0f" + IMEI
    out = decode(message, "body")
    assert any(f"more than {MAX_FIELDS} fields" in e.reason for e in out.limits)


def test_a_binary_head_does_not_make_a_text_tail_binary() -> None:
    assert not is_text(os.urandom(600) + b"a" * 100)
    tail = b"x=" + base64.b64encode(gzip.compress(DOC, mtime=0)) + b"&y=1"
    views = decoded(bytes(range(256)) * 2 + b"\x00\x01" + tail)
    assert DOC in views.values()


def test_utf8_text_is_text() -> None:
    chinese = json.dumps({"型号": "诺基亚 7 Plus", "IMEI1": IMEI.decode()}, ensure_ascii=False).encode()
    assert is_text(chinese)
    assert decoded(chinese)["body>json:IMEI1"] == IMEI


def test_gzip_with_a_wrong_checksum_still_yields_its_content() -> None:
    blob = bytearray(gzip.compress(DOC))
    blob[-8] ^= 0xFF  # CRC32 (RFC 1952 2.3.1)
    assert decoded(bytes(blob))["body>gzip>json:IMEI1"] == IMEI


def test_bytes_after_a_compressed_stream_are_decoded_too() -> None:
    hidden = base64.b64encode(DOC)
    for stream in (gzip.compress(b"{}"), zlib.compress(b"{}"), zstandard.ZstdCompressor().compress(b"{}")):
        views = decoded(stream + hidden)
        assert DOC in views.values(), stream[:4]


def test_zstd_frames_one_after_another_are_all_read() -> None:
    compressor = zstandard.ZstdCompressor()
    views = decoded(compressor.compress(b"first frame ") + compressor.compress(DOC))
    assert any(v.endswith(DOC) for v in views.values())


def test_every_limit_event_names_its_chain_and_origin() -> None:
    noise = " ".join(hashlib.md5(str(i).encode()).hexdigest() for i in range(20))
    out = decode(f"{noise}".encode(), "http-body", origin=1000, limits=Limits(max_tokens=5))
    [event] = out.limits
    assert (event.chain, event.origin) == ("http-body", 1000)


def test_a_packed_field_longer_than_what_is_rendered_is_a_limit_event() -> None:
    from phonehome.policy.protobuf import MAX_PACKED

    packed = b"\x96\x01" * (MAX_PACKED + 10)
    length = len(packed)
    varint = bytes([length & 0x7F | 0x80, length >> 7 & 0x7F | 0x80, length >> 14])
    out = decode(b"\x0a" + varint + packed, "body")
    assert any(f"more than {MAX_PACKED} numbers" in e.reason for e in out.limits)


def test_base64_with_plus_signs_in_a_form_value_that_was_not_percent_encoded_is_decoded() -> None:
    # A form value reads "+" as a space; a client that sent base64 without percent-encoding it still
    # sent the hidden bytes. Whether a gzip stream's base64 holds a "+" depends on its mtime: this one
    # does (the test above met it on one run in sixteen).
    blob = base64.b64encode(gzip.compress(DOC, mtime=1796578623))
    assert b"+" in blob
    views = decoded(b"x=" + blob + b"&y=1")
    assert views["body>form-plus:x>base64>gzip>json:IMEI1"] == IMEI
