"""The uiautomator2 server a real handset runs on port 9008 (``u2.jar``), over a `Screen`.

uiautomator2 3.7 opens a new adb ``tcp:9008`` stream for every HTTP request
(``GET /ping``, ``POST /jsonrpc/0``); the device-side adbd hands each stream to
`UiAutomatorServer.serve`. HTTP/1.1 is parsed here by hand rather than with a
library because the server must run on whatever asyncio streams adbd provides
(not a listening socket) and needs only requests with a Content-Length from
Python's http.client; every read has a size limit and a deadline. Malformed
JSON-RPC gets a JSON-RPC error, never a dropped connection; RPC errors travel
with HTTP 200, as the Java server sends them, because uiautomator2 restarts the
server on any other status.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from phonehome.virtual.screen import Screen
from phonehome.virtual.ui.automation import Automation, DeviceDescription
from phonehome.virtual.ui.rpcvalues import InvalidParams, JavaError

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024
MAX_BATCH = 64
# JSON-RPC 2.0's codes, and jsonrpc4j's -32001 (ErrorResolver.JsonError.ERROR_NOT_HANDLED) for Java exceptions.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
JAVA_EXCEPTION = -32001


class HttpError(Exception):
    """A request that cannot be served; answered with ``status`` and the connection closed."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def wants_close(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class UiAutomatorServer:
    """Serves uiautomator2's HTTP JSON-RPC for one handset's `Screen`."""

    def __init__(
        self,
        screen: Screen,
        *,
        device: DeviceDescription | None = None,
        idle_timeout_s: float = 60.0,
        max_body: int = MAX_BODY,
    ) -> None:
        self.automation = Automation(screen, device)
        self.idle_timeout_s = idle_timeout_s
        self.max_body = max_body
        self._writers: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers requests on one stream until the client closes it, goes idle, or sends garbage."""
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await self._read(reader)
                except HttpError as exc:
                    writer.write(_response(exc.status, str(exc).encode(), "text/plain", close=True))
                    await writer.drain()
                    return
                if request is None:
                    return
                status, body, content_type = await self.handle(request)
                writer.write(_response(status, body, content_type, close=request.wants_close))
                await writer.drain()
                if request.wants_close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def close_connections(self) -> None:
        """Hangs up every stream being served (their `serve` calls then return), as a stopping server does."""
        for writer in list(self._writers):
            writer.close()

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """A TCP listener serving this handset (tests, benchmarks; a handset itself is reached through adbd)."""
        return await asyncio.start_server(self.serve, host, port)

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_timeout_s)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise HttpError(HTTPStatus.BAD_REQUEST, "request head ended before its blank line") from exc
            return None
        except asyncio.LimitOverrunError as exc:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large") from exc
        except TimeoutError:
            return None
        request = _parse_head(head)
        if "transfer-encoding" in request.headers:
            raise HttpError(
                HTTPStatus.NOT_IMPLEMENTED, "chunked bodies are not supported; send Content-Length"
            )
        length_text = request.headers.get("content-length", "0").strip()
        if not length_text.isdigit() or len(length_text) > 12:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_text!r}")
        length = int(length_text)
        if length > self.max_body:
            raise HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes exceeds {self.max_body}"
            )
        try:
            request.body = await asyncio.wait_for(reader.readexactly(length), self.idle_timeout_s)
        except TimeoutError as exc:
            raise HttpError(HTTPStatus.REQUEST_TIMEOUT, "body not received in time") from exc
        return request

    async def handle(self, request: Request) -> tuple[HTTPStatus, bytes, str]:
        """One HTTP request -> (status, body, content type)."""
        path = request.path.split("?", 1)[0]
        if path == "/ping":
            if request.method != "GET":
                return HTTPStatus.METHOD_NOT_ALLOWED, b"use GET", "text/plain"
            return HTTPStatus.OK, b"pong", "text/plain"
        if path == "/jsonrpc/0":
            if request.method != "POST":
                return HTTPStatus.METHOD_NOT_ALLOWED, b"use POST", "text/plain"
            answer = await self.rpc(request.body)
            body = b"" if answer is None else json.dumps(answer, ensure_ascii=False).encode()
            return HTTPStatus.OK, body, "application/json; charset=utf-8"
        return HTTPStatus.NOT_FOUND, f"no such endpoint: {path}".encode(), "text/plain"

    async def rpc(self, body: bytes) -> Any:
        """A JSON-RPC 2.0 request or batch -> its response (None when it held only notifications)."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return _error(None, PARSE_ERROR, "Parse error", str(exc)[:200])
        if isinstance(payload, list):
            if not payload or len(payload) > MAX_BATCH:
                return _error(
                    None, INVALID_REQUEST, "Invalid Request", f"a batch holds 1 to {MAX_BATCH} calls"
                )
            answers = [await self._call(call) for call in payload]
            kept = [a for a in answers if a is not None]
            return kept or None
        return await self._call(payload)

    async def _call(self, call: object) -> dict[str, Any] | None:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            ident = call.get("id") if isinstance(call, dict) else None
            return _error(
                _valid_id(ident), INVALID_REQUEST, "Invalid Request", "expected an object with a method"
            )
        ident = _valid_id(call.get("id"))
        notification = "id" not in call
        name, params = call["method"], call.get("params", [])
        if isinstance(params, dict) and not params:
            params = []  # uiautomator2 sends {} for a call without arguments
        if not isinstance(params, list):
            return _error(ident, INVALID_PARAMS, "Invalid params", "params must be an array")
        if name not in self.automation.methods:
            return _error(ident, METHOD_NOT_FOUND, "Method not found", name)
        try:
            result = await self.automation.call(name, params)
            json.dumps(result)
        except InvalidParams as exc:
            return _error(ident, INVALID_PARAMS, "Invalid params", str(exc))
        except JavaError as exc:
            return _error(ident, JAVA_EXCEPTION, exc.java_class, str(exc))
        except Exception as exc:  # a bug here must still answer, or the client hangs and restarts us
            log.exception("uiautomator2 RPC %s failed", name)
            return _error(ident, INTERNAL_ERROR, "Internal error", f"{type(exc).__name__}: {exc}")
        if notification:
            return None
        return {"jsonrpc": "2.0", "id": ident, "result": result}


