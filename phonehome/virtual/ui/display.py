"""`Display`: the panel in front of a handset's UI: power (awake or asleep) and the keyguard.

Everything that touches the screen over ADB or uiautomator2 goes through it,
so a sleeping phone ignores taps, a locked one shows the lock screen (in
``uiautomator dump``, screenshots and to selectors) and passes no touch or key
to the app behind it until it is unlocked. Keys as Android's
PhoneWindowManager treats them: POWER (26) toggles, WAKEUP (224) and SLEEP
(223) set, MENU (82) and CAMERA (27) wake a sleeping phone (KeyEvent.isWakeKey)
and MENU dismisses a swipe keyguard; a swipe up on the keyguard unlocks it.
The keyguard shows on sleep only once the device is provisioned (AOSP
KeyguardViewMediator waits for the Setup Wizard). Each change sends the
broadcast Android sends: SCREEN_OFF, SCREEN_ON, USER_PRESENT.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Literal

from phonehome.virtual.broadcasts import SCREEN_OFF, SCREEN_ON, USER_PRESENT
from phonehome.virtual.screen import ImageFormat, Screen, UiEvent
from phonehome.virtual.ui import keys, render
from phonehome.virtual.ui.flavour import Style
from phonehome.virtual.ui.hierarchy import Bounds, Node, to_xml

SYSTEMUI = "com.android.systemui"
WAKE_KEYS = frozenset({keys.POWER, keys.MENU, 27, 224})
SLEEP = 223
WAKEUP = 224
UNLOCK_SWIPE = 0.25  # of the display height, upwards, starting in the lower half
_KEYGUARD_STYLE = Style(background="#000000", text="#ffffff", secondary_text="#c0c0c0", accent="#ffffff")

LockMode = Literal["swipe", "none"]


class Display:
    """Power and keyguard over ``inner`` (the Setup Wizard, the launcher, or a test's screen).

    ``provisioned`` tells whether setup is done (``device_provisioned``);
    ``broadcast`` sends a system broadcast by action. Thread-safe: the shell,
    the uiautomator2 server and a lab's script may use one display at once.
    """

    def __init__(
        self,
        inner: Screen,
        *,
        lock: LockMode = "swipe",
        provisioned: Callable[[], bool] = lambda: False,
        broadcast: Callable[[str], None] = lambda action: None,
        keyguard_window: str = "NotificationShade",
    ) -> None:
        self.lock = lock
        self._provisioned = provisioned
        self._broadcast = broadcast
        self.keyguard_window = keyguard_window
        self._lock = threading.RLock()
        self._awake = True
        self._locked = False
        self._listeners: list[Callable[[UiEvent], None]] = []
        self._last_screen: UiEvent | None = None
        self._inner = inner
        inner.subscribe(self._forwarder(inner))

    # -- power and keyguard ----------------------------------------------------------------------

    @property
    def inner(self) -> Screen:
        """The UI behind the panel (what shows once awake and unlocked)."""
        return self._inner

    @property
    def awake(self) -> bool:
        with self._lock:
            return self._awake

    @property
    def keyguard_showing(self) -> bool:
        with self._lock:
            return self._locked

    def replace_inner(self, inner: Screen) -> None:
        """A new UI behind the panel (a factory reset brings a new Setup Wizard); listeners stay."""
        with self._lock:
            self._inner = inner
            self._last_screen = None
        inner.subscribe(self._forwarder(inner))

    def power_on(self) -> None:
        """A boot: the panel lights up, on the lock screen once the device is provisioned."""
        with self._lock:
            self._awake = True
            self._locked = self._keyguard_enabled()

    def system_ready(self) -> None:
        """Boot completed: with no lock screen, the user is present at once (KeyguardViewMediator)."""
        with self._lock:
            present = self._awake and not self._locked and self.lock == "none" and self._provisioned()
        if present:
            self._broadcast(USER_PRESENT)

    def wake(self) -> bool:
        """KEYCODE_WAKEUP: lights the panel (SCREEN_ON); False when it was already on."""
        with self._lock:
            if self._awake:
                return False
            self._awake = True
            present = not self._locked and self.lock == "none" and self._provisioned()
        self._broadcast(SCREEN_ON)
        if present:
            self._broadcast(USER_PRESENT)
        return True

    def sleep(self) -> bool:
        """KEYCODE_SLEEP: the panel goes dark (SCREEN_OFF) and, after setup, the keyguard comes up."""
        with self._lock:
            if not self._awake:
                return False
            self._awake = False
            self._locked = self._locked or self._keyguard_enabled()
        self._broadcast(SCREEN_OFF)
        return True

    def press_power(self) -> None:
        """The power button (KEYCODE_POWER): toggles the panel."""
        if not self.wake():
            self.sleep()

    def dismiss_keyguard(self) -> bool:
        """Unlocks a swipe keyguard on a lit panel (``wm dismiss-keyguard``): USER_PRESENT. False if not."""
        with self._lock:
            if not (self._awake and self._locked):
                return False
            self._locked = False
        self._broadcast(USER_PRESENT)
        return True

    def _keyguard_enabled(self) -> bool:
        return self.lock != "none" and self._provisioned()

    def _blocked(self) -> bool:
        """Whether touches and keys stop here instead of reaching the UI behind."""
        with self._lock:
            return not self._awake or self._locked

    # -- the Screen protocol ------------------------------------------------------------------------

    def display_size(self) -> tuple[int, int]:
        return self._inner.display_size()

    def hierarchy_xml(self) -> str:
        if self.keyguard_showing:
            return to_xml(self._keyguard())
        return self._inner.hierarchy_xml()

    def screenshot(self, fmt: ImageFormat = "png", scale: float = 1.0, quality: int = 80) -> bytes:
        if not self.awake:
            return _black(self.display_size(), fmt, scale, quality)
        if self.keyguard_showing:
            return render.render(
                [self._keyguard()],
                self.display_size(),
                _KEYGUARD_STYLE,
                fmt=fmt,
                scale=scale,
                quality=quality,
            )
        return self._inner.screenshot(fmt, scale, quality)

    def tap(self, x: int, y: int) -> None:
        if not self._blocked():
            self._inner.tap(x, y)

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        if not self.awake:
            return
        if self.keyguard_showing:
            height = self.display_size()[1]
            if y1 >= height / 2 and y1 - y2 >= height * UNLOCK_SWIPE:
                self.dismiss_keyguard()
            return
        self._inner.swipe(x1, y1, x2, y2, duration_ms)

    def press_key(self, key: str | int) -> None:
        code = keys.keycode(key)
        if code == keys.POWER:
            self.press_power()
        elif code == WAKEUP:
            self.wake()
        elif code == SLEEP:
            self.sleep()
        elif not self.awake:
            if code in WAKE_KEYS:
                self.wake()
        elif self.keyguard_showing:
            if code == keys.MENU:
                self.dismiss_keyguard()
        else:
            self._inner.press_key(key)

    def input_text(self, text: str) -> None:
        if not self._blocked():
            self._inner.input_text(text)

    def focused_activity(self) -> tuple[str, str]:
        """The activity behind the panel (``mFocusedApp``); the keyguard window is not an activity."""
        return self._inner.focused_activity()

    def start_activity(self, component: str) -> bool:
        """``am start`` works on a locked phone too: the activity starts behind the keyguard."""
        return self._inner.start_activity(component)

    def subscribe(self, callback: Callable[[UiEvent], None]) -> None:
        """Adds a listener for the UI's events (screens, consent, setup); it first hears the current screen."""
        with self._lock:
            self._listeners.append(callback)
            current = self._last_screen
        if current is not None:
            callback(current)

    # -- internals -------------------------------------------------------------------------------------

    def _forwarder(self, inner: Screen) -> Callable[[UiEvent], None]:
        def forward(event: UiEvent) -> None:
            with self._lock:
                if inner is not self._inner:
                    return  # a UI that was replaced (by a factory reset) no longer speaks for the phone
                if event.kind == "screen":
                    self._last_screen = event
                listeners = list(self._listeners)
            for listener in listeners:
                listener(event)

        return forward

    def _keyguard(self) -> Node:
        """The lock screen's window, as SystemUI lays it out (ids of AOSP's keyguard layouts)."""
        width, height = self.display_size()
        root = Node("android.widget.FrameLayout", Bounds(0, 0, width, height), package=SYSTEMUI)
        root.resource_id = f"{SYSTEMUI}:id/notification_panel"
        status = root.add(
            Node("android.widget.LinearLayout", Bounds(0, height // 8, width, height // 3), SYSTEMUI)
        )
        status.resource_id = f"{SYSTEMUI}:id/keyguard_status_view"
        now = time.localtime()
        clock = status.add(
            Node(
                "android.widget.TextClock",
                Bounds(0, height // 8, width, height // 4),
                text=time.strftime("%H:%M", now),
                resource_id=f"{SYSTEMUI}:id/clock_view",
            )
        )
        clock.role, clock.text_px, clock.align = "title", height // 14, "center"
        date = status.add(
            Node(
                "android.widget.TextView",
                Bounds(0, height // 4, width, height // 3),
                text=time.strftime("%a, %d %B", now),
                resource_id=f"{SYSTEMUI}:id/date_view",
            )
        )
        date.text_px, date.align = height // 50, "center"
        lock_icon = root.add(
            Node(
                "android.widget.ImageView",
                Bounds(width // 2 - 60, height - 360, width // 2 + 60, height - 240),
                content_desc="Unlock",
                resource_id=f"{SYSTEMUI}:id/lock_icon",
            )
        )
        lock_icon.role = "icon"
        hint = root.add(
            Node(
                "android.widget.TextView",
                Bounds(0, height - 220, width, height - 140),
                text="Swipe up to unlock",
                resource_id=f"{SYSTEMUI}:id/keyguard_indication_text",
            )
        )
        hint.role, hint.text_px, hint.align = "description", height // 60, "center"
        return root


def _black(size: tuple[int, int], fmt: ImageFormat, scale: float, quality: int) -> bytes:
    """What ``screencap`` gives with the panel off: a black frame of the display's size."""
    from PIL import Image  # noqa: PLC0415  (only screenshots need Pillow)

    width, height = (max(1, round(v * scale)) for v in size)
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), "#000000")
    if fmt == "jpeg":
        image.save(out, "JPEG", quality=min(max(int(quality), 1), 100))
    else:
        image.save(out, "PNG")
    return out.getvalue()
