"""The HTTP parser on hostile input: never raises, memory bounded, cut-independent."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic.http import HttpRequestParser, build_request, looks_like_request

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

tokens = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
paths = st.text(alphabet="abc/?=&%0123456789", min_size=1, max_size=30).map(lambda p: "/" + p)
values = st.text(alphabet="abcdefghij .:;,=0123456789", max_size=30).map(str.strip)
requests = st.builds(
    lambda method, target, headers, body, chunked, size: build_request(
        method, target, headers, body, chunked=chunked, chunk_size=size
    ),
    tokens.filter(lambda m: m != "CONNECT"),  # a tunnel ends HTTP on the stream
    paths,
    st.lists(st.tuples(tokens, values), max_size=5).map(
        lambda hs: [(n, v) for n, v in hs if n.lower() not in ("content-length", "transfer-encoding")]
    ),
    st.binary(max_size=200),
    st.booleans(),
    st.integers(1, 50),
)


def run(stream: bytes, cuts: list[int], body_limit: int = 1 << 20) -> list:
    parser = HttpRequestParser(body_limit=body_limit, head_limit=4096)
    out = []
    bounds = sorted(set(cuts) | {0, len(stream)})
    for frame, (start, end) in enumerate(itertools.pairwise(bounds), start=1):
        out += parser.feed(stream[start:end], start, frame)
        assert len(parser._buf) <= 4096 + (end - start)
        assert len(parser._body) <= body_limit
    return out + parser.finish()


@FUZZ
@given(st.lists(requests, min_size=1, max_size=4), st.data())
def test_requests_are_the_same_however_the_stream_is_cut(wires: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(wires)
    whole = run(stream, [])
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    cut = run(stream, cuts)
    assert len(whole) == len(wires)
    assert [(r.method, r.target, r.headers, r.body, r.offset, r.body_offset) for r in cut] == [
        (r.method, r.target, r.headers, r.body, r.offset, r.body_offset) for r in whole
    ]


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=8))
def test_arbitrary_bytes_never_raise(stream: bytes, cuts: list[int]) -> None:
    run(stream, [c for c in cuts if c <= len(stream)])
    looks_like_request(stream)


@FUZZ
@given(st.lists(requests, min_size=1, max_size=3), st.data())
def test_mutated_requests_never_raise(wires: list[bytes], data: st.DataObject) -> None:
    stream = bytearray(b"".join(wires))
    for _ in range(data.draw(st.integers(1, 10))):
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    for request in run(bytes(stream), cuts, body_limit=64):
        assert len(request.body) <= 64
        assert request.offset <= request.body_offset <= len(stream)


@FUZZ
@given(st.lists(requests, min_size=2, max_size=3), st.integers(1, 100), st.data())
def test_gaps_never_raise_and_offsets_stay_in_the_stream(
    wires: list[bytes], hole: int, data: st.DataObject
) -> None:
    stream = b"".join(wires)
    at = data.draw(st.integers(0, len(stream)))
    parser = HttpRequestParser()
    out = parser.feed(stream[:at], 0, 1) + parser.feed(stream[at + hole :], at + hole, 2) + parser.finish()
    for request in out:
        assert 0 <= request.offset <= request.body_offset <= len(stream)
