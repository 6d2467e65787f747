"""The QUIC Initial tracker on hostile input: never raises, memory bounded."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import _quic_crypto, quic
from phonehome.traffic.quic import QuicInitialTracker, build_initial, looks_like_quic

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
DCID = bytes(range(8))
KEYS = _quic_crypto.InitialKeys(DCID, _quic_crypto.SALT_V1, v2=False)


def check(tracker: QuicInitialTracker) -> None:
    assert len(tracker._crypto) <= tracker.limit
    assert tracker._pending_bytes <= tracker.limit
    assert len(tracker._keys) <= quic._MAX_KEYS


@FUZZ
@given(st.lists(st.binary(max_size=1500), max_size=6), st.booleans())
def test_arbitrary_datagrams_never_raise(datagrams: list[bytes], from_client: bool) -> None:
    tracker = QuicInitialTracker()
    for frame, datagram in enumerate(datagrams):
        looks_like_quic(datagram)
        tracker.feed(datagram, from_client, frame)
        check(tracker)


@FUZZ
@given(st.sampled_from([1, 2, 0xFF00001D, quic.T051]), st.integers(1, 4), st.data())
def test_mutated_initials_never_raise(version: int, split: int, data: st.DataObject) -> None:
    datagrams = build_initial("fuzz.example", version=version, split=split)
    tracker = QuicInitialTracker()
    for frame, datagram in enumerate(datagrams):
        mutated = bytearray(datagram)
        for _ in range(data.draw(st.integers(0, 6))):
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
        tracker.feed(bytes(mutated[: data.draw(st.integers(0, len(mutated)))]), True, frame)
        check(tracker)


@FUZZ
@given(st.binary(max_size=1100), st.integers(0, 3))
def test_arbitrary_frames_behind_valid_protection_never_raise(frames: bytes, pn: int) -> None:
    tracker = QuicInitialTracker(limit=4096)
    tracker.feed(
        _quic_crypto.seal_initial(KEYS, quic.QUIC_V1, DCID, frames or b"\x01", scid=b"", pn=pn), True, 1
    )
    check(tracker)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=600)), max_size=30))
def test_crypto_fragments_in_any_order_stay_bounded(fragments: list[tuple[int, bytes]]) -> None:
    tracker = QuicInitialTracker(limit=8192)
    for offset, data in fragments:
        frame = b"\x06" + _quic_crypto.encode_varint(offset) + _quic_crypto.encode_varint(len(data)) + data
        tracker.feed(_quic_crypto.seal_initial(KEYS, quic.QUIC_V1, DCID, frame, scid=b"", pn=0), True, 1)
        check(tracker)


@FUZZ
@given(st.integers(1, 6), st.randoms(use_true_random=False))
def test_hello_is_found_whatever_the_order_of_its_packets(split: int, rnd) -> None:  # type: ignore[no-untyped-def]
    datagrams = build_initial("order.example", split=split)
    rnd.shuffle(datagrams)
    tracker = QuicInitialTracker()
    results = [tracker.feed(d, True, i) for i, d in enumerate(datagrams)]
    assert [r.sni for r in results if r] == ["order.example"]
