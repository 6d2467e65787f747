"""The matcher: stream mode finds what block mode finds, across any segmentation and gaps."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.policy.forms import expand
from phonehome.policy.identity import Identity
from phonehome.policy.matcher import Matcher

IDENTITY = Identity.model_validate(
    {
        "imei": "352099001761481",
        "wifi_mac": "aa:bb:cc:dd:ee:0f",
        "location": {"lat": -33.856785, "lon": 151.215297},
    }
)
MATCHER = Matcher(expand(IDENTITY))
TEXT = b"POST /x HTTP/1.1\r\n\r\nimei=352099001761481&mac=AA-BB-CC-DD-EE-0F&pos=-33.8568,151.2153&z=1"


def found(hits: list) -> set[tuple[str, str, int, int]]:  # type: ignore[type-arg]
    return {(h.identifier, h.form, h.start, h.end) for h in hits}


def test_block_scan_reports_forms_with_offsets() -> None:
    hits = found(MATCHER.scan(TEXT))
    start = TEXT.index(b"3520")
    assert ("imei", "imei", start, start + 15) in hits
    assert any(h[0] == "wifi_mac" for h in hits)
    assert any(h[0] == "location" for h in hits)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(TEXT) - 1), max_size=12, unique=True))
def test_stream_scan_equals_block_scan_for_any_segmentation(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(TEXT)]
    scanner = MATCHER.stream()
    hits = []
    for lo, hi in itertools.pairwise(bounds):
        hits += scanner.feed(TEXT[lo:hi], lo)
    hits += scanner.close()
    assert found(hits) == found(MATCHER.scan(TEXT))


def test_a_gap_splits_the_stream_so_no_value_is_stitched_across_it() -> None:
    scanner = MATCHER.stream()
    hits = scanner.feed(b"x3520990017", 0) + scanner.feed(b"61481 ", 100) + scanner.close()
    assert not hits


def test_negative_coordinate_needs_its_sign() -> None:
    assert not found(MATCHER.scan(b"33.8568,151.2153"))
    assert found(MATCHER.scan(b"-33.8568,151.2153"))


def test_identity_without_identifiers_matches_nothing() -> None:
    matcher = Matcher(expand(Identity()))
    assert matcher.scan(TEXT) == []
    assert matcher.stream().feed(TEXT) == []


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=500))
def test_the_detector_takes_any_bytes_in_any_segmentation(data: bytes, segment: int) -> None:
    from phonehome.policy.leaks import LeakDetector
    from tests.unit.policy.builders import make_flow, run

    detector = LeakDetector(IDENTITY)
    run(detector, make_flow(app=None, transport="unknown", dport=9), data, segment=segment)
    run(detector, make_flow(proto="udp", app=None, transport="unknown", dport=9), data, segment=segment)


def _location_matcher(lat: float, lon: float) -> Matcher:
    return Matcher(expand(Identity.model_validate({"location": {"lat": lat, "lon": lon}})))


def test_a_fix_rounded_across_a_degree_boundary_is_still_the_location() -> None:
    matcher = _location_matcher(59.99996, 10.00004)
    for text in (
        b"60.0000,10.0000",
        b"60.00;10.00",
        b"[10.0, 60.0]",
        b"600000000,100000000",
        b"60,0000 10,0000",
    ):
        assert [h.identifier for h in matcher.scan(text)] == ["location"], text
    assert not matcher.scan(b"59.9,10.1")  # one place, and not what rounding 59.99996 gives


def test_coordinates_under_one_degree_in_e6_and_e7() -> None:
    matcher = _location_matcher(51.507351, -0.127758)
    for text in (b"51507351,-127758", b"515073510,-1277580", b"5150735,-12776"):
        assert matcher.scan(text), text


def test_a_version_or_a_grouped_number_is_not_a_coordinate() -> None:
    matcher = _location_matcher(59.913868, 10.752245)
    assert not matcher.scan(b"v1.59.9139 1.10.7522")
    assert not matcher.scan(b"1,259,913 2,010,752")


def test_float32_widened_to_double_is_the_location() -> None:
    matcher = _location_matcher(-33.856785, 151.215297)
    assert matcher.scan(b'{"lat": -33.85678482055664, "lng": 151.21530151367188}')


def test_coordinate_field_names_with_scale_suffixes_pair_and_key() -> None:
    matcher = _location_matcher(59.913868, 10.752245)
    assert matcher.scan(b'"latitudeE7": 599138680, "longitudeE7": 107522450')
    assert [h.form for h in matcher.scan(b'"latitudeE7": 599138680, "n": 1')] == ["lat-field"]


def test_identity_values_hyperscan_cannot_compile_are_still_matched() -> None:
    serial = "S\x00\xff序" + "".join(chr(0x21 + i % 90) for i in range(1 << 20))  # 1 MiB, NUL and high bytes
    ssid = "ssid-\x00\xfe-" + "x" * 5000
    identity = Identity.model_validate({"serial": serial, "ssid": ssid, "imei": "352099001761481"})
    matcher = Matcher(expand(identity))
    value = serial.encode()
    data = b"head " + value + b" mid " + ssid.encode() + b" tail 352099001761481"
    hits = {(h.identifier, h.form, h.start) for h in matcher.scan(data)}
    assert ("serial", "serial", 5) in hits
    assert ("ssid", "ssid", data.index(ssid.encode())) in hits
    assert ("imei", "imei", data.index(b"3520990")) in hits
    assert not [h for h in matcher.scan(b"head " + value[:-1] + b"!") if h.identifier == "serial"]
    scanner = matcher.stream()
    streamed = []
    for start in range(0, len(data), 65536):
        streamed += scanner.feed(data[start : start + 65536], start)
    streamed += scanner.close()
    assert {(h.identifier, h.form, h.start) for h in streamed} == hits
