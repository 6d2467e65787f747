"""HTTP/1.1 requests as firmware writes them, and responses read with bounds."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.traffic.http import HttpRequestParser
from phonehome.virtual.net import httpclient
from phonehome.virtual.net.httpclient import HttpError, build_request, chunk, host_header, read_response


def test_request_keeps_the_declared_header_order_and_adds_only_what_is_missing() -> None:
    request = build_request(
        "POST",
        "/",
        "zzhc.vnet.cn",
        [
            ("Content-Type", "application/encrypted-json"),
            ("Host", "zzhc.vnet.cn"),
            ("Connection", "Keep-Alive"),
        ],
        b"abc",
    )
    assert request == (
        b"POST / HTTP/1.1\r\nContent-Type: application/encrypted-json\r\nHost: zzhc.vnet.cn\r\n"
        b"Connection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc"
    )


def test_host_comes_first_when_not_declared_and_a_get_has_no_length() -> None:
    assert build_request("GET", "/generate_204", "h", [("User-Agent", "x")]) == (
        b"GET /generate_204 HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("host", "port", "scheme", "expected"),
    [("a.example", 80, "http", "a.example"), ("a.example", 9999, "http", "a.example:9999"),
     ("a.example", 443, "https", "a.example"), ("2001:db8::1", 8080, "http", "[2001:db8::1]:8080")],
)  # fmt: skip
def test_host_header_shows_the_port_only_when_not_the_default(
    host: str, port: int, scheme: str, expected: str
) -> None:
    assert host_header(host, port, scheme) == expected


def test_chunked_body_is_framed_per_rfc_9112() -> None:
    assert chunk(b"hello world", 4) == b"4\r\nhell\r\n4\r\no wo\r\n3\r\nrld\r\n0\r\n\r\n"
    request = build_request(
        "POST", "/u", "h", [], b"hello", chunked=True, chunk_size=2, content_type="text/plain"
    )
    assert b"Transfer-Encoding: chunked\r\n" in request
    assert b"Content-Length" not in request
    assert request.endswith(b"\r\n\r\n2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 700), st.booleans())
def test_our_analyzer_reads_back_exactly_the_body_we_sent(body: bytes, size: int, chunked: bool) -> None:
    request = build_request("POST", "/x", "h.example", [("X-A", "1")], body, chunked=chunked, chunk_size=size)
    parser = HttpRequestParser()
    done = parser.feed(request, 0, 1)
    assert len(done) == 1
    assert done[0].body == body


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=httpclient.MAX_HEAD)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def _read(data: bytes, method: str = "GET") -> httpclient.Response:
    async def go() -> httpclient.Response:
        return await read_response(_reader(data), 1.0, method)

    return asyncio.run(go())


def test_response_body_is_read_by_content_length() -> None:
    response = _read(b'HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{"resultCode":"0","x":"y"}\n...')
    assert response.status == 200
    assert response.body == b'{"resultCode":"0","x":"y"}\n'
    assert response.header("content-length") == "27"


def test_no_content_has_no_body_and_close_delimited_bodies_are_bounded() -> None:
    assert _read(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").body == b""
    big = _read(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * (httpclient.MAX_BODY + 10))
    assert len(big.body) <= httpclient.MAX_BODY


@pytest.mark.parametrize(
    "data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200", b"HTTP/1.1 2000 X\r\n\r\n"]
)
def test_a_reply_that_is_not_http_is_an_http_error(data: bytes) -> None:
    with pytest.raises(HttpError):
        _read(data)


def test_a_head_longer_than_the_bound_is_refused() -> None:
    with pytest.raises(HttpError, match="longer than"):
        _read(b"HTTP/1.1 200 OK\r\nX: " + b"a" * (httpclient.MAX_HEAD + 10) + b"\r\n\r\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["GET", "HEAD", "POST"]))
def test_any_reply_is_a_response_or_an_http_error(data: bytes, method: str) -> None:
    try:
        response = _read(data, method)
    except HttpError:
        return
    assert 100 <= response.status <= 999, "a status code is three digits (RFC 9112 4)"
    assert len(response.body) <= httpclient.MAX_BODY
