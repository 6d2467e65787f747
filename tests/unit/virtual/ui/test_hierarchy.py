"""The node tree and the dump XML: format, round trip, compression, depth."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.virtual.ui.hierarchy import Bounds, Node, compressed, parse_xml, to_xml

PLATFORM_ORDER = [
    "index", "text", "resource-id", "class", "package", "content-desc", "checkable", "checked", "clickable",
    "enabled", "focusable", "focused", "scrollable", "long-clickable", "password", "selected", "bounds",
]  # fmt: skip


def sample() -> Node:
    root = Node("android.widget.FrameLayout", Bounds(0, 0, 1080, 2400), package="com.example")
    layout = root.add(Node("android.widget.LinearLayout", Bounds(0, 0, 1080, 2400)))
    layout.add(
        Node(
            "android.widget.TextView",
            Bounds(63, 100, 1017, 200),
            text="Hi & <there>",
            resource_id="com.example:id/title",
        )
    )
    layout.add(
        Node(
            "android.widget.Switch",
            Bounds(900, 300, 1017, 380),
            checkable=True,
            checked=True,
            resource_id="com.example:id/sw",
        )
    )
    layout.add(
        Node(
            "android.widget.Button",
            Bounds(800, 2200, 1017, 2300),
            text="Start",
            clickable=True,
            focusable=True,
        )
    )
    return root


def test_platform_dump_has_the_attributes_of_uiautomator_dump_in_order() -> None:
    xml = to_xml(sample())
    assert xml.startswith(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"0\"><node "
    )
    assert "\n" not in xml
    first = re.search(r"<node ([^>]*?)/?>", xml)
    assert first is not None
    names = re.findall(r'([a-z-]+)="', first.group(1))
    assert names == PLATFORM_ORDER


def test_u2_dialect_adds_the_u2_server_attributes_and_indents() -> None:
    xml = to_xml(sample(), dialect="u2")
    assert "\n" in xml
    for name in ("visible-to-user", "editable", "drawing-order", "hint", "display-id"):
        assert f' {name}="' in xml


def test_round_trip_keeps_every_attribute_and_the_tree() -> None:
    original = sample()
    parsed = parse_xml(to_xml(original))
    assert parsed is not None
    for a, b in zip(original.walk(), parsed.walk(), strict=True):
        assert (a.cls, a.bounds, a.text, a.resource_id, a.checked, a.clickable, a.index, a.package or "com.example") == (
            b.cls, b.bounds, b.text, b.resource_id, b.checked, b.clickable, b.index, b.package or "com.example")  # fmt: skip
        assert len(a.children) == len(b.children)


def test_characters_xml_cannot_carry_become_dots_as_the_dumper_writes_them() -> None:
    root = Node("android.widget.TextView", Bounds(0, 0, 10, 10), text="a\x00b\x1fc")
    parsed = parse_xml(to_xml(root))
    assert parsed is not None
    assert parsed.text == "a.b.c"


def test_empty_window_is_the_empty_hierarchy_uiautomator2_recognises() -> None:
    assert to_xml(None, dialect="u2").endswith('<hierarchy rotation="0" />')
    assert parse_xml(to_xml(None)) is None


def test_max_depth_cuts_the_tree_below_that_level() -> None:
    xml = to_xml(sample(), max_depth=1)
    assert "LinearLayout" in xml
    assert "TextView" not in xml


def test_compression_drops_layout_only_containers_and_keeps_their_children() -> None:
    root = compressed(sample())
    assert [n.cls for n in root.children] == [
        "android.widget.TextView",
        "android.widget.Switch",
        "android.widget.Button",
    ]
    assert [n.index for n in root.children] == [0, 1, 2]


def test_walk_is_document_order() -> None:
    assert [n.text for n in sample().walk() if n.text] == ["Hi & <there>", "Start"]


@pytest.mark.parametrize("text", ["", "[1,2][3]", "[a,b][c,d]", "1,2,3,4"])
def test_bounds_that_are_not_rect_short_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bounds"):
        Bounds.parse(text)


@pytest.mark.parametrize("text", ["not xml", "<html/>", "<hierarchy><node bounds='x'/></hierarchy>"])
def test_text_that_is_not_a_dump_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"hierarchy|bounds"):
        parse_xml(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_round_trips_through_the_dump_except_invalid_characters(text: str) -> None:
    root = Node("android.widget.TextView", Bounds(0, 0, 1, 1), text=text, content_desc=text)
    parsed = parse_xml(to_xml(root))
    assert parsed is not None
    assert len(parsed.text) == len(text)
    assert parsed.content_desc == parsed.text
