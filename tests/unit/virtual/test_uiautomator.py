"""The uiautomator2 server's HTTP and JSON-RPC framing, over a real loopback TCP connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome.virtual.ui import SetupWizard
from phonehome.virtual.uiautomator import UiAutomatorServer, serving


class Running:
    """A server on 127.0.0.1, served from a background thread."""

    def __init__(self, port: int) -> None:
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    server = UiAutomatorServer(SetupWizard(time_scale=0), idle_timeout_s=2, max_body=64 * 1024)
    with serving(server) as (_, port):
        yield Running(port)


def test_serving_reports_a_port_that_is_taken() -> None:
    server = UiAutomatorServer(SetupWizard())
    with serving(server) as (_, port), pytest.raises(OSError, match="in use"), serving(server, port=port):
        pass


def exchange(sock: socket.socket, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends ``raw`` and reads one response (status, headers, body)."""
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body


def post(body: bytes, *, extra: str = "") -> bytes:
    return (
        f"POST /jsonrpc/0 HTTP/1.1\r\nHost: localhost:9008\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def rpc(running: Running, method: str, params: Any = (), ident: Any = 1) -> dict[str, Any]:
    with running.connect() as sock:
        status, _, body = exchange(
            sock,
            post(
                json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": list(params)}).encode()
            ),
        )
    assert status == 200
    answer: dict[str, Any] = json.loads(body)
    return answer


def test_ping_answers_exactly_pong(running: Running) -> None:
    with running.connect() as sock:
        status, headers, body = exchange(sock, b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert (status, body) == (200, b"pong")
    assert headers["content-type"].startswith("text/plain")


def test_a_call_returns_the_result_with_its_id(running: Running) -> None:
    answer = rpc(running, "deviceInfo", ident=7)
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == 7
    assert answer["result"]["displayWidth"] == 1080


def test_a_call_without_arguments_may_send_an_empty_object(running: Running) -> None:
    with running.connect() as sock:
        _, _, body = exchange(
            sock, post(b'{"jsonrpc": "2.0", "id": 1, "method": "getClipboard", "params": {}}')
        )
    assert json.loads(body) == {"jsonrpc": "2.0", "id": 1, "result": None}


def test_one_connection_serves_request_after_request(running: Running) -> None:
    with running.connect() as sock:
        for _ in range(3):
            status, headers, body = exchange(sock, b"GET /ping HTTP/1.1\r\n\r\n")
            assert (status, body, headers["connection"]) == (200, b"pong", "keep-alive")


def test_connection_close_is_honoured(running: Running) -> None:
    with running.connect() as sock:
        _, headers, _ = exchange(sock, b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert headers["connection"] == "close"
        assert sock.recv(1) == b""


def test_ui_object_not_found_is_the_error_uiautomator2_maps(running: Running) -> None:
    answer = rpc(
        running,
        "objInfo",
        [{"mask": 1, "text": "Nowhere", "childOrSibling": [], "childOrSiblingSelector": []}],
    )
    error = answer["error"]
    assert error["code"] == -32001
    assert error["message"] == "androidx.test.uiautomator.UiObjectNotFoundException"
    assert "UiSelector[TEXT=Nowhere]" in error["data"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe", -32700),
        (b"[" * 5000 + b"]" * 5000, -32700),
        (b"[]", -32600),
        (b'"just a string"', -32600),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "noSuchMethod", "params": []}', -32601),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "click", "params": "x"}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "click", "params": [1, 2, 3, 4, 5]}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "exist", "params": [{"textMatches": "("}]}', -32001),
    ],
)
def test_malformed_json_rpc_gets_a_json_rpc_error_and_the_connection_lives(
    running: Running, body: bytes, code: int
) -> None:
    with running.connect() as sock:
        status, _, answer = exchange(sock, post(body))
        assert status == 200
        assert json.loads(answer)["error"]["code"] == code
        assert exchange(sock, b"GET /ping HTTP/1.1\r\n\r\n")[2] == b"pong"


def test_a_batch_gets_one_answer_per_call_and_none_for_notifications(running: Running) -> None:
    calls = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ]
    with running.connect() as sock:
        _, _, body = exchange(sock, post(json.dumps(calls).encode()))
    assert [a["id"] for a in json.loads(body)] == [1, 2]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /nothing HTTP/1.1\r\n\r\n", 404),
        (b"POST /ping HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /jsonrpc/0 HTTP/1.1\r\n\r\n", 405),
    ],
)
def test_other_endpoints_and_methods_are_http_errors(running: Running, raw: bytes, status: int) -> None:
    with running.connect() as sock:
        assert exchange(sock, raw)[0] == status


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /ping HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"POST /jsonrpc/0 HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /jsonrpc/0 HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
        (b"POST /jsonrpc/0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET /ping HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
def test_a_broken_request_is_answered_then_the_connection_closes(
    running: Running, raw: bytes, status: int
) -> None:
    with running.connect() as sock:
        assert exchange(sock, raw)[0] == status
        assert sock.recv(1) == b""


def test_a_client_that_goes_quiet_is_disconnected_after_the_idle_timeout(running: Running) -> None:
    with running.connect() as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /ping HTTP/1.1\r\n")  # never finished
        assert sock.recv(1) == b""


def test_a_client_that_hangs_up_mid_request_does_not_disturb_the_server(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b'{"jsonrpc"')[:-3])
    assert rpc(running, "ping")["result"] == "pong"


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=15,
)
methods = st.sampled_from(["click", "objInfo", "exist", "swipe", "setText", "pressKey", "waitForExists", "count",
                           "dumpWindowHierarchy", "scrollTo", "injectInputEvent", "nope", ""])  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=methods | st.text(max_size=20),
    params=st.lists(json_value, max_size=4) | json_value,
    ident=json_value,
)
def test_any_call_gets_a_json_rpc_answer(running: Running, method: str, params: Any, ident: Any) -> None:
    call = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
    if method in ("waitForExists", "scrollTo"):
        call["params"] = (
            params[:1] if isinstance(params, list) else params
        )  # keep waits short: default timeout 0
    with running.connect() as sock:
        status, _, body = exchange(sock, post(json.dumps(call).encode()))
    assert status == 200
    answer = json.loads(body)
    assert answer["jsonrpc"] == "2.0"
    assert ("result" in answer) != ("error" in answer)
    if "error" in answer:
        assert answer["error"]["code"] in (-32700, -32600, -32601, -32602, -32001)
