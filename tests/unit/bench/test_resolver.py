"""The bench resolver's answers as messages in, messages out: each name its own address, never NXDOMAIN."""

from __future__ import annotations

import ipaddress
import json
import struct
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.bench.resolver import (
    POOL_EXHAUSTED,
    Answer,
    NamePool,
    Question,
    answer_locally,
    problems,
    read_log,
    read_question,
    relay,
)

POOL4, POOL6 = "198.18.0.0/15", "2001:db8:ffff::/64"


def ask(name: str, rdtype: str = "A", **kwargs: object) -> Question:
    wire = dns.message.make_query(name, rdtype, **kwargs).to_wire()  # type: ignore[arg-type]
    question = read_question(wire)
    assert isinstance(question, Question)
    return question


def answer(pool: NamePool, name: str, rdtype: str = "A", *, ipv6: bool = False, proto: str = "udp") -> Answer:
    return answer_locally(ask(name, rdtype), pool, 300, ipv6, proto)


def reply_of(result: Answer) -> dns.message.Message:
    assert result.reply is not None
    return dns.message.from_wire(result.reply)


def addresses(result: Answer) -> list[str]:
    return [rd.to_text() for rrset in reply_of(result).answer for rd in rrset]


def test_every_name_gets_its_own_address_and_keeps_it() -> None:
    pool = NamePool(POOL4)
    first = answer(pool, "zzhc.vnet.cn")
    second = answer(pool, "activation.example.com")
    again = answer(pool, "zzhc.vnet.cn")
    assert addresses(first) == ["198.18.0.1"]
    assert addresses(second) == ["198.18.0.2"]
    assert addresses(again) == addresses(first)
    assert first.entry == {
        "id": first.entry["id"],
        "name": "zzhc.vnet.cn",
        "qtype": "A",
        "answers": ["198.18.0.1"],
        "rcode": "NOERROR",
    }


def test_names_differing_only_in_case_or_final_dot_are_one_name_and_the_reply_keeps_the_askers_case() -> None:
    pool = NamePool(POOL4)
    lower = answer(pool, "zzhc.vnet.cn")
    mixed = answer(pool, "ZzHc.VNET.cn.")
    assert addresses(mixed) == addresses(lower)
    assert mixed.entry["name"] == "zzhc.vnet.cn"
    assert reply_of(mixed).question[0].name.to_text() == "ZzHc.VNET.cn."  # 0x20 randomisation intact


def test_a_name_with_an_escaped_dot_is_another_name_and_is_logged_escaped() -> None:
    pool = NamePool(POOL4)
    plain = answer(pool, "a.b.example")
    tricky = answer(pool, "a\\.b.example")
    assert addresses(plain) != addresses(tricky)
    assert tricky.entry["name"] == "a\\.b.example"


def test_aaaa_comes_from_the_ipv6_pool_at_the_names_offset_when_ipv6_is_offered() -> None:
    pool = NamePool(POOL4, POOL6)
    answer(pool, "first.example", ipv6=True)
    v6 = answer(pool, "second.example", "AAAA", ipv6=True)
    v4 = answer(pool, "second.example", ipv6=True)
    assert addresses(v6) == ["2001:db8:ffff::2"]
    assert addresses(v4) == ["198.18.0.2"]


def test_aaaa_without_ipv6_is_an_empty_noerror_and_takes_no_address() -> None:
    pool = NamePool(POOL4)
    result = answer(pool, "zzhc.vnet.cn", "AAAA")
    assert reply_of(result).rcode() == dns.rcode.NOERROR
    assert addresses(result) == []
    assert len(pool) == 0


@pytest.mark.parametrize(
    "rdtype", ["HTTPS", "SVCB", "TXT", "MX", "NS", "SOA", "SRV", "ANY", "CAA", "TYPE65280"]
)
def test_other_types_get_an_empty_noerror(rdtype: str) -> None:
    result = answer(NamePool(POOL4), "zzhc.vnet.cn", rdtype)
    reply = reply_of(result)
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    assert result.entry["qtype"] == rdtype


def test_the_ptr_of_a_pool_address_answers_its_name_and_any_other_ptr_is_empty() -> None:
    pool = NamePool(POOL4, POOL6)
    answer(pool, "zzhc.vnet.cn")
    answer(pool, "other.example", "AAAA", ipv6=True)
    named = answer(pool, dns.reversename.from_address("198.18.0.1").to_text(), "PTR")
    assert addresses(named) == ["zzhc.vnet.cn."]
    assert named.entry["answers"] == ["zzhc.vnet.cn"]
    v6 = answer(pool, dns.reversename.from_address("2001:db8:ffff::2").to_text(), "PTR")
    assert v6.entry["answers"] == ["other.example"]
    for address in ("198.18.0.99", "8.8.8.8", "198.18.0.0"):
        empty = answer(pool, dns.reversename.from_address(address).to_text(), "PTR")
        assert (reply_of(empty).rcode(), empty.entry["answers"]) == (dns.rcode.NOERROR, [])
    assert answer(pool, "not.a.reverse.name", "PTR").entry["answers"] == []


