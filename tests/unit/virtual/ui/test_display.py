"""The display over a handset's UI: power, the keyguard, and what reaches the UI behind them."""

from __future__ import annotations

import io

from PIL import Image

from phonehome.virtual.screen import UiEvent
from phonehome.virtual.testing import RecordingScreen
from phonehome.virtual.ui import keys
from phonehome.virtual.ui.automation import Automation
from phonehome.virtual.ui.display import Display
from phonehome.virtual.ui.hierarchy import parse_xml


class Phone:
    """A display over a recording screen, with setup done or not, and the broadcasts it sent."""

    def __init__(self, *, provisioned: bool = True, lock: str = "swipe") -> None:
        self.ui = RecordingScreen()
        self.provisioned = provisioned
        self.sent: list[str] = []
        self.display = Display(
            self.ui,
            lock=lock,
            provisioned=lambda: self.provisioned,
            broadcast=self.sent.append,  # type: ignore[arg-type]
        )


def short(actions: list[str]) -> list[str]:
    return [a.rsplit(".", 1)[-1] for a in actions]


def test_sleep_then_wake_locks_a_provisioned_phone_until_dismissed() -> None:
    phone = Phone()
    d = phone.display
    d.press_key("KEYCODE_SLEEP")
    assert (d.awake, d.keyguard_showing) == (False, True)
    d.press_key(224)
    assert (d.awake, d.keyguard_showing) == (True, True)
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON"]
    assert d.dismiss_keyguard()
    assert not d.keyguard_showing
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON", "USER_PRESENT"]
    assert not d.dismiss_keyguard(), "nothing to dismiss twice"


def test_power_toggles_and_menu_wakes_then_unlocks() -> None:
    phone = Phone()
    d = phone.display
    d.press_key(keys.POWER)
    assert not d.awake
    d.press_key("KEYCODE_MENU")
    assert (d.awake, d.keyguard_showing) == (True, True)
    d.press_key("menu")
    assert not d.keyguard_showing
    d.press_key(keys.POWER)
    d.press_key(keys.POWER)
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON", "USER_PRESENT", "SCREEN_OFF", "SCREEN_ON"]
    assert phone.ui.actions == [], "power and unlock keys never reach the app"


def test_during_setup_there_is_no_keyguard_and_no_user_present() -> None:
    phone = Phone(provisioned=False)
    phone.display.press_key(keys.POWER)
    phone.display.press_key(keys.POWER)
    assert not phone.display.keyguard_showing
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON"]


def test_with_no_lock_screen_every_wake_is_user_present() -> None:
    phone = Phone(lock="none")
    phone.display.sleep()
    phone.display.wake()
    assert not phone.display.keyguard_showing
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON", "USER_PRESENT"]


def test_a_locked_phone_shows_the_keyguard_and_keeps_touches_from_the_app() -> None:
    phone = Phone()
    d = phone.display
    d.sleep()
    d.wake()
    root = parse_xml(d.hierarchy_xml())
    assert root is not None
    assert root.package == "com.android.systemui"
    assert any(n.text == "Swipe up to unlock" for n in root.walk())
    d.tap(540, 1000)
    d.input_text("secret")
    d.press_key("home")
    d.swipe(540, 800, 540, 1000)
    assert phone.ui.actions == []
    d.swipe(540, 1800, 540, 300)
    assert not d.keyguard_showing
    d.tap(540, 1000)
    assert phone.ui.actions == [("tap", 540, 1000)]
    assert parse_xml(d.hierarchy_xml()).package == "com.example"  # type: ignore[union-attr]


def test_a_dark_panel_takes_no_touch_and_screenshots_black() -> None:
    phone = Phone(provisioned=False)
    d = phone.display
    d.sleep()
    d.tap(10, 10)
    d.swipe(540, 1800, 540, 300)
    d.press_key("back")
    assert phone.ui.actions == []
    with Image.open(io.BytesIO(d.screenshot("png", scale=0.1))) as image:
        assert image.size == (108, 216)
        assert image.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_uiautomator2_wake_and_sleep_drive_the_display() -> None:
    phone = Phone()
    auto = Automation(phone.display)
    auto.sleep()
    assert not phone.display.awake
    assert auto.deviceInfo()["screenOn"] is False
    auto.wakeUp()
    assert auto.isScreenOn() is True
    auto.pressKeyCode(keys.POWER)
    assert not phone.display.awake
    assert short(phone.sent) == ["SCREEN_OFF", "SCREEN_ON", "SCREEN_OFF"]


def test_a_new_ui_behind_the_display_keeps_its_listeners() -> None:
    phone = Phone()
    heard = []
    phone.display.subscribe(heard.append)
    old = phone.ui
    new = RecordingScreen()
    phone.display.replace_inner(new)
    old.emit(UiEvent("screen", {"screen": "x"}))
    assert heard == [], "the replaced UI no longer speaks for the phone"
    new.emit(UiEvent("screen", {"screen": "y"}))
    assert [e.detail for e in heard] == [{"screen": "y"}]
