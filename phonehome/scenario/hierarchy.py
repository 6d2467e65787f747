"""A window hierarchy dump, and uiautomator2 selectors matched against it without the device.

The wizard driver decides on ONE dump per screen (a screen may change
between two ``d(...).exists`` calls), so the selectors of the screen maps
are matched here, on the dump's nodes, as UiAutomator's ``UiSelector``
would match them on the device. The dump comes from the handset and is
read as hostile: bounded in size, no DTD, no entities, no network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree

MAX_DUMP = 8 << 20
"""Largest dump read (a busy real screen is ~100 KiB)."""

_EXACT = {
    "text": "text",
    "className": "class",
    "description": "content-desc",
    "packageName": "package",
    "resourceId": "resource-id",
}
_CONTAINS = {"textContains": "text", "descriptionContains": "content-desc"}
_STARTS = {"textStartsWith": "text", "descriptionStartsWith": "content-desc"}
_MATCHES = {
    "textMatches": "text",
    "classNameMatches": "class",
    "descriptionMatches": "content-desc",
    "packageNameMatches": "package",
    "resourceIdMatches": "resource-id",
}
_FLAGS = {
    "checkable": "checkable",
    "checked": "checked",
    "clickable": "clickable",
    "longClickable": "long-clickable",
    "scrollable": "scrollable",
    "enabled": "enabled",
    "focusable": "focusable",
    "focused": "focused",
    "selected": "selected",
}
SELECTOR_KEYS = frozenset([*_EXACT, *_CONTAINS, *_STARTS, *_MATCHES, *_FLAGS, "index", "instance"])
"""The ``UiSelector`` fields a screen map may use (uiautomator2's keyword arguments)."""


class DumpError(ValueError):
    """The handset's dump is not a window hierarchy (empty, too large, not XML)."""


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL)


def _matches(regex: str, value: str) -> bool:
    # UiSelector's *Matches use Java's String.matches: the whole value must match.
    try:
        return _pattern(regex).fullmatch(value) is not None
    except re.error:
        return False


def node_matches(attrs: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    """Whether one node's attributes satisfy every field of ``selector`` (``instance`` aside)."""
    for key, wanted in selector.items():
        if key == "instance":
            continue
        if key in _EXACT:
            ok = attrs.get(_EXACT[key], "") == str(wanted)
        elif key in _CONTAINS:
            ok = str(wanted) in attrs.get(_CONTAINS[key], "")
        elif key in _STARTS:
            ok = attrs.get(_STARTS[key], "").startswith(str(wanted))
        elif key in _MATCHES:
            ok = _matches(str(wanted), attrs.get(_MATCHES[key], ""))
        elif key in _FLAGS:
            ok = attrs.get(_FLAGS[key], "false") == ("true" if wanted else "false")
        elif key == "index":
            ok = attrs.get("index", "") == str(wanted)
        else:
            return False  # a field this matcher does not know never matches: no guessing
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Hierarchy:
    """One dump's nodes, as attribute maps in document order."""

    nodes: tuple[dict[str, str], ...]
    xml: str

    @classmethod
    def parse(cls, xml: str) -> Hierarchy:
        """Raises `DumpError` for anything that is not a bounded XML document."""
        if not isinstance(xml, str) or not xml.strip():
            raise DumpError("the hierarchy dump is empty")
        data = xml.encode("utf-8", errors="replace")
        if len(data) > MAX_DUMP:
            raise DumpError(f"the hierarchy dump is {len(data)} bytes, over the {MAX_DUMP >> 20} MiB read")
        if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
            # A window hierarchy never has a DTD; refusing one is what stops entity expansion (libxml2
            # still expands internal entities in attribute values with resolve_entities off).
            raise DumpError("the hierarchy dump declares a DTD or entities, which a window dump never does")
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
        )
        try:
            root = etree.fromstring(data, parser)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise DumpError(f"the hierarchy dump is not XML: {str(exc)[:200]}") from None
        nodes = tuple(
            {str(k): str(v) for k, v in element.attrib.items()}
            for element in root.iter()
            if isinstance(element.tag, str) and element.tag == "node"
        )
        return cls(nodes, xml)

    def find(self, selector: Mapping[str, Any]) -> list[dict[str, str]]:
        """Every node the selector matches (``instance: N`` keeps only the N-th, from 0)."""
        found = [n for n in self.nodes if node_matches(n, selector)]
        instance = selector.get("instance")
        if isinstance(instance, int) and not isinstance(instance, bool):
            return found[instance : instance + 1]
        return found

    def has(self, selector: Mapping[str, Any]) -> bool:
        return bool(self.find(selector))

    @property
    def packages(self) -> list[str]:
        """The packages on screen, most frequent first (the foreground app leads)."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            package = node.get("package", "")
            if package:
                counts[package] = counts.get(package, 0) + 1
        return sorted(counts, key=lambda p: -counts[p])
