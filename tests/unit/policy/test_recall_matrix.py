"""Recall over every identifier kind in every wrapping, and the canonical value of each in clean traffic.

One cell per (identifier, wrapping): the value as a firmware would hold it, wrapped the way published
leaks wrap it, posted over cleartext HTTP, must be reported under its identity key.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import math
import struct
import zlib
from collections.abc import Callable
from urllib.parse import quote

import brotli
import pytest
import zstandard

from phonehome.policy.identity import Identity
from phonehome.policy.leaks import LeakDetector
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
    "js-unicode-escapes": lambda v: b"{id:'" + _escaped(v) + b"'}",
    "html-entities": lambda v: b"<p>" + "".join(f"&#{ord(c)};" for c in v).encode() + b"</p>",
    "quoted-printable": lambda v: b"x " + "".join(f"={b:02X}" for b in v.encode()).encode() + b" y",
    "utf16le": lambda v: f"device {v} ok".encode("utf-16-le"),
    "utf16-bom-json": lambda v: json.dumps({"v": v}).encode("utf-16"),
    "hexdump-colons": lambda v: b"d=" + v.encode().hex(":").encode(),
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


# -- location: a fix rounded to 4 places (~11 m) is still a location, in every rendering -------------

PLACES = {
    "oslo": (59.913868, 10.752245),
    "sydney": (-33.856785, 151.215297),
    "london": (51.507351, -0.127758),
    "santiago": (-33.448890, -70.669265),
    "boundary": (59.99996, 10.00004),  # rounds to 60.0000 and 10.0000 at 4 places
}


@functools.cache
def _location_detector(place: str) -> LeakDetector:
    lat, lon = PLACES[place]
    return LeakDetector(Identity.model_validate({"location": {"lat": lat, "lon": lon}}))


def _detector_for(place: str) -> LeakDetector:
    base = _location_detector(place)
    fresh = LeakDetector.__new__(LeakDetector)
    for name in ("identity", "expansion", "matcher", "judge", "sends", "limits", "phase_at"):
        setattr(fresh, name, getattr(base, name))
    fresh.findings, fresh._flows, fresh.bytes_scanned = [], {}, 0
    return fresh


def _round(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def _cut(value: float, places: int) -> str:
    scaled = math.trunc(value * 10**places) / 10**places
    return f"{scaled:.{places}f}"


def _pb_key(number: int, wire_type: int) -> bytes:
    return bytes([number << 3 | wire_type])


def _pb_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _renderings(lat: float, lon: float) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for places in range(2, 8):
        for how, text in (("rounded", _round), ("cut", _cut)):
            out[f"decimal-{places}-{how}"] = f"pos={text(lat, places)},{text(lon, places)}&x=1".encode()
            out[f"decimal-{places}-{how}-lon-lat"] = f"[{text(lon, places)}, {text(lat, places)}]".encode()
        out[f"decimal-{places}-comma"] = f"{_round(lat, places)};{_round(lon, places)}".replace(
            ".", ","
        ).encode()
    out["json-numbers-4"] = json.dumps({"lat": round(lat, 4), "lon": round(lon, 4)}).encode()
    out["json-numbers-far-apart"] = json.dumps(
        {
            "latitude": round(lat, 4),
            "accuracy": 12.5,
            "provider": "fused",
            "time": 1700000000000,
            "speed": 0.0,
            "longitude": round(lon, 4),
        }
    ).encode()
    out["json-float32-widened"] = json.dumps(
        {"lat": float(np_float32(lat)), "lng": float(np_float32(lon))}
    ).encode()
    out["geojson"] = json.dumps({"type": "Point", "coordinates": [round(lon, 4), round(lat, 4)]}).encode()
    for scale in (5, 6, 7):
        lat_i, lon_i = round(lat * 10**scale), round(lon * 10**scale)
        out[f"e{scale}-query"] = f"lat={lat_i}&lon={lon_i}".encode()
        out[f"e{scale}-pair"] = f"{lat_i},{lon_i}".encode()
        out[f"e{scale}-json-named"] = json.dumps(
            {f"latitudeE{scale}": lat_i, f"longitudeE{scale}": lon_i}
        ).encode()
    e7 = round(lat * 1e7), round(lon * 1e7)
    out["protobuf-double"] = _pb_key(1, 1) + struct.pack("<d", lat) + _pb_key(2, 1) + struct.pack("<d", lon)
    out["protobuf-double-rounded"] = (
        _pb_key(1, 1) + struct.pack("<d", round(lat, 4)) + _pb_key(2, 1) + struct.pack("<d", round(lon, 4))
    )
    out["protobuf-float"] = _pb_key(1, 5) + struct.pack("<f", lat) + _pb_key(2, 5) + struct.pack("<f", lon)
    out["protobuf-float-rounded"] = (
        _pb_key(1, 5) + struct.pack("<f", round(lat, 4)) + _pb_key(2, 5) + struct.pack("<f", round(lon, 4))
    )
    out["protobuf-sfixed32-e7"] = (
        _pb_key(1, 5) + struct.pack("<i", e7[0]) + _pb_key(2, 5) + struct.pack("<i", e7[1])
    )
    out["protobuf-int32-e7"] = _pb_key(1, 0) + _pb_varint(e7[0]) + _pb_key(2, 0) + _pb_varint(e7[1])
    out["protobuf-sint32-e7"] = (
        _pb_key(1, 0) + _pb_varint(_zigzag(e7[0])) + _pb_key(2, 0) + _pb_varint(_zigzag(e7[1]))
    )
    packed = struct.pack("<dd", round(lat, 4), round(lon, 4))
    out["protobuf-packed-doubles"] = _pb_key(3, 2) + bytes([len(packed)]) + packed
    out["protobuf-fields-between"] = (
        _pb_key(1, 1)
        + struct.pack("<d", lat)
        + _pb_key(2, 1)
        + struct.pack("<d", 12.5)
        + _pb_key(3, 0)
        + _pb_varint(1700000000)
        + _pb_key(4, 1)
        + struct.pack("<d", lon)
    )
    # C structs sent as they are (a modem's binary report, u-blox UBX NAV-PVT's I4 1e-7 degrees)
    head = b"\x02\x01\x00\x2a"
    out["struct-double-le"] = head + struct.pack("<dd", lat, lon)
    out["struct-double-be-rounded"] = head + struct.pack(">dd", round(lat, 4), round(lon, 4))
    out["struct-float-le"] = head + struct.pack("<ff", lat, lon)
    out["struct-e7-le-with-altitude-between"] = head + struct.pack("<iii", e7[1], 123456, e7[0])
    out["struct-e7-be"] = head + struct.pack(">ii", e7[0], e7[1])
    return out


def np_float32(value: float) -> float:
    """``value`` as a float32 would hold it (Java's ``(double) location.getLatitude()`` of a float)."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@pytest.mark.parametrize("rendering", sorted(_renderings(*PLACES["oslo"])))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_location_in_every_rendering(place: str, rendering: str) -> None:
    body = _renderings(*PLACES[place])[rendering]
    detector = post(_detector_for(place), body)
    assert "location" in leaks(detector), (place, rendering, body[:120])


@pytest.mark.parametrize("place", sorted(PLACES))
def test_another_place_in_every_rendering_is_not_a_location(place: str) -> None:
    lat, lon = PLACES[place]
    for rendering, body in _renderings(lat + 0.05, lon - 0.05).items():
        detector = post(_detector_for(place), body)
        assert not leaks(detector), (place, rendering, body[:120])
