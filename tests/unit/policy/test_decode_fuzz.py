"""decode() and the matcher on hostile input: never raise, bounded in time and output, and what any
stack of encodings wraps is found; stream mode agrees with block mode on any segmentation."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import struct
import time
import zlib
from collections.abc import Callable

import brotli
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.policy.decode import Limits, decode
from phonehome.policy.forms import expand
from phonehome.policy.identity import Identity
from phonehome.policy.matcher import Matcher

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
MARKER = b'{"IMEI1": "352099001761481"}'

WRAPPERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "zlib": zlib.compress,
    "deflate": lambda d: zlib.compress(d)[2:-4],
    "brotli": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "base64": base64.b64encode,
    "base64url": lambda d: base64.urlsafe_b64encode(d).rstrip(b"="),
    "base64-mime": base64.encodebytes,
    "base32": base64.b32encode,
    "base32-lower": lambda d: base64.b32encode(d).lower().rstrip(b"="),
    "hex": lambda d: d.hex().encode(),
    "json": lambda d: json.dumps({"d": d.decode("latin-1")}).encode(),
    "ndjson": lambda d: b'{"n": 1}\n' + json.dumps({"d": d.decode("latin-1")}).encode() + b"\n",
    "form": lambda d: b"a=1&d=" + d.hex().encode(),
    "protobuf": lambda d: b"\x08\x01\x12" + _varint(len(d)) + d,
    "binary-head": lambda d: b"\x00\x01\x02\x93" * 8 + base64.b64encode(d),
    "length-prefix": lambda d: len(d).to_bytes(4, "big") + d,
    "grpc-frame": lambda d: b"\x00" + len(d).to_bytes(4, "big") + d,
    "percent": lambda d: "".join(f"%{b:02X}" for b in d).encode(),
    "base32hex": base64.b32hexencode,
    "log-line": lambda d: b"I/Reg( 812): payload=" + base64.b64encode(d) + b" len=" + str(len(d)).encode(),
    "utf16le": lambda d: (
        (d if d.isascii() and 0 not in d else base64.b64encode(d)).decode().encode("utf-16-le")
    ),
    "quoted-printable": lambda d: b"".join(b"=%02X" % b for b in d),
    "hexdump": lambda d: d.hex(" ").encode(),
}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


@st.composite
def wrapped(draw: st.DrawFn) -> tuple[list[str], bytes]:
    names = draw(st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=3))
    data = draw(st.binary(max_size=40)) + MARKER + draw(st.binary(max_size=40))
    for name in names:
        data = WRAPPERS[name](data)
    return names, data


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(wrapped())[1])
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


def check_bounded(data: bytes, limits: Limits) -> None:
    started = time.process_time()
    out = decode(data, "body", content_encoding="gzip, br, deflate", limits=limits)
    assert time.process_time() - started < 2
    assert len(out.views) <= limits.max_views
    assert sum(len(v.data) for v in out.views) <= limits.max_total
    for event in out.limits:
        assert event.chain.startswith("body")
        assert event.reason


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_decode_bounded(data: bytes) -> None:
    check_bounded(data, Limits())


@FUZZ
@given(mutated())
def test_mutated_encodings_decode_bounded(data: bytes) -> None:
    check_bounded(data, Limits())
    check_bounded(data, Limits(max_output=1 << 12, max_total=1 << 15, max_views=50, max_tokens=4))


@FUZZ
@given(wrapped())
def test_any_stack_of_encodings_is_seen_through(case: tuple[list[str], bytes]) -> None:
    names, data = case
    out = decode(data, "body")
    assert any(MARKER in v.data for v in out.views) or out.limits, names


IDENTITY = Identity.model_validate(
    {
        "imei": "352099001761481",
        "wifi_mac": "aa:bb:cc:dd:ee:0f",
        "serial": "PNX7B1234567",
        "location": {"lat": -33.856785, "lon": 151.215297},
    }
)
MATCHER = Matcher(expand(IDENTITY))
PIECES = [
    b"352099001761481",
    b"AA-BB-CC-DD-EE-0F",
    b"aabbccddee0f",
    b"pnx7b1234567",
    b"-33.8568,151.2153",
    b'"lat": -33.85679, "lng": 151.2153',
    b"lat=-338567850",
    b"-33,8568;151,2153",
    struct.pack("<d", -33.856785),
    struct.pack("<d", 151.215297),
    struct.pack(">i", -338567850),
    struct.pack(">i", 1512152970),
    b"3520990017614819",
    b"x",
    b" ",
    b"0",
    b"-",
    b".",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES) | st.binary(max_size=12), max_size=24).map(b"".join),
    st.lists(st.integers(min_value=1, max_value=400), max_size=16),
)
def test_stream_mode_agrees_with_block_mode_on_any_split(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    scanner = MATCHER.stream()
    hits = []
    for lo, hi in itertools.pairwise(bounds):
        hits += scanner.feed(data[lo:hi], lo)
    hits += scanner.close()
    block = MATCHER.scan(data)
    assert sorted((h.identifier, h.form, h.start, h.end) for h in hits) == sorted(
        (h.identifier, h.form, h.start, h.end) for h in block
    )
