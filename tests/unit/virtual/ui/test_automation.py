"""The uiautomator2 RPC methods over a Screen, called directly (the HTTP layer is tested elsewhere)."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import pytest
from PIL import Image
from uiautomator2._selector import Selector

from phonehome.virtual.ui import SetupWizard, WifiNetwork
from phonehome.virtual.ui.automation import Automation, DeviceDescription
from phonehome.virtual.ui.hierarchy import parse_xml
from phonehome.virtual.ui.rpcvalues import UI_OBJECT_NOT_FOUND, InvalidParams, JavaError


def call(auto: Automation, method: str, *params: Any) -> Any:
    return asyncio.run(auto.call(method, list(params)))


def setup(flavour: str = "aosp", **kwargs: Any) -> tuple[SetupWizard, Automation]:
    kwargs.setdefault("time_scale", 0)
    kwargs.setdefault("networks", [WifiNetwork("bench-1", "hunter2hunter2")])
    w = SetupWizard(flavour, **kwargs)
    return w, Automation(w, DeviceDescription(product_name="virt", sdk_int=34), poll_s=0.01)


def test_device_info_has_the_fields_uiautomator2_reads() -> None:
    _, auto = setup()
    assert call(auto, "deviceInfo") == {
        "currentPackageName": "com.google.android.setupwizard", "displayWidth": 1080, "displayHeight": 2400,
        "displayRotation": 0, "displaySizeDpX": 411, "displaySizeDpY": 914, "productName": "virt",
        "naturalOrientation": True, "screenOn": True, "sdkInt": 34,
    }  # fmt: skip


def test_obj_info_has_the_java_server_shape() -> None:
    _, auto = setup()
    info = call(auto, "objInfo", Selector(text="Start"))
    assert set(info) == {"bounds", "checkable", "checked", "childCount", "className", "clickable",
                         "contentDescription", "enabled", "focusable", "focused", "longClickable", "packageName",
                         "resourceName", "scrollable", "selected", "text", "visibleBounds"}  # fmt: skip
    assert info["resourceName"] == "com.google.android.setupwizard:id/start"
    assert info["contentDescription"] is None
    assert set(info["bounds"]) == {"left", "top", "right", "bottom"}


def test_a_missing_object_raises_the_uiautomator_exception() -> None:
    _, auto = setup()
    with pytest.raises(JavaError) as caught:
        call(auto, "objInfo", Selector(text="Nowhere"))
    assert caught.value.java_class == UI_OBJECT_NOT_FOUND
    assert "UiSelector[TEXT=Nowhere]" in str(caught.value)


def test_click_on_coordinates_taps_the_screen_and_negative_ones_are_refused() -> None:
    w, auto = setup()
    start = call(auto, "objInfo", Selector(text="Start"))["bounds"]
    assert call(auto, "click", (start["left"] + start["right"]) / 2, (start["top"] + start["bottom"]) / 2)
    assert w.screen_name == "wifi"
    assert call(auto, "click", -1, 5) is False


def test_set_text_replaces_the_field_and_get_text_reads_it() -> None:
    w, auto = setup(start="signin")
    field = Selector(resourceId="com.google.android.gms:id/identifierId")
    assert call(auto, "setText", field, "first@example.com")
    assert call(auto, "setText", field, "second@example.com")
    assert call(auto, "getText", field) == "second@example.com"
    assert w.state().fields["account"] == "second@example.com"
    call(auto, "clearTextField", field)
    assert w.state().fields["account"] == ""
    assert call(auto, "getText", field) == "Email or phone"  # the hint shows, as Android reports it


def test_set_text_on_something_not_editable_does_nothing() -> None:
    w, auto = setup()
    assert call(auto, "setText", Selector(text="Start"), "x") is False
    assert w.screen_name == "welcome"


def test_clipboard_paste_types_into_the_focused_field() -> None:
    w, auto = setup(start="signin")
    call(auto, "setClipboard", None, "me@example.com")
    assert call(auto, "getClipboard") == "me@example.com"
    call(auto, "pasteClipboard")
    assert w.state().fields["account"] == "me@example.com"
    call(auto, "clearInputText")
    assert w.state().fields["account"] == ""


def test_wait_for_exists_returns_when_it_appears_and_gives_up_after_the_timeout() -> None:
    w, auto = setup(time_scale=1)
    w.tap(*parse_xml_center(w, "Start"))
    w.tap(*parse_xml_center(w, "bench-1"))
    w.input_text("hunter2hunter2")
    w.tap(*parse_xml_center(w, "Connect"))
    assert w.screen_name == "checking"  # 0.4 s
    started = time.monotonic()
    assert call(
        auto, "waitForExists", Selector(resourceId="com.google.android.setupwizard:id/carrier_name"), 5000
    )
    assert 0.2 < time.monotonic() - started < 3
    started = time.monotonic()
    assert call(auto, "waitForExists", Selector(text="Never"), 200) is False
    assert 0.15 < time.monotonic() - started < 2
    assert call(auto, "waitUntilGone", Selector(text="Never"), 0) is True


def parse_xml_center(w: SetupWizard, text: str) -> tuple[int, int]:
    root = parse_xml(w.hierarchy_xml())
    assert root is not None
    return next(n for n in root.walk() if n.text == text).bounds.center


def test_scroll_to_finds_a_node_below_the_fold() -> None:
    _, auto = setup("oem", start="services")
    accept = Selector(resourceId="com.android.provision:id/btn_accept")
    assert not call(auto, "exist", accept)
    assert call(auto, "scrollTo", Selector(scrollable=True), accept, True)
    assert call(auto, "exist", accept)
    assert call(auto, "scrollForward", Selector(scrollable=True), True, 55) is False  # already at the end
    assert call(auto, "scrollToBeginning", Selector(scrollable=True), True, 10, 55)
    assert call(auto, "exist", Selector(resourceId="com.android.provision:id/cb_location"))


def test_count_and_all_instances_agree() -> None:
    _, auto = setup(start="google_services")
    switches = Selector(className="android.widget.Switch")
    assert call(auto, "count", switches) == len(call(auto, "objInfoOfAllInstances", switches)) == 2


def test_keys_by_name_and_code() -> None:
    w, auto = setup()
    call(auto, "click", Selector(text="Start"))
    assert call(auto, "pressKey", "back") is True
    assert w.screen_name == "welcome"
    assert call(auto, "pressKey", "no_such_key") is False
    call(auto, "click", Selector(text="Start"))
    assert call(auto, "pressKeyCode", 4)
    assert w.screen_name == "welcome"


def test_a_touch_gesture_of_down_and_up_is_a_tap_and_a_long_one_a_swipe() -> None:
    _, auto = setup("oem", start="services")
    cb = call(auto, "objInfo", Selector(resourceId="com.android.provision:id/cb_location"))["bounds"]
    x, y = (cb["left"] + cb["right"]) // 2, (cb["top"] + cb["bottom"]) // 2
    assert call(auto, "injectInputEvent", 0, x, y, 0)
    assert call(auto, "injectInputEvent", 1, x, y, 0)
    assert not call(auto, "objInfo", Selector(resourceId="com.android.provision:id/cb_location"))["checked"]
    call(auto, "injectInputEvent", 0, 540, 1800, 0)
    call(auto, "injectInputEvent", 2, 540, 1000, 0)
    call(auto, "injectInputEvent", 1, 540, 400, 0)
    assert call(auto, "exist", Selector(resourceId="com.android.provision:id/btn_accept"))


def test_take_screenshot_is_a_base64_jpeg_at_the_asked_scale() -> None:
    _, auto = setup()
    data = base64.b64decode(call(auto, "takeScreenshot", 0.5, 70))
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size) == ("JPEG", (540, 1200))


def test_dump_honours_compression_and_depth() -> None:
    _, auto = setup()
    full = call(auto, "dumpWindowHierarchy", False, 50)
    small = call(auto, "dumpWindowHierarchy", True, 50)
    shallow = call(auto, "dumpWindowHierarchy", False, 1)
    assert 'visible-to-user="true"' in full
    assert full.count("<node") > small.count("<node") > shallow.count("<node") > 0
    assert call(auto, "dumpWindowHierarchy", False, "dump.xml") == full  # the old (compressed, filename) form


@pytest.mark.parametrize(
    ("method", "params", "reason"),
    [
        ("click", ["x", 1], "x must be a number"),
        ("click", [True, 1], "x must be a number"),
        ("objInfo", [{"text": 5}], "text must be str"),
        ("swipe", [1, 2, 3], "swipe"),
        ("waitForExists", [], "missing a required argument"),
        ("takeScreenshot", [9, 80], "scale"),
        ("dumpWindowHierarchy", ["yes", 50], "compressed must be true or false"),
        ("swipePoints", [[1, 2, 3], 10], "swipePoints"),
    ],
)
def test_bad_parameters_are_invalid_params(method: str, params: list[Any], reason: str) -> None:
    _, auto = setup()
    with pytest.raises(InvalidParams, match=reason):
        call(auto, method, *params)


def test_a_bad_regex_is_the_java_pattern_exception() -> None:
    _, auto = setup()
    with pytest.raises(JavaError, match="PatternSyntaxException"):
        call(auto, "exist", Selector(textMatches="("))


def test_only_the_natural_orientation_exists() -> None:
    _, auto = setup()
    call(auto, "setOrientation", "natural")
    with pytest.raises(JavaError, match="UnsupportedOperationException"):
        call(auto, "setOrientation", "left")


def test_power_toggles_screen_on() -> None:
    _, auto = setup()
    call(auto, "pressKey", "power")
    assert call(auto, "deviceInfo")["screenOn"] is False
    call(auto, "wakeUp")
    assert call(auto, "isScreenOn") is True


def test_child_by_text_names_the_row_holding_the_text_and_stays_usable() -> None:
    w, auto = setup(start="google_services")
    rows = Selector(clickable=True, className="android.widget.LinearLayout")
    name = call(auto, "childByText", Selector(scrollable=True), rows, "Allow scanning")
    assert isinstance(name, str)
    assert call(auto, "objInfo", name)["className"] == "android.widget.LinearLayout"
    assert call(auto, "click", name)
    assert not w.state().fields  # a toggle, not a field
    assert (
        call(auto, "objInfo", Selector(resourceId="com.google.android.gms:id/scanning_toggle"))["checked"]
        is False
    )


def test_child_by_text_scrolls_when_allowed_and_fails_when_not() -> None:
    _, auto = setup("oem", start="services")
    buttons = Selector(className="android.widget.Button")
    with pytest.raises(JavaError, match="UiObjectNotFoundException"):
        call(auto, "childByText", Selector(scrollable=True), buttons, "Accept", False)
    name = call(auto, "childByText", Selector(scrollable=True), buttons, "Accept", True)
    assert call(auto, "getText", name) == "Accept"


def test_child_by_instance_and_description() -> None:
    _, auto = setup(start="wifi")
    rows = Selector(clickable=True, className="android.widget.LinearLayout")
    second = call(
        auto, "childByInstance", Selector(resourceId="com.android.settings:id/sud_layout_content"), rows, 0
    )
    assert call(auto, "getText", second) is None  # the row itself carries no text
    icon = call(
        auto,
        "childByDescription",
        Selector(scrollable=False, className="android.widget.ScrollView"),
        rows,
        "Wi-Fi signal full. Secured network.",
    )
    assert call(auto, "exist", icon)


def test_an_unknown_object_name_is_not_found() -> None:
    _, auto = setup()
    with pytest.raises(JavaError, match="UiObject nope not found"):
        call(auto, "objInfo", "nope")
    with pytest.raises(JavaError, match="UiObjectNotFoundException"):
        call(auto, "exist", "nope")
