"""The Setup Wizard state machine: screens, back stack, toggles, text fields, Wi-Fi, events."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from phonehome.virtual.screen import Screen, UiEvent
from phonehome.virtual.ui import LAUNCHER, SetupWizard, WifiNetwork
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.hierarchy import Node, parse_xml

BENCH = WifiNetwork("bench-1", "hunter2hunter2")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def wizard(flavour: str = "aosp", **kwargs: Any) -> tuple[SetupWizard, list[UiEvent]]:
    kwargs.setdefault("networks", [BENCH, WifiNetwork("Cafe")])
    kwargs.setdefault("time_scale", 0)
    w = SetupWizard(flavour, **kwargs)
    events: list[UiEvent] = []
    w.subscribe(events.append)
    return w, events


def node(w: SetupWizard, **selector: Any) -> Node:
    found = sel.find(parse_xml(w.hierarchy_xml()), sel.parse(selector))
    assert found is not None, f"{selector} not on screen {w.screen_name}"
    return found


def has(w: SetupWizard, **selector: Any) -> bool:
    return sel.find(parse_xml(w.hierarchy_xml()), sel.parse(selector)) is not None


def tap(w: SetupWizard, **selector: Any) -> None:
    w.tap(*node(w, **selector).bounds.center)


def screens(events: list[UiEvent]) -> list[str]:
    return [str(e.detail["screen"]) for e in events if e.kind == "screen"]


def test_setup_wizard_is_a_screen() -> None:
    w: Screen = SetupWizard()
    assert w.display_size() == (1080, 2400)


def test_aosp_walk_from_welcome_to_launcher_emits_each_screen_then_completion() -> None:
    w, events = wizard()
    tap(w, resourceId="com.google.android.setupwizard:id/start")
    tap(w, text="bench-1")
    w.input_text(BENCH.password or "")
    tap(w, resourceId="android:id/button1")
    tap(w, resourceId="com.google.android.setupwizard:id/next_button")
    tap(w, resourceId="com.google.android.gms:id/skip_button")
    tap(w, resourceId="android:id/button1")
    while has(w, text="More"):
        tap(w, text="More")
    tap(w, text="Accept")
    tap(w, resourceId="com.android.settings:id/skip_button")
    tap(w, text="Skip anyway")
    tap(w, text="Done")
    assert screens(events) == ["welcome", "wifi", "wifi_password", "checking", "sim", "signin", "signin_skip",
                               "google_services", "pin", "pin_skip", "done", LAUNCHER]  # fmt: skip
    kinds = [e.kind for e in events]
    assert kinds.index("consent") == screens(events).index("google_services") + 1
    assert kinds[-2:] == ["setup-complete", "screen"]
    state = w.state()
    assert state.completed
    assert state.wifi == "bench-1"
    assert state.consents["google_services"] == {
        "screen": "google_services", "accepted": True, "location": True, "scanning": True, "diagnostics": True,
    }  # fmt: skip


def test_oem_walk_has_its_own_order_and_extra_screens() -> None:
    w, events = wizard("oem")
    tap(w, resourceId="com.android.provision:id/btn_start")
    assert not node(w, resourceId="com.android.provision:id/btn_next").enabled
    tap(w, resourceId="com.android.provision:id/cb_agree")
    tap(w, resourceId="com.android.provision:id/btn_next", enabled=True)
    tap(w, resourceId="com.android.provision:id/btn_next")  # SIM
    tap(w, text="Cafe")  # an open network: connects and stays on the page
    assert node(w, text="Cafe").parent is not None
    assert has(w, text="Connected")
    tap(w, resourceId="com.android.provision:id/btn_next", enabled=True)
    tap(w, resourceId="com.google.android.gms:id/btn_skip")
    tap(w, resourceId="android:id/button1")
    assert not has(w, resourceId="com.android.provision:id/btn_accept")  # below the fold
    w.swipe(540, 1800, 540, 300)
    tap(w, resourceId="com.android.provision:id/btn_accept")
    tap(w, resourceId="com.android.provision:id/btn_skip")  # device account
    tap(w, resourceId="com.android.provision:id/btn_not_now")
    tap(w, resourceId="com.android.provision:id/btn_skip")  # PIN
    tap(w, resourceId="com.android.provision:id/btn_finish")
    assert screens(events) == ["welcome", "terms", "sim", "wifi", "signin", "signin_skip", "services",
                               "oem_account", "improve", "pin", "done", LAUNCHER]  # fmt: skip
    consents = [e.detail for e in events if e.kind == "consent"]
    assert consents == [
        {"screen": "services", "accepted": True, "location": True, "scanning": True, "diagnostics": True},
        {"screen": "improve", "accepted": False, "experience_program": False, "crash_reports": False},
    ]


def test_toggles_flip_and_their_final_values_are_reported() -> None:
    w, events = wizard(start="google_services")
    tap(w, resourceId="com.google.android.gms:id/location_toggle")
    assert not node(w, resourceId="com.google.android.gms:id/location_toggle").checked
    tap(w, text="Allow scanning")  # the whole row takes the touch, as a Settings switch row does
    tap(w, text="Allow scanning")
    while has(w, text="More"):
        tap(w, text="More")
    tap(w, resourceId="com.google.android.gms:id/usage_reporting_toggle")
    tap(w, text="Accept")
    consent = next(e.detail for e in events if e.kind == "consent")
    assert consent == {"screen": "google_services", "accepted": True, "location": False, "scanning": True,
                       "diagnostics": False}  # fmt: skip


def test_more_scrolls_until_the_end_then_becomes_accept() -> None:
    w, _ = wizard(start="google_services")
    assert not has(w, resourceId="com.google.android.gms:id/usage_reporting_toggle")
    presses = 0
    while node(w, resourceId="com.google.android.gms:id/accept_button").text == "More":
        tap(w, text="More")
        presses += 1
    assert presses >= 1
    assert has(w, resourceId="com.google.android.gms:id/usage_reporting_toggle")
    assert w.screen_name == "google_services"


def test_a_wrong_password_returns_to_the_list_with_the_reason() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    tap(w, text="bench-1")
    w.input_text("not-the-password")
    tap(w, text="Connect")
    assert w.screen_name == "wifi"
    assert has(w, text="Check password and try again")
    assert w.state().wifi is None


def test_connect_stays_disabled_until_eight_characters_are_typed() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    tap(w, text="bench-1")
    w.input_text("short")
    assert not node(w, text="Connect").enabled
    tap(w, text="Connect")
    assert w.screen_name == "wifi_password"
    w.input_text("er!")
    assert node(w, text="Connect").enabled


def test_password_is_masked_until_show_password_is_ticked() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    tap(w, text="bench-1")
    w.input_text("secret99")
    field = node(w, resourceId="com.android.settings:id/password")
    assert (field.text, field.password, field.focused) == ("\u2022" * 8, True, True)
    tap(w, text="Show password")
    assert node(w, resourceId="com.android.settings:id/password").text == "secret99"


def test_delete_and_enter_edit_the_focused_field_and_submit() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    tap(w, text="bench-1")
    w.input_text(BENCH.password + "x")  # type: ignore[operator]
    w.press_key("del")
    w.press_key("KEYCODE_ENTER")
    assert w.screen_name == "sim"


def test_back_returns_through_pages_but_not_through_dialogs_or_progress() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    tap(w, text="bench-1")
    w.press_key("back")
    assert w.screen_name == "wifi"
    tap(w, text="bench-1")
    w.input_text(BENCH.password or "")
    tap(w, text="Connect")
    assert w.screen_name == "sim"
    w.press_key(4)
    assert w.screen_name == "wifi"
    w.press_key("back")
    w.press_key("back")
    assert w.screen_name == "welcome"


def test_home_does_nothing_during_setup_and_opens_the_launcher_after() -> None:
    w, _ = wizard()
    w.press_key("home")
    assert w.screen_name == "welcome"
    w, events = wizard(start="done")
    tap(w, text="Done")
    tap(w, text="Chrome")
    assert w.focused_activity() == ("com.android.chrome", "com.google.android.apps.chrome.Main")
    w.press_key("home")
    w.press_key("home")
    assert w.screen_name == LAUNCHER
    assert screens(events)[-2:] == ["app:com.android.chrome", LAUNCHER]


def test_no_sim_skips_the_sim_screen_and_skipping_wifi_skips_the_update_check() -> None:
    w, events = wizard(carrier=None)
    tap(w, text="Start")
    tap(w, text="Skip")
    assert w.screen_name == "signin"
    assert "sim" not in screens(events)
    assert "checking" not in screens(events)


def test_progress_screen_waits_its_dwell_scaled_by_time_scale() -> None:
    clock = Clock()
    w, _ = wizard(time_scale=2.0, clock=clock)
    tap(w, text="Start")
    tap(w, text="Cafe")
    assert w.screen_name == "checking"
    clock.now += 0.5  # dwell 0.4 s x 2
    assert w.screen_name == "checking"
    clock.now += 0.4
    assert w.screen_name == "sim"


def test_picking_a_language_changes_the_welcome_button_and_the_state() -> None:
    w, _ = wizard(locale="en-GB")
    assert (
        node(w, resourceId="com.google.android.setupwizard:id/language_picker").text
        == "English (United Kingdom)"
    )
    tap(w, resourceId="com.google.android.setupwizard:id/language_picker")
    assert node(w, text="English (United Kingdom)").parent.selected  # type: ignore[union-attr]
    tap(w, text="Suomi (Suomi)")
    assert w.screen_name == "welcome"
    assert w.state().language == "fi-FI"


def test_an_unoffered_locale_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: en-US"):
        SetupWizard("aosp", locale="xx-XX")


def test_focused_activity_and_start_activity_follow_the_components() -> None:
    w, _ = wizard()
    assert w.focused_activity() == (
        "com.google.android.setupwizard",
        "com.google.android.setupwizard.SetupWizardActivity",
    )
    assert w.start_activity("com.android.settings")
    assert w.screen_name == "app:com.android.settings"
    w.press_key("back")
    assert w.screen_name == "welcome"
    assert w.start_activity("com.google.android.apps.nexuslauncher/.NexusLauncherActivity")
    assert w.screen_name == "welcome"  # during setup the wizard is HOME
    assert not w.start_activity("com.example.missing/.Main")


def test_a_late_listener_hears_the_current_screen_first() -> None:
    w, _ = wizard()
    tap(w, text="Start")
    late: list[UiEvent] = []
    w.subscribe(late.append)
    assert late == [UiEvent("screen", {"screen": "wifi"})]


def test_a_listener_may_drive_the_wizard_from_its_callback() -> None:
    w = SetupWizard(time_scale=0)
    seen: list[str] = []

    def listener(event: UiEvent) -> None:
        seen.append(str(event.detail.get("screen")))
        if event.detail.get("screen") == "wifi":
            w.press_key("back")

    w.subscribe(listener)
    tap(w, text="Start")
    assert seen == ["welcome", "wifi", "welcome"]


def test_concurrent_input_from_two_threads_keeps_the_wizard_consistent() -> None:
    w, events = wizard()
    errors: list[BaseException] = []

    start = node(w, text="Start").bounds.center

    def hammer() -> None:
        try:
            for _ in range(30):
                w.tap(*start)
                w.press_key("back")
                w.hierarchy_xml()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert w.screen_name in {"welcome", "wifi"}
    assert "wifi" in screens(events)
    assert all(e.kind == "screen" for e in events)


def test_packages_lists_every_package_the_ui_shows() -> None:
    packages = SetupWizard("aosp").packages()
    assert {"com.google.android.setupwizard", "com.android.settings", "com.google.android.gms",
            "com.google.android.apps.nexuslauncher", "com.android.chrome"} <= set(packages)  # fmt: skip
