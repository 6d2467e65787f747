"""HTTP/1.x requests from a client stream: heads, bodies, pipelining, offsets and frames."""

from __future__ import annotations

import itertools

import pytest

from phonehome.traffic.http import (
    HttpRequestParser,
    build_request,
    looks_like_request,
    parse_response_head,
)

NOKIA = build_request(
    "POST",
    "/register?imei=867530912345678",
    [("Host", "zzhc.vnet.cn:80"), ("User-Agent", "Dalvik/2.1.0")],
    b"iccid=8986011234567890123&mac=02:00:00:00:00:01",
)


def feed_all(parser: HttpRequestParser, stream: bytes, pieces: list[int], first_frame: int = 1) -> list:
    """Feeds ``stream`` cut at ``pieces`` (offsets), one frame per piece."""
    out = []
    cuts = [0, *pieces, len(stream)]
    for frame, (start, end) in enumerate(itertools.pairwise(cuts), start=first_frame):
        out += parser.feed(stream[start:end], start, frame)
    return out


def test_post_with_content_length_gives_method_target_host_and_body() -> None:
    (request,) = HttpRequestParser().feed(NOKIA, 0, 5)
    assert (request.method, request.target, request.version) == (
        "POST",
        "/register?imei=867530912345678",
        "HTTP/1.1",
    )
    assert request.host == "zzhc.vnet.cn"
    assert request.body == b"iccid=8986011234567890123&mac=02:00:00:00:00:01"
    assert not request.body_truncated
    assert request.offset == 0
    assert NOKIA[request.body_offset :] == request.body
    assert (request.first_frame, request.last_frame) == (5, 5)


def test_head_split_at_every_byte_is_one_request_with_first_and_last_frames() -> None:
    parser = HttpRequestParser()
    requests = feed_all(parser, NOKIA, list(range(1, len(NOKIA))), first_frame=100)
    assert len(requests) == 1
    assert requests[0].body.startswith(b"iccid=")
    assert (requests[0].first_frame, requests[0].last_frame) == (100, 100 + len(NOKIA) - 1)


def test_pipelined_requests_keep_their_own_offsets_and_frames() -> None:
    one = build_request("GET", "/a", {"Host": "a.example"})
    two = build_request("POST", "/b", {"Host": "b.example"}, b"xyz")
    three = build_request("GET", "/c", {"Host": "c.example"})
    stream = one + two + three
    requests = feed_all(HttpRequestParser(), stream, [len(one) + 3])
    assert [r.target for r in requests] == ["/a", "/b", "/c"]
    assert [r.offset for r in requests] == [0, len(one), len(one) + len(two)]
    assert [(r.first_frame, r.last_frame) for r in requests] == [(1, 1), (1, 2), (2, 2)]
    assert requests[1].body == b"xyz"
    assert requests[1].body_offset == len(one) + len(two) - 3


def test_request_without_body_is_complete_at_the_blank_line() -> None:
    requests = HttpRequestParser().feed(b"GET / HTTP/1.0\r\nHost: x.example\r\n\r\n", 0, 1)
    assert len(requests) == 1
    assert requests[0].body == b""
    assert requests[0].version == "HTTP/1.0"


def test_chunked_body_is_dechunked_and_trailers_join_the_headers() -> None:
    body = b"imei=867530912345678&" * 20
    stream = build_request(
        "POST", "/up", {"Host": "t.example"}, body, chunked=True, chunk_size=7, trailers=[("X-Sum", "1")]
    )
    requests = feed_all(HttpRequestParser(), stream, list(range(5, len(stream), 11)))
    assert len(requests) == 1
    request = requests[0]
    assert request.body == body
    assert not request.body_truncated
    assert request.headers[-1] == ("X-Sum", "1")
    assert stream[request.body_offset : request.body_offset + 7] == body[:7]


def test_chunk_extensions_and_uppercase_hex_sizes_are_accepted() -> None:
    stream = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"A;name=val\r\n0123456789\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
    )
    requests = HttpRequestParser().feed(stream, 0, 1)
    assert [r.body for r in requests] == [b"0123456789", b""]


def test_body_over_the_limit_is_cut_and_flagged_and_the_next_request_still_parsed() -> None:
    stream = build_request("PUT", "/big", {"Host": "h"}, b"x" * 1000) + build_request("GET", "/after", {})
    requests = HttpRequestParser(body_limit=100).feed(stream, 0, 1)
    assert [(len(r.body), r.body_truncated) for r in requests] == [(100, True), (0, False)]
    assert requests[1].target == "/after"


def test_chunked_body_over_the_limit_is_cut_and_flagged() -> None:
    stream = build_request("POST", "/", {}, b"y" * 500, chunked=True, chunk_size=64)
    (request,) = HttpRequestParser(body_limit=100).feed(stream, 0, 1)
    assert request.body == b"y" * 100
    assert request.body_truncated


def test_tls_bytes_are_not_http_and_stop_the_parser() -> None:
    parser = HttpRequestParser()
    assert parser.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, 1) == []
    assert parser.stopped
    assert parser.feed(b"GET / HTTP/1.1\r\n\r\n", 11, 2) == []


def test_a_non_http_continuation_keeps_earlier_requests_and_stops() -> None:
    stream = build_request("GET", "/ws", {"Upgrade": "websocket"}) + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f"
    parser = HttpRequestParser()
    requests = parser.feed(stream, 0, 1)
    assert [r.target for r in requests] == ["/ws"]
    assert parser.stopped


def test_garbage_request_line_stops_the_parser() -> None:
    parser = HttpRequestParser()
    assert parser.feed(b"GET / SMTP/1.0\r\nHost: x\r\n\r\n", 0, 1) == []
    assert parser.stopped


