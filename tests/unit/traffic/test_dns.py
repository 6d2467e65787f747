"""DNS messages: questions, answers, compression, and names as Wireshark shows them."""

from __future__ import annotations

import struct

import pytest

from phonehome.traffic import dns
from phonehome.traffic.dns import DnsRecord, TcpDnsStream, build_query, build_response, parse_message


def query_with_raw_name(wire_name: bytes, qtype: int = 1, qdcount: int = 1) -> bytes:
    return struct.pack("!HHHHHH", 7, 0x0100, qdcount, 0, 0, 0) + wire_name + struct.pack("!HH", qtype, 1)


def label(raw: bytes) -> bytes:
    return bytes([len(raw)]) + raw


def test_query_round_trips_name_type_and_id() -> None:
    message = parse_message(build_query("WWW.Example.COM.", qtype=28, id=0xBEEF))
    assert message is not None
    assert (message.id, message.response, message.opcode, message.rcode) == (0xBEEF, False, 0, 0)
    assert message.questions == [("www.example.com", 28)]
    assert message.answers == []
    assert not message.malformed


def test_response_keeps_cname_chain_in_order_with_compressed_names() -> None:
    answers = [
        DnsRecord("zzhc.vnet.cn", dns.CNAME, 60, "edge.vnet.cn"),
        DnsRecord("edge.vnet.cn", dns.CNAME, 60, "a1.edge.vnet.cn"),
        DnsRecord("a1.edge.vnet.cn", dns.A, 30, "192.0.2.7"),
        DnsRecord("a1.edge.vnet.cn", dns.AAAA, 30, "2001:db8::7"),
    ]
    wire = build_response("zzhc.vnet.cn", answers, id=9)
    assert b"\xc0\x0c" in wire, "the builder should compress the repeated name"
    message = parse_message(wire)
    assert message is not None
    assert message.response
    assert message.questions == [("zzhc.vnet.cn", 1)]
    assert message.answers == answers
    assert not message.malformed


def test_other_record_types_have_an_empty_value() -> None:
    wire = build_response("example.com", [DnsRecord("example.com", 16, 5, "v=spf1 -all")], qtype=16)
    message = parse_message(wire)
    assert message is not None
    assert message.answers == [DnsRecord("example.com", 16, 5, "")]


def test_nxdomain_rcode_is_reported() -> None:
    message = parse_message(build_response("nope.example", [], rcode=3))
    assert message is not None
    assert (message.rcode, message.answers) == (3, [])


def test_fewer_than_twelve_bytes_is_not_dns() -> None:
    assert parse_message(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00") is None
    assert parse_message(b"") is None


def test_control_bytes_in_a_label_are_octal_escaped_like_tshark() -> None:
    # default__dns-invalid-chars.pcap, as public-expected.json lists it.
    wire = label(b"www") + label(b"allyourba\x04\x05\x06arebelongto") + label(b"cn") + b"\0"
    message = parse_message(query_with_raw_name(wire))
    assert message is not None
    assert message.questions == [("www.allyourba\\004\\005\\006arebelongto.cn", 1)]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"a\rb", "a\\rb"),
        (b"a\tb\x7f", "a\\tb\\177"),
        (b"a\x00b", "a\\000b"),
        (b"a.b\\c", "a.b\\c"),
        (b"ABC", "abc"),
        (b"x\xc7\xbfy", "x\u01ffy"),
        (b"x\xe4\xb8y", "x\ufffdy"),
        (b"x\xed\xa0\x80y", "x\ufffdy"),
        (b"x\xff\x80y", "x\ufffd\ufffdy"),
        (b"x\xc0\x80y", "x\\u0000y"),
        (b"x\xe2\x80\x8by", "x\\u200by"),
        (b"x\xf3\xa0\x80\x81y", "x\\u000e0001y"),
        (b"x\xf0\x9f\x98\x80y", "x\U0001f600y"),
    ],
)
def test_odd_label_bytes_render_as_tshark_4_shows_them(raw: bytes, shown: str) -> None:
    # Each case checked against tshark 4.0.17 on a crafted query (lower-cased, as the oracle is).
    message = parse_message(query_with_raw_name(label(raw) + label(b"com") + b"\0"))
    assert message is not None
    assert message.questions == [(shown + ".com", 1)]


def test_root_name_is_shown_as_root_placeholder() -> None:
    message = parse_message(query_with_raw_name(b"\0", qtype=2))
    assert message is not None
    assert message.questions == [("<root>", 2)]


def test_name_longer_than_253_characters_is_too_long() -> None:
    fits = b"".join(label(b"a" * 63) for _ in range(3)) + label(b"a" * 61) + b"\0"  # 253 characters
    too_long = b"".join(label(b"a" * 63) for _ in range(3)) + label(b"a" * 62) + b"\0"  # 254
    message = parse_message(query_with_raw_name(fits) + query_with_raw_name(too_long)[12:])
    assert message is not None
    assert message.questions[0][0] == ".".join(["a" * 63] * 3 + ["a" * 61])
    message = parse_message(query_with_raw_name(too_long))
    assert message is not None
    assert message.questions == [("<name too long>", 1)]


