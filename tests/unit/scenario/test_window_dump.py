"""Selectors matched on a dump as UiSelector matches them; a hostile dump is an error, never a crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonehome.scenario.hierarchy import MAX_DUMP, DumpError, Hierarchy

DUMP = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<hierarchy rotation="0">
  <node index="0" text="" resource-id="com.example:id/root" class="android.widget.FrameLayout" package="com.example"
        content-desc="" checkable="false" checked="false" clickable="false" enabled="true" scrollable="true">
    <node index="0" text="Use location" resource-id="com.example:id/location" class="android.widget.Switch"
          package="com.example" content-desc="Location" checkable="true" checked="true" clickable="true" enabled="true"/>
    <node index="1" text="Next" resource-id="com.example:id/next" class="android.widget.Button" package="com.example"
          content-desc="" checkable="false" checked="false" clickable="true" enabled="false"/>
    <node index="2" text="Next" resource-id="com.example:id/next2" class="android.widget.Button" package="com.example"
          content-desc="" checkable="false" checked="false" clickable="true" enabled="true"/>
  </node>
</hierarchy>"""


@pytest.mark.parametrize(
    ("selector", "ids"),
    [
        ({"text": "Next"}, ["next", "next2"]),
        ({"text": "Next", "enabled": True}, ["next2"]),
        ({"textContains": "location"}, ["location"]),
        ({"textStartsWith": "Use"}, ["location"]),
        ({"textMatches": "Use .*"}, ["location"]),
        ({"textMatches": "Use"}, []),  # Java's matches(): the whole text
        ({"resourceIdMatches": r".*:id/next\d?"}, ["next", "next2"]),
        ({"className": "android.widget.Switch", "checked": True}, ["location"]),
        ({"description": "Location"}, ["location"]),
        ({"scrollable": True}, ["root"]),
        ({"text": "Next", "instance": 1}, ["next2"]),
        ({"packageName": "com.other"}, []),
        ({"textMatches": "("}, []),  # a broken regular expression matches nothing
    ],
)
def test_selectors_match_as_ui_selector_does(selector: dict[str, object], ids: list[str]) -> None:
    found = Hierarchy.parse(DUMP).find(selector)
    assert [n["resource-id"].rsplit("/", 1)[1] for n in found] == ids


def test_the_foreground_package_leads() -> None:
    assert Hierarchy.parse(DUMP).packages == ["com.example"]


@pytest.mark.parametrize("bad", ["", "   ", "not xml", "<hierarchy>", "<a></b>"])
def test_a_dump_that_is_not_xml_is_a_dump_error(bad: str) -> None:
    with pytest.raises(DumpError):
        Hierarchy.parse(bad)


def test_a_dump_with_a_dtd_is_refused_so_no_entity_is_ever_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE h [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<hierarchy><node text="&b;"/></hierarchy>'
    )
    with pytest.raises(DumpError, match="DTD"):
        Hierarchy.parse(bomb)
    with pytest.raises(DumpError):
        Hierarchy.parse('<hierarchy><node text="&xxe;"/></hierarchy>')


def test_an_oversized_dump_is_refused_before_parsing() -> None:
    with pytest.raises(DumpError, match="over the"):
        Hierarchy.parse("<hierarchy>" + " " * MAX_DUMP + "</hierarchy>")


@given(st.text(max_size=2000))
def test_any_text_parses_or_is_a_dump_error(text: str) -> None:
    with contextlib.suppress(DumpError):
        Hierarchy.parse(text)


@given(
    st.dictionaries(
        st.sampled_from(
            ["text", "textMatches", "checked", "index", "resourceId", "instance", "unknownField"]
        ),
        st.one_of(st.text(max_size=20), st.booleans(), st.integers(-3, 3)),
        max_size=4,
    )
)
def test_any_selector_matches_or_not_without_raising(selector: dict[str, object]) -> None:
    Hierarchy.parse(DUMP).find(selector)
