"""The uiautomator2 calls a scenario makes, each with a deadline, and counted.

`Ui` wraps a ``uiautomator2.Device`` (from the device layer's
`phonehome.device.UiSession`): one method per gesture a screen map can ask
for. It counts the JSON-RPC calls that reach the handset, per method, so a
benchmark can say how many calls a wizard screen costs. A selector that
never shows within its deadline raises `phonehome.scenario.model.StepFailed`
naming it; anything else (a device gone, a server that died) propagates.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from phonehome.scenario.hierarchy import Hierarchy
from phonehome.scenario.model import StepFailed

Selector = Mapping[str, Any]
WAIT_S = 10.0
"""How long a control may take to show (a real wizard animates between screens)."""


@contextlib.contextmanager
def _not_found(message: str) -> Iterator[None]:
    """uiautomator2's UiObjectNotFoundError as a step failure naming the selector."""
    from uiautomator2.exceptions import UiObjectNotFoundError  # noqa: PLC0415  (heavy; only walks need it)

    try:
        yield
    except UiObjectNotFoundError:
        raise StepFailed(message) from None


def shown(selector: Selector) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in selector.items())


class Ui:
    """uiautomator2 through one device object; ``calls``/``methods`` count the RPCs sent."""

    def __init__(self, device: Any, *, wait_s: float = WAIT_S) -> None:
        self.device = device
        self.wait_s = wait_s
        self.calls = 0
        self.methods: Counter[str] = Counter()
        original = device.jsonrpc_call

        def counted(method: str, params: Any = None, timeout: float = 10) -> Any:
            self.calls += 1
            self.methods[method] += 1
            return original(method, params, timeout)

        # On this object only: uiautomator2's JSON-RPC wrapper calls self.jsonrpc_call for every RPC.
        device.jsonrpc_call = counted

    def dump(self) -> Hierarchy:
        """One window hierarchy dump (one RPC), parsed."""
        return Hierarchy.parse(self.device.dump_hierarchy())

    def exists(self, selector: Selector) -> bool:
        return bool(self.device(**selector).exists)

    def wait(self, selector: Selector, timeout: float | None = None) -> bool:
        return bool(self.device(**selector).wait(timeout=self.wait_s if timeout is None else timeout))

    def click(self, selector: Selector, timeout: float | None = None) -> None:
        """Waits for the control, then clicks its centre (what a finger does): uiautomator2's own click,
        three RPCs (waitForExists, objInfo, click)."""
        seconds = self.wait_s if timeout is None else timeout
        with _not_found(f"no control {shown(selector)} within {seconds:g} s"):
            self.device(**selector).click(timeout=seconds)

    def checked(self, selector: Selector) -> bool:
        info = self.device(**selector).info
        if not info.get("checkable"):
            raise StepFailed(f"{shown(selector)} is not a checkable control (a switch or a check box)")
        return bool(info.get("checked"))

    def set_text(self, selector: Selector, text: str) -> None:
        with _not_found(f"no text field {shown(selector)} within {self.wait_s:g} s"):
            self.device(**selector).set_text(text, timeout=self.wait_s)

    def scroll_to(self, container: Selector, selector: Selector) -> bool:
        """Scrolls ``container`` until ``selector`` shows; False when it never does."""
        if self.exists(selector):
            return True
        return bool(self.device(**container).scroll.to(**selector))

    def press(self, key: str) -> None:
        self.device.press(key)

    def screenshot(self, path: Path) -> None:
        self.device.screenshot(str(path))

    def hierarchy_xml(self) -> str:
        return str(self.device.dump_hierarchy())
