"""uiautomator2 selectors: the mask-based dicts of ``uiautomator2._selector.Selector``, matched on a tree.

Semantics follow ``androidx.test.uiautomator.UiSelector`` as the u2 server
builds it (``Selector.toUiSelector``): a field counts only when its mask bit is
set; ``*Matches`` are Java regexes matching the whole value; ``index`` is the
position among siblings; ``instance`` picks the n-th match in traversal order;
``child`` searches below each match, ``sibling`` (``fromParent``) below its
parent. Selectors come off the network, so every field is type-checked and a
bad one raises `SelectorError` (a JSON-RPC "invalid params"), never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from phonehome.virtual.ui.hierarchy import Node

# name -> (mask bit, type); values from uiautomator2._selector.Selector and the server's Selector.java.
FIELDS: dict[str, tuple[int, type]] = {
    "text": (0x01, str),
    "textContains": (0x02, str),
    "textMatches": (0x04, str),
    "textStartsWith": (0x08, str),
    "className": (0x10, str),
    "classNameMatches": (0x20, str),
    "description": (0x40, str),
    "descriptionContains": (0x80, str),
    "descriptionMatches": (0x0100, str),
    "descriptionStartsWith": (0x0200, str),
    "checkable": (0x0400, bool),
    "checked": (0x0800, bool),
    "clickable": (0x1000, bool),
    "longClickable": (0x2000, bool),
    "scrollable": (0x4000, bool),
    "enabled": (0x8000, bool),
    "focusable": (0x010000, bool),
    "focused": (0x020000, bool),
    "selected": (0x040000, bool),
    "packageName": (0x080000, str),
    "packageNameMatches": (0x100000, str),
    "resourceId": (0x200000, str),
    "resourceIdMatches": (0x400000, str),
    "index": (0x800000, int),
    "instance": (0x01000000, int),
}
MAX_CHAIN = 16
MAX_PATTERN = 4096


class SelectorError(ValueError):
    """A selector that cannot be used: wrong type, unknown field, too deep."""


class PatternError(ValueError):
    """A ``*Matches`` value that is not a valid regex (Java: ``PatternSyntaxException``)."""


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector: node tests, an optional instance, and ``child``/``sibling`` steps after it."""

    tests: tuple[Callable[[Node], bool], ...]
    instance: int | None
    chain: tuple[tuple[str, Selector], ...]
    text: str  # for error messages: UiSelector[TEXT=..., ...]


