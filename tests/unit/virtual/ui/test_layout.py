"""Layout invariants on every screen of every flavour: geometry a real dump would have."""

from __future__ import annotations

import itertools

import pytest

from phonehome.virtual.ui import SetupWizard, flavour_names, load_flavour
from phonehome.virtual.ui.hierarchy import Bounds, Node, parse_xml

SCREENS = [(f, s.name) for f in flavour_names() for s in load_flavour(f).screens] + [
    (f, "launcher") for f in flavour_names()
]


def window(flavour: str, screen: str) -> tuple[SetupWizard, Node]:
    w = SetupWizard(flavour, start=None if screen == "launcher" else screen, time_scale=1000)
    if screen == "launcher":
        w = SetupWizard(flavour, start="done")
        w.press_key("enter")  # no field: nothing
        done = next(n for n in w.layout().root.walk() if n.tap and n.tap.arg == "finish")
        w.tap(*done.bounds.center)
    root = parse_xml(w.hierarchy_xml())
    assert root is not None
    return w, root


def inside(inner: Bounds, outer: Bounds) -> bool:
    return (
        outer.left <= inner.left
        and outer.top <= inner.top
        and inner.right <= outer.right
        and inner.bottom <= outer.bottom
    )


@pytest.mark.parametrize(("flavour", "screen"), SCREENS)
def test_every_node_lies_on_the_display_and_inside_its_parent(flavour: str, screen: str) -> None:
    w, root = window(flavour, screen)
    width, height = w.display_size()
    for node in root.walk():
        assert inside(node.bounds, Bounds(0, 0, width, height)), node
        assert not node.bounds.empty, node
        if node.parent is not None:
            assert inside(node.bounds, node.parent.bounds), (node, node.parent)


@pytest.mark.parametrize(("flavour", "screen"), SCREENS)
def test_texts_never_overlap_each_other(flavour: str, screen: str) -> None:
    _, root = window(flavour, screen)
    texts = [n for n in root.walk() if n.text and not n.children]
    for a, b in itertools.combinations(texts, 2):
        assert a.bounds.intersect(b.bounds).empty, (a.text, b.text)


@pytest.mark.parametrize(("flavour", "screen"), SCREENS)
def test_every_control_is_labelled(flavour: str, screen: str) -> None:
    """No NAF nodes: what takes a touch has a text or description, itself or below it (the dumper's nafCheck)."""
    _, root = window(flavour, screen)
    for node in root.walk():
        if node.clickable and node.cls != "android.widget.EditText":
            assert any(n.text or n.content_desc for n in node.walk()), node


@pytest.mark.parametrize(("flavour", "screen"), SCREENS)
def test_the_focused_activity_belongs_to_the_package_on_screen(flavour: str, screen: str) -> None:
    w, root = window(flavour, screen)
    package, activity = w.focused_activity()
    assert root.package == package
    assert "." in activity
    assert not activity.startswith(".")


def test_scrolled_out_nodes_leave_the_tree_and_partly_visible_ones_are_clipped() -> None:
    w = SetupWizard("oem", start="services")
    before = parse_xml(w.hierarchy_xml())
    assert before is not None
    scroll = next(n for n in before.walk() if n.scrollable)
    assert not any(n.resource_id.endswith("btn_accept") for n in before.walk())
    w.swipe(540, scroll.bounds.bottom - 10, 540, scroll.bounds.top + 10)
    w.swipe(540, scroll.bounds.bottom - 10, 540, scroll.bounds.top + 10)
    after = parse_xml(w.hierarchy_xml())
    assert after is not None
    assert any(n.resource_id.endswith("btn_accept") for n in after.walk())
    assert not any(n.resource_id.endswith("cb_location") for n in after.walk())
    for node in next(n for n in after.walk() if n.scrollable).walk():
        assert inside(node.bounds, scroll.bounds)


def test_a_page_that_fits_is_not_scrollable() -> None:
    root = parse_xml(SetupWizard("aosp").hierarchy_xml())
    assert root is not None
    assert not any(n.scrollable for n in root.walk())
