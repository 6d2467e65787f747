"""Recall over every identifier kind in every wrapping, and the canonical value of each in clean traffic.

One cell per (identifier, wrapping): the value as a firmware would hold it, wrapped the way published
leaks wrap it, posted over cleartext HTTP, must be reported under its identity key.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Callable
from urllib.parse import quote

import brotli
import pytest
import zstandard

from tests.unit.policy.builders import leaks, post

VALUES = {
    "imei": "352099001761481",
    "imsi": "460031234567890",
    "iccid": "89860312345678901234",
    "msisdn": "+4791234567",
    "serial": "PNX7B1234567",
    "wifi_mac": "aa:bb:cc:dd:ee:0f",
    "bt_mac": "AC:37:43:01:02:03",
    "android_id": "3f2a9c1b7d4e5a60",
    "advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "gsf_id": "3c8b5e9a1f20d477",
    "ssid": "phonehome-bench-7",
    "bssid": "02:1a:11:f0:00:07",
}


def _protobuf(text: bytes) -> bytes:
    return b"\x08\x01\x12" + bytes([len(text)]) + text


def _escaped(value: str) -> bytes:
    return "".join(f"\\u{ord(c):04x}" for c in value).encode()


def _gzip_times(data: bytes, times: int) -> bytes:
    for _ in range(times):
        data = gzip.compress(data)
    return data


def _deep(inner: bytes) -> bytes:
    """Two layers of base64-in-JSON around ``inner``: it sits five decodings deep."""
    for _ in range(2):
        inner = base64.b64encode(json.dumps({"d": base64.b64encode(inner).decode()}).encode())
    return inner


_HEX_NOISE = " ".join(hashlib.sha1(str(i).encode()).hexdigest() for i in range(300))
_BINARY_HEAD = bytes(range(256)) * 2 + bytes(87) + b"Q"  # 600 bytes; the last one a base64 letter


WRAPPINGS: dict[str, Callable[[str], bytes]] = {
    "text": lambda v: f"device {v} ok".encode(),
    "json": lambda v: json.dumps({"d": {"v": v}}).encode(),
    "form": lambda v: f"a=1&v={quote(v, safe='')}".encode(),
    "base64": lambda v: base64.b64encode(json.dumps({"v": v}).encode()),
    "base64url-unpadded": lambda v: base64.urlsafe_b64encode(b"\xfb" + v.encode()).rstrip(b"="),
    "gzip": lambda v: gzip.compress(json.dumps({"v": v}).encode()),
    "gzip-base64": lambda v: base64.b64encode(gzip.compress(v.encode())),
    "brotli": lambda v: brotli.compress(f"x={v}".encode()),
    "zstd": lambda v: zstandard.ZstdCompressor().compress(v.encode()),
    "hex": lambda v: f"<{v}>".encode().hex().encode(),
    "url-encoded-all": lambda v: "".join(f"%{b:02X}" for b in v.encode()).encode(),
    "md5-hex-upper": lambda v: hashlib.md5(v.encode()).hexdigest().upper().encode(),
    "sha1-hex": lambda v: hashlib.sha1(v.encode()).hexdigest().encode(),
    "sha256-base64": lambda v: base64.b64encode(hashlib.sha256(v.encode()).digest()),
    "protobuf": lambda v: _protobuf(v.encode()),
    "base32": lambda v: base64.b32encode(json.dumps({"v": v}).encode()),
    "base32-lower-unpadded-gzip": lambda v: base64.b32encode(gzip.compress(v.encode())).lower().rstrip(b"="),
    "base32hex-in-text": lambda v: b"id " + base64.b32hexencode(f"<{v}>".encode()) + b" end",
    "ndjson": lambda v: b'{"n": 1}\n' + json.dumps({"d": v}).encode() + b"\n",
    "json-seq-escaped": lambda v: b'\x1e{"n": 1}\n\x1e{"d": "' + _escaped(v) + b'"}\n',
    "gzip-3x": lambda v: _gzip_times(json.dumps({"v": v}).encode(), 3),
    "raw-deflate-deep": lambda v: _deep(zlib.compress(json.dumps({"v": v}).encode())[2:-4]),
    "binary-head-base64": lambda v: _BINARY_HEAD + base64.b64encode(gzip.compress(v.encode())),
    "after-300-hex-runs": lambda v: f"{_HEX_NOISE} {gzip.compress(v.encode()).hex()}".encode(),
    "multipart": lambda v: (
        b'--q\r\nContent-Disposition: form-data; name="x"\r\n\r\n' + v.encode() + b"\r\n--q--\r\n"
    ),
}


@pytest.mark.parametrize("wrapping", sorted(WRAPPINGS))
@pytest.mark.parametrize("key", sorted(VALUES))
def test_every_identifier_in_every_wrapping(detector_factory, key: str, wrapping: str) -> None:
    body = WRAPPINGS[wrapping](VALUES[key])
    headers = [("Content-Type", "multipart/form-data; boundary=q")] if wrapping == "multipart" else []
    found = leaks(post(detector_factory(), body, headers))
    assert key in found, (key, wrapping, body[:80])


def _near_miss(value: str) -> str:
    """The same value with one character changed in the middle: another device's identifier."""
    i = len(value) // 2
    while not value[i].isalnum():
        i += 1
    swap = {"9": "8"}.get(value[i], "9" if value[i].isdigit() else ("b" if value[i] != "b" else "c"))
    return value[:i] + swap + value[i + 1 :]


@pytest.mark.parametrize("wrapping", sorted(WRAPPINGS))
@pytest.mark.parametrize("key", sorted(VALUES))
def test_a_near_miss_in_any_wrapping_is_not_a_leak(detector_factory, key: str, wrapping: str) -> None:
    body = WRAPPINGS[wrapping](_near_miss(VALUES[key]))
    headers = [("Content-Type", "multipart/form-data; boundary=q")] if wrapping == "multipart" else []
    detector = post(detector_factory(), body, headers)
    assert not leaks(detector), (key, wrapping, [f.to_json() for f in detector.findings])
