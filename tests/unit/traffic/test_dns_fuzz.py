"""The DNS parser on hostile input: never raises, never hangs, output bounded by the input."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.traffic import dns
from phonehome.traffic.dns import DnsRecord, TcpDnsStream, build_query, build_response, parse_message

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
names = st.lists(labels, min_size=1, max_size=5).map(".".join)


def valid_messages() -> st.SearchStrategy[bytes]:
    queries = st.builds(build_query, names, st.sampled_from([1, 28, 65]), st.integers(0, 0xFFFF))
    records = st.builds(
        DnsRecord,
        names,
        st.sampled_from([dns.A, dns.CNAME]),
        st.integers(0, 2**31),
        st.just("192.0.2.1"),
    ).map(lambda r: r if r.rtype == dns.A else DnsRecord(r.name, r.rtype, r.ttl, "target.example"))
    responses = st.builds(build_response, names, st.lists(records, max_size=6))
    return st.one_of(queries, responses)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_messages()))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


def check(data: bytes) -> None:
    message = parse_message(data)
    if message is None:
        assert len(data) < 12
        return
    assert len(message.questions) + len(message.answers) <= len(data)
    for name, qtype in message.questions:
        assert isinstance(name, str)
        assert len(name) <= 255 * 10
        assert 0 <= qtype <= 0xFFFF


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    check(data)


@FUZZ
@given(mutated())
def test_mutated_messages_never_raise(data: bytes) -> None:
    check(data)


@FUZZ
@given(valid_messages())
def test_valid_messages_parse_clean(data: bytes) -> None:
    message = parse_message(data)
    assert message is not None
    assert not message.malformed


@FUZZ
@given(st.lists(valid_messages(), min_size=1, max_size=4), st.data())
def test_tcp_stream_gives_the_same_messages_however_it_is_cut(
    messages: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(struct.pack("!H", len(m)) + m for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    parser = TcpDnsStream()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += parser.feed(stream[start:end])
    assert got == [parse_message(m) for m in messages]


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_tcp_stream_on_garbage_never_raises(chunks: list[bytes]) -> None:
    parser = TcpDnsStream()
    for chunk in chunks:
        parser.feed(chunk)
        assert len(parser._buffer) <= 65537
