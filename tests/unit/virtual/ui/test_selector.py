"""uiautomator2 selectors, built with uiautomator2's own Selector class, matched on a node tree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uiautomator2._selector import Selector as U2Selector

from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Bounds, Node

PKG = "com.example"


def tree() -> Node:
    root = Node("android.widget.FrameLayout", Bounds(0, 0, 1080, 2400), package=PKG)
    scroll = root.add(
        Node(
            "android.widget.ScrollView",
            Bounds(0, 0, 1080, 2000),
            scrollable=True,
            resource_id=f"{PKG}:id/scroll",
        )
    )
    for i, (title, on) in enumerate([("Use location", True), ("Allow scanning", False)]):
        row = scroll.add(
            Node("android.widget.LinearLayout", Bounds(0, i * 200, 1080, i * 200 + 200), clickable=True)
        )
        row.add(
            Node(
                "android.widget.TextView",
                Bounds(63, i * 200, 800, i * 200 + 100),
                text=title,
                resource_id="android:id/title",
            )
        )
        row.add(Node("android.widget.Switch", Bounds(900, i * 200, 1017, i * 200 + 100), checkable=True, checked=on,
                     resource_id=f"{PKG}:id/toggle{i}", content_desc=f"{title} switch"))  # fmt: skip
    root.add(
        Node(
            "android.widget.Button",
            Bounds(800, 2200, 1017, 2300),
            text="Accept",
            clickable=True,
            resource_id=f"{PKG}:id/accept",
        )
    )
    return root


def matches(**kwargs: Any) -> list[str]:
    return [n.text or n.resource_id for n in sel.find_all(tree(), sel.parse(U2Selector(**kwargs)))]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"text": "Accept"}, ["Accept"]),
        ({"textContains": "low"}, ["Allow scanning"]),
        ({"textMatches": "Use .*"}, ["Use location"]),
        ({"textMatches": "Use"}, []),  # a whole-value match, as Java's Pattern.matches
        ({"textStartsWith": "Allow"}, ["Allow scanning"]),
        ({"className": "android.widget.Switch"}, [f"{PKG}:id/toggle0", f"{PKG}:id/toggle1"]),
        ({"classNameMatches": r".*\.Button"}, ["Accept"]),
        ({"description": "Use location switch"}, [f"{PKG}:id/toggle0"]),
        ({"descriptionContains": "scanning"}, [f"{PKG}:id/toggle1"]),
        ({"descriptionStartsWith": "Allow"}, [f"{PKG}:id/toggle1"]),
        ({"descriptionMatches": ".*location.*"}, [f"{PKG}:id/toggle0"]),
        ({"resourceId": f"{PKG}:id/accept"}, ["Accept"]),
        ({"resourceIdMatches": r".*:id/toggle\d"}, [f"{PKG}:id/toggle0", f"{PKG}:id/toggle1"]),
        ({"checkable": True, "checked": False}, [f"{PKG}:id/toggle1"]),
        ({"scrollable": True}, [f"{PKG}:id/scroll"]),
        ({"packageName": PKG, "clickable": True, "className": "android.widget.Button"}, ["Accept"]),
        ({"packageNameMatches": "com\\..*", "text": "Accept"}, ["Accept"]),
        ({"className": "android.widget.Switch", "instance": 1}, [f"{PKG}:id/toggle1"]),
        ({"className": "android.widget.Switch", "instance": 5}, []),
        ({"resourceId": "android:id/title", "index": 0}, ["Use location", "Allow scanning"]),
        ({"enabled": False}, []),
    ],
)
def test_each_selector_field_matches_as_uiselector_does(kwargs: dict[str, Any], expected: list[str]) -> None:
    assert matches(**kwargs) == expected


def test_child_searches_below_each_match() -> None:
    s = U2Selector(className="android.widget.LinearLayout").child(
        className="android.widget.Switch", checked=True
    )
    assert [n.resource_id for n in sel.find_all(tree(), sel.parse(s))] == [f"{PKG}:id/toggle0"]


def test_sibling_searches_below_the_parent() -> None:
    s = U2Selector(text="Allow scanning").sibling(className="android.widget.Switch")
    assert [n.resource_id for n in sel.find_all(tree(), sel.parse(s))] == [f"{PKG}:id/toggle1"]


def test_a_field_counts_only_when_its_mask_bit_is_set() -> None:
    raw = dict(U2Selector(text="Accept"))
    raw["textContains"] = "nothing like it"  # present, but its bit is not in the mask
    assert [n.text for n in sel.find_all(tree(), sel.parse(raw))] == ["Accept"]


def test_a_selector_without_mask_uses_the_fields_present() -> None:
    assert [n.text for n in sel.find_all(tree(), sel.parse({"text": "Accept"}))] == ["Accept"]


def test_error_text_names_the_fields_as_uiselector_prints_them() -> None:
    assert sel.parse(U2Selector(text="Next", resourceId="x")).text == "UiSelector[TEXT=Next, RESOURCE_ID=x]"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([1, 2], "must be an object"),
        ({"text": 3}, "text must be str"),
        ({"checked": "yes"}, "checked must be bool"),
        ({"instance": True}, "instance must be int"),
        ({"instance": -1}, "instance must be >= 0"),
        ({"mask": "1", "text": "a"}, "mask must be an integer"),
        ({"mask": 1}, "field is missing"),
        ({"colour": "red"}, "unknown selector field"),
        ({"childOrSibling": ["parent"], "childOrSiblingSelector": [{}]}, "'child' or 'sibling'"),
        ({"childOrSibling": "child", "childOrSiblingSelector": []}, "must be lists"),
    ],
)
def test_unusable_selectors_are_refused_with_the_field_named(raw: object, reason: str) -> None:
    with pytest.raises(sel.SelectorError, match=reason):
        sel.parse(raw)


def test_a_bad_regex_is_a_pattern_error() -> None:
    with pytest.raises(sel.PatternError, match="pattern"):
        sel.parse(U2Selector(textMatches="(unclosed"))


def test_chains_deeper_than_the_limit_are_refused() -> None:
    raw: dict[str, Any] = {"text": "x"}
    for _ in range(sel.MAX_CHAIN + 2):
        raw = {"text": "x", "childOrSibling": ["child"], "childOrSiblingSelector": [raw]}
    with pytest.raises(sel.SelectorError, match="deeper"):
        sel.parse(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
selector_like = st.dictionaries(
    st.sampled_from([*sel.FIELDS, "mask", "childOrSibling", "childOrSiblingSelector"]),
    json_values,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(selector_like, json_values))
def test_no_input_makes_the_matcher_fail_other_than_with_a_selector_error(raw: object) -> None:
    try:
        selector = sel.parse(raw)
    except (sel.SelectorError, sel.PatternError):
        return
    sel.find_all(tree(), selector)