def test_finish_returns_a_body_cut_by_the_end_of_the_stream() -> None:
    parser = HttpRequestParser()
    assert parser.feed(NOKIA[:-10], 0, 1) == []
    (request,) = parser.finish()
    assert request.body_truncated
    assert request.body == NOKIA[request.body_offset : -10]
    assert parser.finish() == []


def test_finish_returns_a_head_cut_by_the_end_with_the_complete_header_lines() -> None:
    parser = HttpRequestParser()
    parser.feed(b"GET /x?id=1 HTTP/1.1\r\nHost: cut.example\r\nUser-Ag", 0, 1)
    (request,) = parser.finish()
    assert request.host == "cut.example"
    assert request.headers == [("Host", "cut.example")]
    assert request.body_truncated


def test_finish_without_a_whole_request_line_returns_nothing() -> None:
    parser = HttpRequestParser()
    parser.feed(b"GET /partial", 0, 1)
    assert parser.finish() == []


def test_connect_marks_where_the_tunnel_starts_and_stops_parsing() -> None:
    head = b"CONNECT apache.org:443 HTTP/1.1\r\nHost: apache.org:443\r\n\r\n"
    parser = HttpRequestParser()
    requests = parser.feed(head + b"\x16\x03\x01\x00\x05hello", 0, 1)
    assert [r.method for r in requests] == ["CONNECT"]
    assert parser.tunnel_offset == len(head)
    assert parser.stopped


def test_gap_inside_a_content_length_body_keeps_the_framing() -> None:
    first = build_request("POST", "/a", {}, b"0123456789")
    second = build_request("GET", "/b", {})
    parser = HttpRequestParser()
    requests = parser.feed(first[:-8], 0, 1)
    requests += parser.feed(first[-4:] + second, len(first) - 4, 2)
    assert [r.target for r in requests] == ["/a", "/b"]
    assert requests[0].body_truncated
    assert requests[0].body == b"01" + b"6789"


def test_gap_inside_a_chunk_keeps_the_framing() -> None:
    first = build_request("POST", "/c", {}, b"A" * 40 + b"B" * 40, chunked=True, chunk_size=40)
    second = build_request("GET", "/d", {})
    hole = first.index(b"A" * 40) + 10
    parser = HttpRequestParser()
    requests = parser.feed(first[:hole], 0, 1)
    requests += parser.feed(first[hole + 20 :] + second, hole + 20, 2)
    assert [r.target for r in requests] == ["/c", "/d"]
    assert requests[0].body == b"A" * 20 + b"B" * 40
    assert requests[0].body_truncated


def test_gap_inside_a_head_resumes_at_the_next_request() -> None:
    first = build_request("GET", "/lost", {"Host": "a"})
    second = build_request("GET", "/found", {"Host": "b"})
    parser = HttpRequestParser()
    parser.feed(first[:10], 0, 1)
    assert parser.feed(first[20:], 20, 2) == []
    requests = parser.feed(second, len(first), 3)
    assert [r.target for r in requests] == ["/found"]
    assert requests[0].offset == len(first)


def test_retransmitted_bytes_are_not_counted_twice() -> None:
    parser = HttpRequestParser()
    requests = parser.feed(NOKIA[:30], 0, 1)
    requests += parser.feed(NOKIA[10:], 10, 2)
    assert len(requests) == 1
    assert requests[0].body == NOKIA[requests[0].body_offset :]


def test_bare_lf_line_endings_and_folded_headers_are_tolerated() -> None:
    stream = b"GET /lf HTTP/1.1\nHost: lf.example\nX-Long: one\n  two\n\n"
    (request,) = HttpRequestParser().feed(stream, 0, 1)
    assert request.headers == [("Host", "lf.example"), ("X-Long", "one two")]


def test_endless_head_is_abandoned_at_the_head_limit() -> None:
    parser = HttpRequestParser(head_limit=1000)
    parser.feed(b"GET / HTTP/1.1\r\n", 0, 1)
    offset = 16
    for frame in range(2, 200):
        line = b"X-Pad: " + b"a" * 20 + b"\r\n"
        parser.feed(line, offset, frame)
        offset += len(line)
    assert parser.stopped
    assert len(parser._buf) == 0


@pytest.mark.parametrize(
    "prefix",
    [
        b"GET / HTTP/1.1\r\n",
        b"GE",
        b"POST /very/long/path?with=query",
        b"M-SEARCH * HTTP/1.1\r\n",
        b"GET /a b HTTP/1.1\n",
    ],
)
def test_looks_like_request_accepts_request_lines_and_their_prefixes(prefix: bytes) -> None:
    assert looks_like_request(prefix)


@pytest.mark.parametrize(
    "prefix",
    [
        b"",
        b"\x16\x03\x01\x02\x00",
        b"HTTP/1.1 200 OK\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.0\r\n",
        b"GET/ HTTP/1.1",
        b"A" * 100,
    ],
)
def test_looks_like_request_rejects_other_protocols(prefix: bytes) -> None:
    assert not looks_like_request(prefix)


def test_response_head_gives_status_and_headers() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: 40\r\n\r\n\x00\x01"
    assert parse_response_head(head) == (
        200,
        [("Content-Type", "application/dns-message"), ("Content-Length", "40")],
    )
    assert parse_response_head(b"HTTP/1.1 204\r\nX-A: 1\r\nX-B") == (204, [("X-A", "1")])
    assert parse_response_head(b"GET / HTTP/1.1\r\n\r\n") is None


def test_build_request_keeps_given_framing_headers() -> None:
    wire = build_request("POST", "/", [("Content-Length", "3")], b"abc")
    assert wire.count(b"Content-Length") == 1
    (request,) = HttpRequestParser().feed(wire, 0, 1)
    assert request.body == b"abc"