def parse(raw: object, depth: int = 0) -> Selector:
    """Validates a selector dict off the wire; raises SelectorError or PatternError naming the field."""
    if not isinstance(raw, Mapping):
        raise SelectorError(f"a selector must be an object, got {type(raw).__name__}")
    if depth > MAX_CHAIN:
        raise SelectorError(f"selector nests deeper than {MAX_CHAIN} child/sibling steps")
    unknown = sorted(
        str(k)
        for k in raw
        if k not in FIELDS and k not in ("mask", "childOrSibling", "childOrSiblingSelector")
    )
    if unknown:
        raise SelectorError(f"unknown selector field(s): {', '.join(unknown)}")
    mask = raw.get("mask")
    if mask is None:
        # Not uiautomator2 (which always sends a mask): take the fields that are present.
        mask = sum(FIELDS[k][0] for k in raw if k in FIELDS)
    if not isinstance(mask, int) or isinstance(mask, bool):
        raise SelectorError(f"selector mask must be an integer, got {mask!r}")
    tests: list[Callable[[Node], bool]] = []
    described: list[str] = []
    instance = None
    for name, (bit, kind) in FIELDS.items():
        if not mask & bit:
            continue
        if name not in raw:
            raise SelectorError(f"selector mask sets {name} but the field is missing")
        value = raw[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SelectorError(f"selector field {name} must be {kind.__name__}, got {value!r}")
        described.append(f"{_upper(name)}={value}")
        if name == "instance":
            instance = value if isinstance(value, int) else None  # validated above; narrows the type
            if instance is None or instance < 0:
                raise SelectorError(f"selector instance must be >= 0, got {value}")
        else:
            tests.append(_test(name, value))
    chain = _chain(raw, depth)
    text = "UiSelector[" + ", ".join(described) + "]"
    return Selector(tuple(tests), instance, chain, text)


def _chain(raw: Mapping[object, object], depth: int) -> tuple[tuple[str, Selector], ...]:
    relations = raw.get("childOrSibling") or []
    selectors = raw.get("childOrSiblingSelector") or []
    if not isinstance(relations, list) or not isinstance(selectors, list):
        raise SelectorError("childOrSibling and childOrSiblingSelector must be lists")
    steps = []
    for relation, sub in zip(relations, selectors, strict=False):
        if not isinstance(relation, str) or relation.lower() not in ("child", "sibling"):
            raise SelectorError(f"childOrSibling entries must be 'child' or 'sibling', got {relation!r}")
        steps.append((relation.lower(), parse(sub, depth + 1)))
    if len(steps) > MAX_CHAIN:
        raise SelectorError(f"selector has more than {MAX_CHAIN} child/sibling steps")
    return tuple(steps)


def _upper(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _regex(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(f"{exc} in pattern {pattern!r}") from exc


# selector field -> (node attribute, comparison)
_STRINGS = {
    "text": ("text", "is"),
    "textContains": ("text", "contains"),
    "textMatches": ("text", "matches"),
    "textStartsWith": ("text", "startswith"),
    "className": ("cls", "is"),
    "classNameMatches": ("cls", "matches"),
    "description": ("content_desc", "is"),
    "descriptionContains": ("content_desc", "contains"),
    "descriptionMatches": ("content_desc", "matches"),
    "descriptionStartsWith": ("content_desc", "startswith"),
    "packageName": ("package", "is"),
    "packageNameMatches": ("package", "matches"),
    "resourceId": ("resource_id", "is"),
    "resourceIdMatches": ("resource_id", "matches"),
}


def _test(name: str, value: object) -> Callable[[Node], bool]:
    if name in _STRINGS:
        attr, how = _STRINGS[name]
        return _string_test(attr, how, str(value))
    attr = "long_clickable" if name == "longClickable" else name  # index and the boolean flags
    return lambda n: getattr(n, attr) == value


def _string_test(attr: str, how: str, value: str) -> Callable[[Node], bool]:
    if how == "contains":
        return lambda n: value in getattr(n, attr)
    if how == "startswith":
        return lambda n: str(getattr(n, attr)).startswith(value)
    if how == "matches":
        pattern = _regex(value)
        return lambda n: pattern.fullmatch(getattr(n, attr)) is not None
    return lambda n: getattr(n, attr) == value


def find_all(root: Node | None, selector: Selector) -> list[Node]:
    """Every node ``selector`` designates, in traversal order (one at most when it names an instance)."""
    if root is None:
        return []
    found = _stage(root.walk(), selector)
    for relation, sub in selector.chain:
        scopes: list[Node] = []
        for node in found:
            scope = node if relation == "child" else node.parent or node
            scopes.extend(_descendants(scope))
        found = _stage(_unique(scopes), sub)
    return found


def find(root: Node | None, selector: Selector) -> Node | None:
    found = find_all(root, selector)
    return found[0] if found else None


def _stage(candidates: Iterator[Node] | list[Node], selector: Selector) -> list[Node]:
    matches = [n for n in candidates if all(test(n) for test in selector.tests)]
    if selector.instance is not None:
        return matches[selector.instance : selector.instance + 1]
    return matches


def _descendants(node: Node) -> Iterator[Node]:
    walk = node.walk()
    next(walk)
    return walk


def _unique(nodes: list[Node]) -> list[Node]:
    seen: set[int] = set()
    out = []
    for node in nodes:
        if id(node) not in seen:
            seen.add(id(node))
            out.append(node)
    return out