def test_a_ptr_lookup_allocates_nothing() -> None:
    pool = NamePool(POOL4)
    answer(pool, "5.0.18.198.in-addr.arpa", "PTR")
    assert len(pool) == 0


def test_other_classes_get_an_empty_noerror() -> None:
    question = ask("version.bind", "TXT", rdclass=dns.rdataclass.CH)
    result = answer_locally(question, NamePool(POOL4), 300, False, "udp")
    assert reply_of(result).rcode() == dns.rcode.NOERROR
    assert reply_of(result).answer == []


def test_an_exhausted_pool_answers_servfail_records_the_problem_and_keeps_old_names() -> None:
    pool = NamePool("198.18.0.0/29")  # six addresses
    for i in range(6):
        assert addresses(answer(pool, f"n{i}.example")) == [f"198.18.0.{i + 1}"]
    over = answer(pool, "n6.example")
    assert reply_of(over).rcode() == dns.rcode.SERVFAIL
    assert over.entry["problem"] == POOL_EXHAUSTED
    assert addresses(answer(pool, "n0.example")) == ["198.18.0.1"]
    assert len(pool) == 6


def test_memory_is_bounded_by_the_name_limit_whatever_the_pool() -> None:
    pool = NamePool("10.0.0.0/8", limit=100)
    for i in range(150):
        answer(pool, f"flood-{i}.example")
    assert len(pool) == 100


def test_the_name_of_an_address_outside_or_beyond_the_pool_is_unknown() -> None:
    pool = NamePool(POOL4)
    answer(pool, "a.example")
    assert pool.name_of("198.18.0.1") == dns.name.from_text("a.example")
    assert pool.name_of("198.18.0.2") is None
    assert pool.name_of("203.0.113.1") is None
    assert pool.name_of("2001:db8:ffff::1") is None  # this pool has no IPv6
    assert pool.name_of("not an address") is None


def test_edns_is_echoed_and_a_reply_that_does_not_fit_is_truncated() -> None:
    question = ask("a.example", use_edns=0, payload=4096)
    reply = reply_of(answer_locally(question, NamePool(POOL4), 300, False, "udp"))
    assert reply.edns == 0
    big = dns.message.make_response(ask("big.example", "TXT").message)
    big.answer.append(
        dns.rrset.from_text("big.example.", 60, "IN", "TXT", *[f'"{i}{"x" * 200}"' for i in range(10)])
    )
    relayed = relay(ask("big.example", "TXT"), big, "udp")
    assert relayed.reply is not None
    assert len(relayed.reply) <= 512
    assert dns.message.from_wire(relayed.reply).flags & dns.flags.TC
    assert len(relay(ask("big.example", "TXT"), big, "tcp").reply or b"") > 512


def test_relay_passes_the_real_answer_under_the_askers_id_and_logs_the_addresses() -> None:
    question = ask("www.example.com")
    upstream = dns.message.make_response(dns.message.make_query("www.example.com", "A"))
    upstream.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME", "cdn.example.net."))
    upstream.answer.append(dns.rrset.from_text("cdn.example.net.", 60, "IN", "A", "192.0.2.10", "192.0.2.11"))
    result = relay(question, upstream, "udp")
    reply = reply_of(result)
    assert reply.id == question.id
    assert result.entry["answers"] == ["192.0.2.10", "192.0.2.11"]
    assert any("CNAME cdn.example.net." in line for line in result.entry["records"])


def test_relay_passes_nxdomain_in_nat_mode_and_servfail_without_an_upstream() -> None:
    question = ask("gone.example")
    upstream = dns.message.make_response(dns.message.make_query("gone.example", "A"))
    upstream.set_rcode(dns.rcode.NXDOMAIN)
    assert reply_of(relay(question, upstream, "udp")).rcode() == dns.rcode.NXDOMAIN
    failed = relay(question, None, "udp")
    assert (reply_of(failed).rcode(), failed.entry["rcode"]) == (dns.rcode.SERVFAIL, "SERVFAIL")


HEADER = struct.Struct("!HHHHHH")


def test_a_message_too_short_for_a_header_or_a_response_is_not_answered() -> None:
    assert read_question(b"\x12\x34\x01") is None
    response = dns.message.make_response(dns.message.make_query("a.example", "A")).to_wire()
    assert read_question(response) is None


