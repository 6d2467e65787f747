"""The TLS handshake reader on hostile input: never raises, bounded, independent of segmentation."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic.tls import (
    HandshakeReader,
    ReadState,
    build_client_hello,
    find_client_hello,
    parse_client_hello,
    parse_server_hello,
)

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

hosts = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=15), min_size=1, max_size=4
).map(".".join)
hellos = st.builds(
    lambda sni, alpn, records, ech, grease: build_client_hello(
        sni, alpn, ech=ech, records=records, grease=grease
    ),
    hosts,
    st.lists(st.sampled_from(["h2", "http/1.1", "h3"]), max_size=3).map(tuple),
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
)


def feed_cut(stream: bytes, cuts: list[int], from_client: bool = True, limit: int = 4096) -> HandshakeReader:
    reader = HandshakeReader(from_client, limit=limit)
    bounds = sorted({0, len(stream), *(c for c in cuts if c <= len(stream))})
    for start, end in itertools.pairwise(bounds):
        state = reader.feed(stream[start:end])
        assert state in ReadState
        assert len(reader._buf) <= limit + (1 << 14) + 2048 + 5 + (end - start)
        assert len(reader._message) <= limit + (1 << 14) + 2048
    return reader


@FUZZ
@given(hellos, st.lists(st.integers(0, 3000), max_size=10))
def test_sni_is_the_same_however_the_stream_is_cut(stream: bytes, cuts: list[int]) -> None:
    whole = feed_cut(stream, [], limit=1 << 18)
    cut = feed_cut(stream, cuts, limit=1 << 18)
    assert whole.state is cut.state is ReadState.DONE
    assert whole.hello == cut.hello
    assert whole.consumed == cut.consumed == len(stream)


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=8), st.booleans())
def test_arbitrary_bytes_never_raise(stream: bytes, cuts: list[int], from_client: bool) -> None:
    feed_cut(stream, cuts, from_client)
    parse_client_hello(stream)
    parse_server_hello(stream)
    find_client_hello(stream)


@FUZZ
@given(hellos, st.data())
def test_mutated_hellos_never_raise(stream: bytes, data: st.DataObject) -> None:
    mutated = bytearray(stream)
    for _ in range(data.draw(st.integers(1, 12))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cuts = data.draw(st.lists(st.integers(0, len(mutated)), max_size=6))
    reader = feed_cut(bytes(mutated), cuts)
    if reader.hello is not None:
        assert all(isinstance(p, str) for p in reader.hello.alpn)
    parse_client_hello(bytes(mutated[9:]))
    find_client_hello(bytes(mutated))
