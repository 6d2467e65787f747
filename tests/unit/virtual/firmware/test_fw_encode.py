"""Bodies as bytes: Android's Base64.DEFAULT line discipline, compact JSON, forms, SNTP, encoding chains."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.firmware import encode
from phonehome.virtual.firmware.model import Body


def test_android_base64_wraps_every_76_characters_and_ends_with_a_line_feed() -> None:
    data = bytes(range(256)) * 2
    text = encode.android_base64(data).decode()
    lines = text.split("\n")
    assert lines[-1] == "", "Base64.DEFAULT ends the last line with \\n too"
    assert all(len(line) == 76 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 76
    assert "\r" not in text
    assert base64.b64decode(text) == data


def test_android_base64_of_exactly_one_line_has_one_line_feed() -> None:
    assert encode.android_base64(b"x" * 57) == base64.b64encode(b"x" * 57) + b"\n"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_android_base64_always_decodes_back_and_never_exceeds_76_columns(data: bytes) -> None:
    text = encode.android_base64(data)
    assert base64.b64decode(text) == data
    assert all(len(line) <= 76 for line in text.split(b"\n"))


def test_json_body_is_compact_with_templated_values_and_literal_keys() -> None:
    body = Body.model_validate({"json": {"IMEI1": "{imei1}", "N": 1, "L": ["{model}", None]}})
    data = encode.build(body, {"imei1": "353867090012346", "model": "X"})
    assert data == b'{"IMEI1":"353867090012346","N":1,"L":["X",null]}'
    assert encode.content_type(body) == "application/json; charset=utf-8"


def test_encodings_chain_in_the_declared_order() -> None:
    body = Body.model_validate({"json": {"a": "{imei1}"}, "encode": ["gzip", "base64"]})
    data = encode.build(body, {"imei1": "1"})
    assert json.loads(gzip.decompress(base64.b64decode(data))) == {"a": "1"}
    assert encode.content_type(body) is None, "an encoded body declares no content type of its own"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("base64-nowrap", b"YT0x"), ("base64-url", b"YT0x"), ("hex", b"613d31"), ("url", b"a%3D1")],
)
def test_each_encoding(encoding: str, expected: bytes) -> None:
    body = Body.model_validate({"text": "a=1", "encode": [encoding]})
    assert encode.build(body, {}) == expected


def test_form_fields_keep_their_order_and_are_url_encoded() -> None:
    body = Body.model_validate({"form": {"model": "{model}", "imei": "{imei1}"}})
    data = encode.build(body, {"model": "Nokia 7 plus", "imei1": "35"})
    assert data == b"model=Nokia+7+plus&imei=35"
    assert parse_qsl(data.decode()) == [("model", "Nokia 7 plus"), ("imei", "35")]


def test_sntp_request_is_a_version_3_client_packet_stamped_now() -> None:
    packet = encode.sntp_request(1_550_000_000.5)
    assert len(packet) == 48
    assert packet[0] == 0x1B  # LI 0, VN 3, mode 3
    seconds, fraction = struct.unpack("!II", packet[40:48])
    assert seconds == 1_550_000_000 + encode.NTP_EPOCH_OFFSET
    assert fraction == 1 << 31


def test_hex_body_is_sent_verbatim() -> None:
    assert encode.build(Body.model_validate({"hex": "00ff10"}), {}) == b"\x00\xff\x10"


@pytest.mark.parametrize("spec", [{}, {"text": "a", "hex": "00"}, {"sntp": False}])
def test_a_body_is_exactly_one_kind(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        Body.model_validate(spec)