@pytest.mark.parametrize("wire", [b"\xc0\x0c", label(b"a") + b"\xc0\x0c", label(b"a") + b"\xc0\x0e\0"])
def test_compression_pointer_loop_is_named_and_does_not_hang(wire: bytes) -> None:
    message = parse_message(query_with_raw_name(wire))
    assert message is not None
    assert message.questions[0][0] == "<name contains a pointer that loops>"


def test_unknown_extended_label_is_named_and_the_message_flagged() -> None:
    message = parse_message(query_with_raw_name(label(b"a") + b"\x42\x08\xff\0"))
    assert message is not None
    assert message.questions == [("<unknown extended label>", 0)]
    assert message.malformed


def test_bit_string_label_is_skipped_like_tshark() -> None:
    message = parse_message(query_with_raw_name(label(b"a") + b"\x41\x08\xff\0"))
    assert message is not None
    assert message.questions == [("a", 1)]


def test_name_cut_by_the_end_of_the_message_is_kept_partially() -> None:
    wire = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + label(b"exfil") + b"\x08secr"
    message = parse_message(wire)
    assert message is not None
    assert message.questions == [("exfil.secr", 0)]
    assert message.malformed


def test_question_count_larger_than_the_message_sets_malformed_and_keeps_what_was_read() -> None:
    wire = query_with_raw_name(label(b"one") + b"\0", qdcount=3)
    message = parse_message(wire)
    assert message is not None
    assert message.questions == [("one", 1)]
    assert message.malformed


def test_answer_with_rdata_beyond_the_message_stops_there() -> None:
    wire = bytearray(build_response("a.example", [DnsRecord("a.example", dns.A, 1, "192.0.2.1")]))
    wire = wire[:-2]
    message = parse_message(bytes(wire))
    assert message is not None
    assert message.answers == []
    assert message.malformed


def test_pointer_bombs_are_cut_by_the_work_budget() -> None:
    # Thousands of questions pointing at a chain of 250 pointers: without a
    # budget each question would follow the whole chain.
    count = 2600
    chain_at = 12 + 6 * count
    questions = struct.pack("!H", 0xC000 | chain_at) + b"\x00\x01\x00\x01"
    chain = b"".join(struct.pack("!H", 0xC000 | (chain_at + 2 * (i + 1))) for i in range(250)) + b"\0"
    wire = struct.pack("!HHHHHH", 1, 0x0100, count, 0, 0, 0) + questions * count + chain
    message = parse_message(wire)
    assert message is not None
    assert message.malformed
    assert message.questions[0] == ("<root>", 1)
    assert len(message.questions) < count // 4


def test_tcp_stream_parses_messages_split_at_every_byte() -> None:
    one = build_query("a.example")
    two = build_response("a.example", [DnsRecord("a.example", dns.A, 1, "192.0.2.1")])
    stream = b"".join(struct.pack("!H", len(m)) + m for m in (one, two))
    parser = TcpDnsStream()
    messages = []
    for i in range(len(stream)):
        messages += parser.feed(stream[i : i + 1])
    assert [m.response for m in messages] == [False, True]
    assert messages[1].answers[0].value == "192.0.2.1"


def test_tcp_stream_parses_several_messages_in_one_feed() -> None:
    stream = b"".join(struct.pack("!H", len(m)) + m for m in (build_query(f"q{i}.example") for i in range(5)))
    messages = TcpDnsStream().feed(stream)
    assert [m.questions[0][0] for m in messages] == [f"q{i}.example" for i in range(5)]


def test_tcp_stream_stops_on_a_frame_too_short_for_dns() -> None:
    parser = TcpDnsStream()
    query = build_query("a.example")
    assert parser.feed(b"\x00\x03abc" + struct.pack("!H", len(query)) + query) == []
    assert parser.stopped
    assert parser.feed(struct.pack("!H", len(query)) + query) == []


def test_tcp_stream_stops_after_a_gap() -> None:
    parser = TcpDnsStream()
    parser.feed(b"\x00\x40" + b"x" * 10)
    parser.gap()
    query = build_query("a.example")
    assert parser.feed(struct.pack("!H", len(query)) + query) == []


def test_tcp_stream_keeps_at_most_one_partial_message() -> None:
    parser = TcpDnsStream()
    parser.feed(b"\xff\xff" + b"x" * 65000)
    assert len(parser._buffer) == 65002
    query = build_query("b.example")
    assert len(parser.feed(b"x" * 535 + struct.pack("!H", len(query)) + query)) == 2
    assert len(parser._buffer) == 0


def test_encode_name_rejects_a_label_over_63_bytes() -> None:
    with pytest.raises(ValueError, match="1 to 63 bytes"):
        build_query("a" * 64 + ".example")