def test_garbage_after_a_header_gets_formerr_with_the_askers_id() -> None:
    reply = read_question(HEADER.pack(0xBEEF, 0x0100, 1, 0, 0, 0) + b"\xff" * 20)
    assert isinstance(reply, bytes)
    ident, flags, *_ = HEADER.unpack(reply)
    assert ident == 0xBEEF
    assert flags & dns.flags.QR
    assert flags & 0xF == dns.rcode.FORMERR


def test_two_questions_are_formerr_and_other_opcodes_notimp() -> None:
    query = dns.message.make_query("a.example", "A")
    query.question.append(
        dns.rrset.RRset(dns.name.from_text("b.example"), dns.rdataclass.IN, dns.rdatatype.A)
    )
    reply = read_question(query.to_wire())
    assert isinstance(reply, bytes)
    assert HEADER.unpack(reply)[1] & 0xF == dns.rcode.FORMERR
    notify = dns.message.make_query("a.example", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    reply = read_question(notify.to_wire())
    assert isinstance(reply, bytes)
    assert HEADER.unpack(reply)[1] & 0xF == dns.rcode.NOTIMP


def test_a_compression_loop_is_formerr_not_a_hang() -> None:
    question = HEADER.pack(7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    reply = read_question(question)
    assert isinstance(reply, bytes)
    assert HEADER.unpack(reply)[1] & 0xF == dns.rcode.FORMERR


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_question_an_error_reply_or_nothing_and_never_raise(wire: bytes) -> None:
    result = read_question(wire)
    if isinstance(result, Question):
        answer_locally(result, NamePool(POOL4, POOL6), 60, True, "udp")


VALID = dns.message.make_query("zzhc.vnet.cn", "A", use_edns=0).to_wire()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_a_valid_query_with_bytes_flipped_never_raises_and_is_never_nxdomain(
    flips: list[tuple[int, int]],
) -> None:
    wire = bytearray(VALID)
    for at, value in flips:
        wire[at] = value
    result = read_question(bytes(wire))
    if isinstance(result, Question):
        out = answer_locally(result, NamePool(POOL4, POOL6), 60, True, "tcp")
        assert out.entry["rcode"] != "NXDOMAIN"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=6),
    st.sampled_from(["A", "AAAA", "PTR", "HTTPS", "ANY", "TXT"]),
)
def test_any_name_and_type_is_answered_noerror_and_logged_as_json(labels: list[bytes], rdtype: str) -> None:
    name = dns.name.Name([*labels, b""])
    query = dns.message.make_query(name, rdtype)
    question = read_question(query.to_wire())
    assert isinstance(question, Question)
    result = answer_locally(question, NamePool(POOL4, POOL6), 60, True, "udp")
    assert reply_of(result).rcode() == dns.rcode.NOERROR
    line = json.dumps(result.entry)
    assert line.isascii()
    if rdtype == "A":
        assert ipaddress.ip_address(result.entry["answers"][0]) in ipaddress.ip_network(POOL4)


def test_the_log_reads_back_skipping_a_cut_line_and_names_the_pool_problem(tmp_path: Path) -> None:
    log = tmp_path / "resolver.jsonl"
    rows = [
        {"ts": 1.0, "client": "172.16.0.10", "port": 5353, "proto": "udp", "id": 1, "name": "a.example",
         "qtype": "A", "answers": ["198.18.0.1"], "rcode": "NOERROR"},
        {"ts": 2.0, "client": "172.16.0.10", "port": 5353, "proto": "tcp", "id": 2, "name": "b.example",
         "qtype": "A", "answers": [], "rcode": "SERVFAIL", "problem": POOL_EXHAUSTED},
        {"ts": 3.0, "client": "172.16.0.10", "port": 5353, "proto": "udp", "id": None, "name": None,
         "qtype": None, "answers": [], "rcode": "FORMERR", "note": "not a readable DNS query (20 bytes)"},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"ts": 4.0, "cli')
    entries = read_log(log)
    assert [(e.name, e.qtype, e.answers, e.rcode, e.proto) for e in entries] == [
        ("a.example", "A", ("198.18.0.1",), "NOERROR", "udp"),
        ("b.example", "A", (), "SERVFAIL", "tcp"),
        ("", "", (), "FORMERR", "udp"),
    ]
    (problem,) = problems(entries)
    assert "ran out of addresses" in problem
    assert "b.example" in problem
    assert read_log(tmp_path / "absent.jsonl") == []


def test_edns_options_are_parsed_not_feared() -> None:
    query = dns.message.make_query(
        "a.example", "A", use_edns=0, options=[dns.edns.ECSOption("192.0.2.0", 24)]
    )
    question = read_question(query.to_wire())
    assert isinstance(question, Question)
    assert addresses(answer_locally(question, NamePool(POOL4), 60, False, "udp")) == ["198.18.0.1"]
