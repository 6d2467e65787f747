"""A real ``uiautomator2.Device`` whose JSON-RPC goes to the virtual handset's server logic, not over adb.

Everything of uiautomator2's client runs (selectors, waits, clicks by
coordinates, scrolling, dumps, screenshots); only the HTTP hop is replaced by
`phonehome.virtual.uiautomator.UiAutomatorServer.rpc`, with the same mapping
of Java exceptions that uiautomator2's own ``_jsonrpc_call`` applies.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uiautomator2 as u2
from uiautomator2.exceptions import RPCUnknownError, UiObjectNotFoundError

from phonehome.virtual.screen import Screen
from phonehome.virtual.uiautomator import UiAutomatorServer


class VirtualU2(u2.Device):  # type: ignore[misc]
    """``uiautomator2.Device`` over a `Screen` (no adb, no server process)."""

    def __init__(self, screen: Screen) -> None:
        self.server = UiAutomatorServer(screen)
        self.server.automation.poll_s = 0.01
        self._debug = False
        self.broken: Exception | None = None
        """Set to make every RPC fail with it (a device that went away)."""

    def jsonrpc_call(self, method: str, params: Any = None, timeout: float = 10) -> Any:
        if self.broken is not None:
            raise self.broken
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        answer = asyncio.run(self.server.rpc(body))
        if "error" in answer:
            code, message = answer["error"].get("code"), answer["error"].get("message", "")
            if "UiObjectNotFoundException" in message:
                raise UiObjectNotFoundError(code, message, params)
            raise RPCUnknownError(f"Unknown RPC error: {code} {message}", params, answer["error"].get("data"))
        return answer["result"]

    def stop_uiautomator(self, wait: bool = True) -> None:
        pass
