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
