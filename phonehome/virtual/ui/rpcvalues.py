"""Values crossing the uiautomator2 JSON-RPC boundary: Java-style errors, parameter coercion, ``ObjInfo``.

Parameters arrive as JSON from the client; they are coerced the way the Java
server's Jackson mapper would (integral floats truncate, numeric strings
parse, booleans are never numbers) and anything else is `InvalidParams`.
"""

from __future__ import annotations

import math
from typing import Any

from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Node

UI_OBJECT_NOT_FOUND = "androidx.test.uiautomator.UiObjectNotFoundException"
PATTERN_SYNTAX = "java.util.regex.PatternSyntaxException"
UNSUPPORTED = "java.lang.UnsupportedOperationException"


class JavaError(Exception):
    """What the Java server would throw; reported with ``java_class`` as the JSON-RPC error message."""

    def __init__(self, java_class: str, message: str) -> None:
        super().__init__(f"{java_class}: {message}")
        self.java_class = java_class
        self.detail = message


class InvalidParams(ValueError):
    """Parameters of the wrong number or type (JSON-RPC -32602)."""


def obj_info(node: Node) -> dict[str, Any]:
    """``ObjInfo`` as the Java server serializes it (empty strings are Java nulls)."""
    b = node.bounds
    bounds = {"bottom": b.bottom, "left": b.left, "right": b.right, "top": b.top}
    return {
        "bounds": bounds,
        "checkable": node.checkable,
        "checked": node.checked,
        "childCount": len(node.children),
        "className": node.cls,
        "clickable": node.clickable,
        "contentDescription": node.content_desc or None,
        "enabled": node.enabled,
        "focusable": node.focusable,
        "focused": node.focused,
        "longClickable": node.long_clickable,
        "packageName": node.package or None,
        "resourceName": node.resource_id or None,
        "scrollable": node.scrollable,
        "selected": node.selected,
        "text": node.text or None,
        "visibleBounds": dict(bounds),
    }


def as_selector(raw: object) -> sel.Selector:
    try:
        return sel.parse(raw)
    except sel.SelectorError as exc:
        raise InvalidParams(str(exc)) from exc
    except sel.PatternError as exc:
        raise JavaError(PATTERN_SYNTAX, str(exc)) from exc


def as_int(value: object, name: str) -> int:
    """Jackson's coercions: integral floats truncate, numeric strings parse; booleans are refused."""
    if isinstance(value, bool) or value is None:
        raise InvalidParams(f"{name} must be a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and abs(value) < 2**31:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    raise InvalidParams(f"{name} must be a number, got {value!r}")


def as_float(value: object, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise InvalidParams(f"{name} must be a number, got {value!r}")


def as_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidParams(f"{name} must be true or false, got {value!r}")
