"""The window hierarchy: nodes with bounds, and the XML that ``uiautomator dump`` writes.

One tree serves the Setup Wizard (which builds it), the screenshot renderer
(which draws it) and the uiautomator2 server (which parses the XML back and
matches selectors on it), so what a test selects is exactly what a screenshot
shows. Two dialects: the platform's ``uiautomator dump`` (attributes as in AOSP
``frameworks/testing/uiautomator/.../AccessibilityNodeInfoDumper.java``) and the
uiautomator2 server's, which adds ``visible-to-user``, ``editable``,
``drawing-order``, ``hint`` and ``display-id`` and indents.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

XML_HEADER = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
Dialect = Literal["uiautomator", "u2"]

_BOUNDS = re.compile(r"^\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]$")
# Characters XML 1.0 cannot carry; the dumpers write "." instead (stripInvalidXMLChars).
_INVALID_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufddf\ufffe\uffff]"
)
_LAYOUT_CLASSES = frozenset(
    {
        "android.widget.FrameLayout",
        "android.widget.LinearLayout",
        "android.widget.RelativeLayout",
        "android.widget.ScrollView",
        "android.view.ViewGroup",
        "android.view.View",
    }
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """A rectangle in screen pixels, right and bottom exclusive (``android.graphics.Rect``)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[int, int]:
        return (self.left + self.right) // 2, (self.top + self.bottom) // 2

    @property
    def empty(self) -> bool:
        return self.right <= self.left or self.bottom <= self.top

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom

    def intersect(self, other: Bounds) -> Bounds:
        """The overlap (possibly empty) of two rectangles."""
        return Bounds(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )

    def shifted(self, dy: int) -> Bounds:
        return Bounds(self.left, self.top + dy, self.right, self.bottom + dy)

    def short(self) -> str:
        """``[left,top][right,bottom]``, as ``Rect.toShortString()`` writes it."""
        return f"[{self.left},{self.top}][{self.right},{self.bottom}]"

    @classmethod
    def parse(cls, text: str) -> Bounds:
        match = _BOUNDS.match(text.strip())
        if not match:
            raise ValueError(f"bounds {text!r} is not [left,top][right,bottom]")
        left, top, right, bottom = (int(g) for g in match.groups())
        return cls(left, top, right, bottom)


@dataclass(frozen=True, slots=True)
class Tap:
    """What touching a node does in the model (never serialized): ``kind`` and its argument."""

    kind: str  # action | toggle | check | focus | network | language | app
    arg: str = ""


