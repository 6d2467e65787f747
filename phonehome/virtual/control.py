"""The hands of a detached virtual handset: a Unix socket beside its record, for what only a person can do.

A phone on a lab's desk is set up by someone looking at it and touching it
(a retail build has no ADB until then), put into its bootloader with its
buttons, given a SIM card. A detached virtual handset takes those acts on
``RUN_DIR/NAME.hands``: one JSON line ``{"act": ..., "params": {...}}`` per
connection, performed by its `VirtualOperator` (SIM tray, buttons, eyes and
fingers on the panel), answered by one line ``{"ok": true, "said": ...}`` or
``{"ok": false, "error": ...}``. It reaches the handset only: not ADB, not
the network, not a run that is testing it. The socket is a file readable by
its owner alone (root, in a lab rig).
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

MAX_LINE = 64 * 1024
"""A request or reply line longer than this is refused (a screen's labels are a few kB)."""
TIMEOUT_S = 180.0
"""What one act may take (into the bootloader, a factory reset with waiting)."""


class HandsError(RuntimeError):
    """An act that was not done: no such handset, the act refused (the message says why)."""


class Performer(Protocol):
    def perform(self, act: str, params: Mapping[str, object] | None = None, instruction: str = "") -> str: ...


class HandsServer:
    """Serves ``performer``'s acts on the Unix socket ``path`` until `close` (one act at a time)."""

    def __init__(self, path: Path, performer: Performer) -> None:
        self.path = path
        self.performer = performer
        self._one_at_a_time = threading.Lock()
        path.unlink(missing_ok=True)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(server.answer(self.rfile.readline(MAX_LINE + 1)) + b"\n")

        old = os.umask(0o177)  # the socket is its owner's alone
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        finally:
            os.umask(old)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"hands-{path.stem}", daemon=True
        )
        self._thread.start()

    def answer(self, line: bytes) -> bytes:
        """The reply line for one request line (never raises: a bad request is an error reply)."""
        try:
            if len(line) > MAX_LINE:
                raise ValueError(f"a request longer than {MAX_LINE} bytes")
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("act"), str):
                raise ValueError('a request is {"act": NAME, "params": {...}}')
            params = request.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            with self._one_at_a_time:
                said = self.performer.perform(request["act"], params, "")
            reply: dict[str, object] = {"ok": True, "said": said}
        except Exception as exc:  # the reply carries every refusal; the handset keeps running
            reply = {"ok": False, "error": str(exc) or type(exc).__name__}
        return json.dumps(reply).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def perform(
    path: Path | str, act: str, params: Mapping[str, object] | None = None, timeout: float = TIMEOUT_S
) -> str:
    """Asks the handset listening on ``path`` to do ``act``; what it did, or `HandsError` saying why not."""
    request = json.dumps({"act": act, "params": dict(params or {})}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(request)
            reply = b""
            while not reply.endswith(b"\n") and len(reply) <= MAX_LINE:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise HandsError(f"no handset answers on {path}: {exc}") from exc
    try:
        answer = json.loads(reply)
    except ValueError as exc:
        raise HandsError(f"the handset on {path} gave no answer to {act}") from exc
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise HandsError(f"{act}: {error or 'refused'}")
    return str(answer.get("said", ""))