@contextlib.contextmanager
def serving(server: UiAutomatorServer, host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, int]]:
    """Serves ``server`` on a TCP port from a background thread; yields (host, port).

    For tests, benchmarks and labs' own scenario code against a `Screen`
    without adb; a handset serves the same object through adbd's streams.
    """
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[str, int]] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            listener = await server.listen(host, port)
        except OSError as exc:
            ready.set_exception(exc)
            return
        ready.set_result(listener.sockets[0].getsockname()[:2])
        async with listener:
            await stop.wait()
            server.close_connections()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            _, pending = await asyncio.wait(tasks, timeout=5) if tasks else (set(), set())
            for task in pending:  # an RPC still running (a long waitForExists)
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="uiautomator-server", daemon=True
    )
    thread.start()
    try:
        yield ready.result(15)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


def _parse_head(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"bad request line {lines[0][:80]!r}")
    request = Request(parts[0].upper(), parts[1])
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(HTTPStatus.BAD_REQUEST, f"bad header line {line[:80]!r}")
        request.headers[name.strip().lower()] = value.strip()
    return request


def _response(status: HTTPStatus, body: bytes, content_type: str, *, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _valid_id(ident: object) -> object:
    """A request id echoed back: strings, numbers or null only (JSON-RPC 2.0 section 4)."""
    if ident is None or (isinstance(ident, str | int | float) and not isinstance(ident, bool)):
        return ident
    return None


def _error(ident: object, code: int, message: str, data: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message, "data": data}}