@dataclass(slots=True, eq=False)
class Node:
    """One accessibility node, with the attributes a dump carries."""

    cls: str
    bounds: Bounds
    package: str = ""
    text: str = ""
    resource_id: str = ""
    content_desc: str = ""
    checkable: bool = False
    checked: bool = False
    clickable: bool = False
    enabled: bool = True
    focusable: bool = False
    focused: bool = False
    scrollable: bool = False
    long_clickable: bool = False
    password: bool = False
    selected: bool = False
    hint: str = ""
    index: int = 0
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)
    tap: Tap | None = field(default=None, repr=False)
    role: str = field(default="", repr=False)  # how the renderer draws it: title, primary, switch...
    text_px: int = field(default=0, repr=False)  # font size the layout wrapped the text with
    frame: Bounds | None = field(default=None, repr=False)  # unclipped geometry inside a scrolled view
    align: str = field(default="", repr=False)  # "center" for centred text

    def add(self, child: Node) -> Node:
        """Appends ``child`` (taking this node's package if it has none) and returns it."""
        child.index = len(self.children)
        child.parent = self
        if not child.package:
            child.package = self.package
        self.children.append(child)
        return child

    def walk(self) -> Iterator[Node]:
        """This node and its descendants in document order (pre-order), as UiAutomator traverses them."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    @property
    def editable(self) -> bool:
        return self.cls.endswith("EditText")


def _clean(value: str) -> str:
    return _INVALID_XML.sub(".", value)


def _attributes(node: Node, dialect: Dialect) -> dict[str, str]:
    def flag(value: bool) -> str:
        return "true" if value else "false"

    attrs = {
        "index": str(node.index),
        "text": _clean(node.text),
        "resource-id": _clean(node.resource_id),
        "class": node.cls,
        "package": node.package,
        "content-desc": _clean(node.content_desc),
        "checkable": flag(node.checkable),
        "checked": flag(node.checked),
        "clickable": flag(node.clickable),
        "enabled": flag(node.enabled),
        "focusable": flag(node.focusable),
        "focused": flag(node.focused),
        "scrollable": flag(node.scrollable),
        "long-clickable": flag(node.long_clickable),
        "password": flag(node.password),
        "selected": flag(node.selected),
    }
    if dialect == "u2":
        attrs["visible-to-user"] = "true"
        attrs["bounds"] = node.bounds.short()
        attrs["editable"] = flag(node.editable)
        attrs["drawing-order"] = str(node.index + 1)
        attrs["hint"] = _clean(node.hint)
        attrs["display-id"] = "0"
    else:
        attrs["bounds"] = node.bounds.short()
    return attrs


def to_xml(
    root: Node | None, *, dialect: Dialect = "uiautomator", rotation: int = 0, max_depth: int = 1000
) -> str:
    """The dump of ``root``'s window: one line for ``uiautomator dump``, indented for the u2 server.

    ``max_depth`` counts levels below the window root, as the u2 server's ``maxDepth``.
    """
    hierarchy = ET.Element("hierarchy", {"rotation": str(rotation)})
    if root is not None:
        _append(hierarchy, root, dialect, max_depth)
    if dialect == "u2":
        ET.indent(hierarchy, space="  ")
    body = ET.tostring(hierarchy, encoding="unicode", short_empty_elements=True)
    return XML_HEADER + ("\r\n" if dialect == "u2" else "") + body


def _append(parent: ET.Element, node: Node, dialect: Dialect, depth: int) -> None:
    element = ET.SubElement(parent, "node", _attributes(node, dialect))
    if depth > 0:
        for child in node.children:
            _append(element, child, dialect, depth - 1)


def parse_xml(text: str) -> Node | None:
    """The first window root of a dump (either dialect); None when the hierarchy is empty.

    Raises ValueError for text that is not a dump, naming what is wrong.
    """
    try:
        # The dump comes from the handset's own Screen, not from traffic; expat refuses entity bombs anyway.
        element = ET.fromstring(text.encode("utf-8"))  # noqa: S314
    except ET.ParseError as exc:
        raise ValueError(f"window hierarchy is not XML: {exc}") from exc
    if element.tag != "hierarchy":
        raise ValueError(f"window hierarchy root is <{element.tag}>, expected <hierarchy>")
    roots = [child for child in element if child.tag == "node"]
    return _node(roots[0], None) if roots else None


def _node(element: ET.Element, parent: Node | None) -> Node:
    a = element.attrib

    def flag(name: str) -> bool:
        return a.get(name) == "true"

    node = Node(
        cls=a.get("class", ""),
        bounds=Bounds.parse(a.get("bounds", "[0,0][0,0]")),
        package=a.get("package", ""),
        text=a.get("text", ""),
        resource_id=a.get("resource-id", ""),
        content_desc=a.get("content-desc", ""),
        checkable=flag("checkable"),
        checked=flag("checked"),
        clickable=flag("clickable"),
        enabled=flag("enabled"),
        focusable=flag("focusable"),
        focused=flag("focused"),
        scrollable=flag("scrollable"),
        long_clickable=flag("long-clickable"),
        password=flag("password"),
        selected=flag("selected"),
        hint=a.get("hint", ""),
        index=_int(a.get("index", "0")),
        parent=parent,
    )
    node.children = [_node(child, node) for child in element if child.tag == "node"]
    return node


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def compressed(root: Node) -> Node:
    """A copy without the layout-only containers, as ``setCompressedLayoutHeirarchy(true)`` dumps.

    A container is dropped when it is not important for accessibility (no text
    or description, takes no input; an id does not count, as in
    ``View.isImportantForAccessibility``); its children move up to its parent
    and are re-indexed.
    """
    copy = _copy(root)
    copy.children = []
    for child in _kept_children(root):
        copy.add(compressed(child))
    return copy


def _kept_children(node: Node) -> Iterator[Node]:
    for child in node.children:
        if _layout_only(child):
            yield from _kept_children(child)
        else:
            yield child


def _layout_only(node: Node) -> bool:
    return (
        node.cls in _LAYOUT_CLASSES
        and not (node.text or node.content_desc)
        and not (node.clickable or node.checkable or node.scrollable or node.focusable or node.long_clickable)
    )


def _copy(node: Node) -> Node:
    return replace(node, children=[], parent=None)
