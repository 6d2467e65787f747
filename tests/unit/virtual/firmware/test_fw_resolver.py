"""The handset resolver's reading of replies: answers matched to their question, garbage ignored."""

from __future__ import annotations

import dns.message
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.net.resolver import parse_reply


def _reply_to(query: dns.message.Message, *records: tuple[str, str]) -> bytes:
    reply = dns.message.make_response(query)
    for rdtype, value in records:
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", rdtype, value))
    return reply.to_wire()


def test_an_answer_to_our_question_gives_its_addresses_and_records() -> None:
    query = dns.message.make_query("zzhc.vnet.cn", "A")
    answer = parse_reply(query, _reply_to(query, ("A", "203.0.113.1"), ("A", "203.0.113.2")))
    assert answer is not None
    assert (answer.name, answer.rdtype, answer.rcode) == ("zzhc.vnet.cn", "A", "NOERROR")
    assert answer.addresses == ("203.0.113.1", "203.0.113.2")
    assert answer.records == ("A 203.0.113.1", "A 203.0.113.2")


def test_a_reply_to_another_query_is_not_our_answer() -> None:
    ours, theirs = dns.message.make_query("a.example", "A"), dns.message.make_query("b.example", "A")
    assert parse_reply(ours, _reply_to(theirs, ("A", "192.0.2.1"))) is None


def test_an_empty_answer_keeps_its_rcode() -> None:
    query = dns.message.make_query("a.example", "AAAA")
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.NXDOMAIN)
    answer = parse_reply(query, reply.to_wire())
    assert answer is not None
    assert (answer.rcode, answer.addresses) == ("NXDOMAIN", ())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_an_answer_or_ignored_never_an_error(data: bytes) -> None:
    query = dns.message.make_query("a.example", "A")
    parse_reply(query, data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=300))
def test_corrupted_replies_with_our_id_never_raise(tail: bytes) -> None:
    query = dns.message.make_query("a.example", "A")
    good = _reply_to(query, ("A", "192.0.2.1"))
    parse_reply(query, good[:2] + tail)
