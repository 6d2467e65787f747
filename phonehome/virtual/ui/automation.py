"""The uiautomator2 server's JSON-RPC methods (``AutomatorService``) over a `Screen`.

Only the `Screen` protocol is used: the hierarchy is parsed back from the
dump, selectors are matched on it and actions become taps, swipes, keys and
typed text, exactly what a real device's input would receive. Results have
the shapes the Java server returns (``ObjInfo``, ``DeviceInfo`` as Jackson
serializes them); failures raise `JavaError` with the Java exception class
uiautomator2 maps to its own exceptions, or `InvalidParams`.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phonehome.virtual.screen import Screen
from phonehome.virtual.ui import keys
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.display import Display
from phonehome.virtual.ui.hierarchy import Node, compressed, parse_xml, to_xml
from phonehome.virtual.ui.rpcvalues import (
    UI_OBJECT_NOT_FOUND,
    UNSUPPORTED,
    InvalidParams,
    JavaError,
    as_bool,
    as_float,
    as_int,
    as_selector,
    obj_info,
)
from phonehome.virtual.ui.uiobjects import (
    Locator,
    UiObjects,
    child_locator,
    instance_locator,
    selector_locator,
)

MAX_WAIT_S = 600.0
MAX_SWIPES = 100


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What ``deviceInfo`` reports beyond the screen itself."""

    product_name: str = "phonehome_virtual"
    sdk_int: int = 30
    density_dpi: int = 420


Method = Callable[..., Any]


