"""getprop dumps: multi-line values, slots and SIM operators."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonehome.device.props import parse_getprop, sdk_level, sim_operators, slot_count
from tests.unit.device.phones import output


def test_every_property_of_a_real_dump_is_read() -> None:
    props = parse_getprop(output("nokia-7-plus-android9", "getprop"))
    assert props["ro.serialno"] == "B2NGAA1881902345"
    assert props["ro.build.version.sdk"] == "28"
    assert len(props) == output("nokia-7-plus-android9", "getprop").count("\n[") + 1


def test_a_value_may_span_lines() -> None:
    props = parse_getprop(output("nokia-7-plus-android9", "getprop"))
    assert props["persist.sys.boot.reason.history"] == "reboot,ota,1546934400\nreboot,shell,1551170000"
    assert props["persist.sys.locale"] == "nb-NO"  # the next property is intact


def test_dual_sim_with_one_sim() -> None:
    props = parse_getprop(output("nokia-7-plus-android9", "getprop"))
    assert slot_count(props) == 2
    assert sim_operators(props) == ["24201"]


def test_single_sim_phone() -> None:
    props = parse_getprop(output("galaxy-s4-android4.4", "getprop"))
    assert (slot_count(props), sdk_level(props), sim_operators(props)) == (1, 19, ["23415"])


def test_slot_count_from_per_slot_lists_without_multisim_config() -> None:
    assert slot_count({"gsm.sim.state": "READY,ABSENT"}) == 2
    assert slot_count({}) == 1


def test_garbled_sdk_is_unknown() -> None:
    assert sdk_level({"ro.build.version.sdk": "Q"}) == 0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    props = parse_getprop(text)
    slot_count(props)
    sim_operators(props)