class Automation:
    """One device's automation service: the screen, the clipboard, screen power and a pending touch."""

    def __init__(
        self, screen: Screen, device: DeviceDescription | None = None, *, poll_s: float = 0.05
    ) -> None:
        self.screen = screen
        self.device = device or DeviceDescription()
        self.poll_s = poll_s
        self.clipboard: str | None = None
        self.screen_on = True
        self._touch: tuple[int, int] | None = None
        self.objects = UiObjects()
        self.methods: dict[str, Method] = {name: getattr(self, name) for name in RPC_METHODS}

    async def call(self, name: str, params: list[Any]) -> Any:
        """Runs RPC method ``name``; KeyError when there is none, InvalidParams for a wrong arity."""
        method = self.methods[name]
        try:
            inspect.signature(method).bind(*params)
        except TypeError as exc:
            raise InvalidParams(f"{name}: {exc}") from exc
        result = method(*params)
        if inspect.isawaitable(result):
            return await result
        return result

    # -- helpers ---------------------------------------------------------------------------------------

    def _tree(self) -> Node | None:
        return parse_xml(self.screen.hierarchy_xml())

    def _locate(self, raw: object) -> tuple[Locator, str]:
        """A selector dict, or the name of a UiObject handed out earlier -> (locator, its description)."""
        if isinstance(raw, str):
            locator = self.objects.get(raw)
            if locator is None:
                raise JavaError(UI_OBJECT_NOT_FOUND, f"UiObject {raw} not found!")
            return locator, f"UiObject {raw}"
        selector = as_selector(raw)
        return selector_locator(selector), selector.text

    def _find(self, raw: object) -> Node:
        locator, description = self._locate(raw)
        node = locator(self._tree())
        if node is None:
            raise JavaError(UI_OBJECT_NOT_FOUND, description)
        return node

    def _tap_node(self, node: Node) -> None:
        x, y = node.bounds.center
        self.screen.tap(x, y)

    # -- device ----------------------------------------------------------------------------------------

    def ping(self) -> str:
        return "pong"

    def deviceInfo(self) -> dict[str, Any]:
        width, height = self.screen.display_size()
        dpi = self.device.density_dpi
        return {
            "currentPackageName": self.screen.focused_activity()[0],
            "displayWidth": width,
            "displayHeight": height,
            "displayRotation": 0,
            "displaySizeDpX": round(width * 160 / dpi),
            "displaySizeDpY": round(height * 160 / dpi),
            "productName": self.device.product_name,
            "naturalOrientation": True,
            "screenOn": self.isScreenOn(),
            "sdkInt": self.device.sdk_int,
        }

    def dumpWindowHierarchy(self, compress: object = False, max_depth: object = 50, *_: object) -> str:
        compress = as_bool(compress, "compressed")
        depth = (
            50 if isinstance(max_depth, str) else as_int(max_depth, "maxDepth")
        )  # (bool, filename) overload
        root = self._tree()
        if root is not None and compress:
            root = compressed(root)
        return to_xml(root, dialect="u2", max_depth=max(depth, 0))

    async def takeScreenshot(self, scale: object = 1.0, quality: object = 80) -> str:
        factor = as_float(scale, "scale")
        if not 0 < factor <= 4:
            raise InvalidParams(f"takeScreenshot: scale must be in (0, 4], got {factor}")
        level = min(max(as_int(quality, "quality"), 1), 100)
        jpeg = await asyncio.to_thread(self.screen.screenshot, "jpeg", factor, level)
        return base64.b64encode(jpeg).decode("ascii")

    def wakeUp(self) -> None:
        if isinstance(self.screen, Display):
            self.screen.wake()
        self.screen_on = True

    def sleep(self) -> None:
        if isinstance(self.screen, Display):
            self.screen.sleep()
        self.screen_on = False

    def isScreenOn(self) -> bool:
        if isinstance(self.screen, Display):
            return self.screen.awake
        return self.screen_on

    def freezeRotation(self, freeze: object = True) -> None:
        as_bool(freeze, "freeze")

    def setOrientation(self, direction: object) -> None:
        if str(direction).lower() not in ("n", "natural"):
            raise JavaError(UNSUPPORTED, "the virtual handset has only its natural orientation")

    def waitForIdle(self, timeout: object = 0) -> None:
        as_int(timeout, "timeout")

    async def waitForWindowUpdate(self, package: object, timeout: object) -> bool:
        before = self.screen.hierarchy_xml()
        return await self._until(lambda: self.screen.hierarchy_xml() != before, as_int(timeout, "timeout"))

    def openNotification(self) -> bool:
        return False  # the virtual handset has no notification shade

    def openQuickSettings(self) -> bool:
        return False

    def getLastToast(self, *_: object) -> None:
        return None

    def clearLastToast(self) -> bool:
        return True

    def makeToast(self, text: object, duration: object = 1000) -> bool:
        return True

    def getLastTraversedText(self) -> None:
        return None

    def clearLastTraversedText(self) -> None:
        return None

    # -- input -----------------------------------------------------------------------------------------

    def click(self, first: object, second: object = None, third: object = None) -> bool:
        if isinstance(first, dict) or (isinstance(first, str) and second is None):  # click(selector or name)
            self._tap_node(self._find(first))
            return True
        x, y = as_int(first, "x"), as_int(second, "y")
        if third is not None:
            as_int(third, "milliseconds")  # a long click; the model has no long-press actions
        if x < 0 or y < 0:
            return False
        self.screen.tap(x, y)
        return True

    def longClick(self, target: object, corner: object = None) -> bool:
        self._tap_node(self._find(target))
        return True

    def swipe(self, *params: object) -> bool:
        if params and isinstance(params[0], dict):  # swipe(selector, dir, [percent,] steps)
            if len(params) not in (3, 4):
                raise InvalidParams("swipe(selector, direction, [percent,] steps)")
            return self._swipe_node(self._find(params[0]), str(params[1]))
        if len(params) != 5:
            raise InvalidParams("swipe(startX, startY, endX, endY, steps)")
        x1, y1, x2, y2, steps = (as_int(p, "swipe") for p in params)
        self.screen.swipe(x1, y1, x2, y2, max(steps, 0) * 5)
        return True

    def drag(self, x1: object, y1: object, x2: object, y2: object, steps: object) -> bool:
        return self.swipe(x1, y1, x2, y2, steps)

    def dragTo(self, target: object, *rest: object) -> bool:
        node = self._find(target)
        if len(rest) == 3:
            x, y = as_int(rest[0], "x"), as_int(rest[1], "y")
        elif len(rest) == 2:
            x, y = self._find(rest[0]).bounds.center
        else:
            raise InvalidParams("dragTo(selector, x, y, steps) or dragTo(selector, destSelector, steps)")
        cx, cy = node.bounds.center
        self.screen.swipe(cx, cy, x, y, 300)
        return True

    def swipePoints(self, points: object, steps: object) -> bool:
        if not isinstance(points, list) or len(points) % 2 or len(points) < 4:
            raise InvalidParams("swipePoints(points=[x0, y0, x1, y1, ...], steps)")
        xy = [as_int(p, "points") for p in points]
        for i in range(0, len(xy) - 2, 2):
            self.screen.swipe(xy[i], xy[i + 1], xy[i + 2], xy[i + 3], max(as_int(steps, "steps"), 0) * 5)
        return True

    def injectInputEvent(self, action: object, x: object, y: object, meta: object = 0) -> bool:
        kind, point = as_int(action, "action"), (as_int(x, "x"), as_int(y, "y"))
        if kind == 0:  # ACTION_DOWN
            self._touch = point
        elif kind == 2 and self._touch is not None:  # ACTION_MOVE: the gesture ends where the finger lifts
            return True
        elif kind == 1 and self._touch is not None:  # ACTION_UP
            (x0, y0), self._touch = self._touch, None
            if math.dist((x0, y0), point) < 24:
                self.screen.tap(*point)
            else:
                self.screen.swipe(x0, y0, *point, 300)
        else:
            return False
        return True

    def pressKey(self, name: object) -> bool:
        code = keys.PRESS_KEY_NAMES.get(str(name).lower())
        if code is None:
            return False
        self._press(code)
        return True

    def pressKeyCode(self, code: object, meta: object = 0) -> bool:
        self._press(as_int(code, "keyCode"))
        return True

    def _press(self, code: int) -> None:
        if code == keys.POWER and not isinstance(self.screen, Display):
            self.screen_on = not self.screen_on
        self.screen.press_key(code)

    # -- objects ---------------------------------------------------------------------------------------

    def exist(self, target: object) -> bool:
        return self._locate(target)[0](self._tree()) is not None

    def count(self, target: object) -> int:
        return len(sel.find_all(self._tree(), as_selector(target)))

    def objInfo(self, target: object) -> dict[str, Any]:
        return obj_info(self._find(target))

    def objInfoOfAllInstances(self, target: object) -> list[dict[str, Any]]:
        return [obj_info(n) for n in sel.find_all(self._tree(), as_selector(target))]

    async def waitForExists(self, target: object, timeout: object = 0) -> bool:
        locator = self._locate(target)[0]
        return await self._until(lambda: locator(self._tree()) is not None, as_int(timeout, "timeout"))

    async def waitUntilGone(self, target: object, timeout: object = 0) -> bool:
        locator = self._locate(target)[0]
        return await self._until(lambda: locator(self._tree()) is None, as_int(timeout, "timeout"))

    def childByText(self, collection: object, child: object, text: object, scroll: object = False) -> str:
        wanted = str(text)
        return self._child_by(collection, child, lambda n: n.text == wanted, scroll, f"for text= {wanted!r}")

    def childByDescription(
        self, collection: object, child: object, text: object, scroll: object = False
    ) -> str:
        wanted = str(text)

        def described(node: Node) -> bool:
            return node.content_desc == wanted

        return self._child_by(collection, child, described, scroll, f"for description= {wanted!r}")

    def childByInstance(self, collection: object, child: object, instance: object) -> str:
        locator = instance_locator(as_selector(collection), as_selector(child), as_int(instance, "instance"))
        if locator(self._tree()) is None:
            raise JavaError(UI_OBJECT_NOT_FOUND, f"for instance= {instance}")
        return self.objects.add(locator)

    def _child_by(
        self, collection: object, child: object, test: Callable[[Node], bool], scroll: object, what: str
    ) -> str:
        """``UiCollection.getChildBy*``; with ``scroll`` (``UiScrollable``), scrolls the collection to find it."""
        locator = child_locator(as_selector(collection), as_selector(child), test)
        if as_bool(scroll, "allowScrollSearch"):
            for _ in range(MAX_SWIPES):
                if locator(self._tree()) is not None or not self._scroll(collection, True, True):
                    break
        if locator(self._tree()) is None:
            raise JavaError(UI_OBJECT_NOT_FOUND, what)
        return self.objects.add(locator)

    async def _until(self, condition: Callable[[], bool], timeout_ms: int) -> bool:
        deadline = time.monotonic() + min(max(timeout_ms, 0) / 1000, MAX_WAIT_S)
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)

    def getText(self, target: object) -> str | None:
        return self._find(target).text or None

    def setText(self, target: object, text: object) -> bool:
        node = self._find(target)
        if not node.editable:
            return False
        self._tap_node(node)
        self._erase(len(node.text))
        self.screen.input_text(str(text) if text is not None else "")
        return True

    def clearTextField(self, target: object) -> None:
        node = self._find(target)
        if node.editable:
            self._tap_node(node)
            self._erase(len(node.text))

    def clearInputText(self) -> None:
        focused = sel.find(self._tree(), sel.parse({"focused": True}))
        if focused is not None and focused.editable:
            self._erase(len(focused.text))

    def _erase(self, count: int) -> None:
        """Deletes a field's text as a user would: cursor to the end, then one DEL per character."""
        self.screen.press_key(keys.MOVE_END)
        for _ in range(count):
            self.screen.press_key(keys.DEL)

    def setClipboard(self, label: object, text: object) -> None:
        self.clipboard = None if text is None else str(text)

    def getClipboard(self) -> str | None:
        return self.clipboard

    def pasteClipboard(self) -> None:
        if self.clipboard:
            self.screen.input_text(self.clipboard)

    # -- scrolling -------------------------------------------------------------------------------------

    def _swipe_node(self, node: Node, direction: str, fraction: float = 0.8) -> bool:
        b = node.bounds
        cx, cy = b.center
        dx, dy = round(b.width * fraction / 2), round(b.height * fraction / 2)
        moves = {
            "u": (cx, cy + dy, cx, cy - dy),
            "d": (cx, cy - dy, cx, cy + dy),
            "l": (cx + dx, cy, cx - dx, cy),
            "r": (cx - dx, cy, cx + dx, cy),
        }
        move = moves.get(direction[:1].lower())
        if move is None:
            raise InvalidParams(f"swipe direction must be up, down, left or right, got {direction!r}")
        self.screen.swipe(*move, 300)
        return True

    def _scroll(self, target: object, vertical: object, forward: bool, fraction: float = 0.8) -> bool:
        """One scroll of the scrollable ``target``; True when the window changed (it could scroll)."""
        node = self._find(target)
        before = self.screen.hierarchy_xml()
        if as_bool(vertical, "isVertical"):
            self._swipe_node(node, "up" if forward else "down", fraction)
        else:
            self._swipe_node(node, "left" if forward else "right", fraction)
        return self.screen.hierarchy_xml() != before

    def scrollForward(self, target: object, vertical: object = True, steps: object = 55) -> bool:
        return self._scroll(target, vertical, True)

    def scrollBackward(self, target: object, vertical: object = True, steps: object = 55) -> bool:
        return self._scroll(target, vertical, False)

    def flingForward(self, target: object, vertical: object = True) -> bool:
        return self._scroll(target, vertical, True, 0.95)

    def flingBackward(self, target: object, vertical: object = True) -> bool:
        return self._scroll(target, vertical, False, 0.95)

    def _scroll_all(self, target: object, vertical: object, forward: bool, max_swipes: object) -> bool:
        for _ in range(min(max(as_int(max_swipes, "maxSwipes"), 0), MAX_SWIPES)):
            if not self._scroll(target, vertical, forward):
                break
        return True

    def scrollToEnd(
        self, target: object, vertical: object = True, max_swipes: object = 500, steps: object = 55
    ) -> bool:
        return self._scroll_all(target, vertical, True, max_swipes)

    def scrollToBeginning(
        self, target: object, vertical: object = True, max_swipes: object = 500, steps: object = 55
    ) -> bool:
        return self._scroll_all(target, vertical, False, max_swipes)

    def flingToEnd(self, target: object, vertical: object = True, max_swipes: object = 500) -> bool:
        return self._scroll_all(target, vertical, True, max_swipes)

    def flingToBeginning(self, target: object, vertical: object = True, max_swipes: object = 500) -> bool:
        return self._scroll_all(target, vertical, False, max_swipes)

    def scrollTo(self, target: object, wanted: object, vertical: object = True) -> bool:
        """Scrolls ``target`` forward until ``wanted`` is on screen (UiScrollable.scrollIntoView)."""
        wanted_selector = as_selector(wanted)
        for _ in range(MAX_SWIPES):
            if sel.find(self._tree(), wanted_selector) is not None:
                return True
            if not self._scroll(target, vertical, True):
                return sel.find(self._tree(), wanted_selector) is not None
        return False


# The methods uiautomator2 3.7 calls (grep "jsonrpc." in its sources), by their Java names.
# fmt: off
RPC_METHODS = (
    "ping", "deviceInfo", "dumpWindowHierarchy", "takeScreenshot", "wakeUp", "sleep", "isScreenOn",
    "freezeRotation", "setOrientation", "waitForIdle", "waitForWindowUpdate", "openNotification",
    "openQuickSettings", "getLastToast", "clearLastToast", "makeToast", "getLastTraversedText",
    "clearLastTraversedText", "click", "longClick", "swipe", "drag", "dragTo", "swipePoints",
    "injectInputEvent", "pressKey", "pressKeyCode", "exist", "count", "objInfo", "objInfoOfAllInstances",
    "waitForExists", "waitUntilGone", "getText", "setText", "clearTextField", "clearInputText",
    "setClipboard", "getClipboard", "pasteClipboard", "scrollForward", "scrollBackward", "flingForward",
    "flingBackward", "scrollToEnd", "scrollToBeginning", "flingToEnd", "flingToBeginning", "scrollTo",
    "childByText", "childByDescription", "childByInstance",
)
# fmt: on
