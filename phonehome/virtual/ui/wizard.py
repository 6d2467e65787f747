"""The Setup Wizard as a `Screen`: a state machine over a flavour's screens, then the launcher.

Touches and keys change the state; the window is laid out afresh from the
state (`layout.py`) whenever it is looked at, so the hierarchy, screenshots and
hit-testing always agree. Listeners get a `UiEvent` for every new screen, for
each consent decision and when setup completes; firmware behaviour keys its
traffic on them. Thread-safe: the shell and the uiautomator2 server may drive
one wizard from different threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from phonehome.virtual.screen import ImageFormat, UiEvent
from phonehome.virtual.ui import keys, render
from phonehome.virtual.ui.builder import Layout, NetworkRow, View, enabled
from phonehome.virtual.ui.flavour import App, Flavour, ScreenDef, load_flavour, parse_action
from phonehome.virtual.ui.hierarchy import Node, Tap, to_xml
from phonehome.virtual.ui.layout import build_app, build_launcher, build_screen
from phonehome.virtual.ui.state import UiState, WifiNetwork, WizardState

LAUNCHER = "launcher"
APP_PREFIX = "app:"
AUTH_FAILED_SUMMARY = "Check password and try again"


class SetupWizard:
    """A handset's first-boot UI: the ``flavour``'s wizard, then the launcher and its apps.

    ``carrier`` None means no SIM (screens with ``show_if: sim`` are skipped);
    ``start`` opens the wizard at another screen (to test one screen's scenario);
    ``time_scale`` multiplies the dwell of progress screens ("Checking for
    updates…"), 0 makes them pass at the next look.
    """

    def __init__(
        self,
        flavour: str | Flavour = "aosp",
        *,
        locale: str | None = None,
        carrier: str | None = "Phonehome Mobile",
        networks: Sequence[WifiNetwork] = (WifiNetwork("phonehome-bench"),),
        device_name: str = "phone",
        start: str | None = None,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flavour = load_flavour(flavour) if isinstance(flavour, str) else flavour
        self._config = (locale, start)
        codes = [lang.code for lang in self.flavour.languages]
        language = locale or codes[0]
        if language not in codes:
            raise ValueError(
                f"locale {language!r} is not offered by the {self.flavour.name} wizard; choose one of: {', '.join(codes)}"
            )
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        self.carrier = carrier
        self.networks = tuple(networks)
        self.device_name = device_name
        self.time_scale = time_scale
        self._clock = clock
        self._lock = threading.RLock()
        self._dispatch = threading.RLock()
        self._listeners: list[Callable[[UiEvent], None]] = []
        self._pending: list[UiEvent] = []
        first = start or self.flavour.screens[0].name
        self.flavour.screen(first)  # KeyError naming the flavour for an unknown screen
        self._state = UiState(screen=first, language=language, entered_at=clock())
        for screen in self.flavour.screens:
            for item in screen.items:
                if item.kind in ("toggle", "checkbox"):
                    self._state.checks.setdefault(item.key, item.default)
        self._enter_fields()

    # -- the Screen protocol -------------------------------------------------------------------------

    def display_size(self) -> tuple[int, int]:
        return self.flavour.display.width, self.flavour.display.height

    def hierarchy_xml(self) -> str:
        with self._lock:
            self._tick()
            xml = to_xml(self._layout().root)
        self._flush()
        return xml

    def screenshot(self, fmt: ImageFormat = "png", scale: float = 1.0, quality: int = 80) -> bytes:
        with self._lock:
            self._tick()
            layers = [self._layout().root]
            if self._in_wizard() and self._current().kind == "dialog" and self._state.history:
                layers.insert(0, self._layout(self._state.history[-1]).root)
            style = self.flavour.style
        self._flush()
        return render.render(layers, self.display_size(), style, fmt=fmt, scale=scale, quality=quality)

    def tap(self, x: int, y: int) -> None:
        with self._lock:
            self._tick()
            target = _hit(self._layout().root, x, y)
            if target is not None and target.tap is not None:
                self._on_tap(target.tap)
        self._flush()

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        with self._lock:
            self._tick()
            layout = self._layout()
            if layout.viewport is not None and layout.viewport.contains(x1, y1):
                self._scroll_by(y1 - y2, layout)
        self._flush()

    def press_key(self, key: str | int) -> None:
        code = keys.keycode(key)
        with self._lock:
            self._tick()
            if code == keys.BACK:
                self._back()
            elif code == keys.HOME and self._state.completed and self._state.screen != LAUNCHER:
                self._go(LAUNCHER, push=False)
                self._state.history.clear()
            elif code == keys.DEL and self._state.focus:
                value = self._state.fields.get(self._state.focus, "")
                self._state.fields[self._state.focus] = value[:-1]
            elif code == keys.ENTER and self._state.focus:
                self._submit()
        self._flush()

    def input_text(self, text: str) -> None:
        printable = "".join(ch for ch in text if ch.isprintable())
        with self._lock:
            self._tick()
            if self._state.focus:
                self._state.fields[self._state.focus] = (
                    self._state.fields.get(self._state.focus, "") + printable
                )
        self._flush()

    def focused_activity(self) -> tuple[str, str]:
        with self._lock:
            self._tick()
            screen = self._state.screen
        self._flush()
        if screen == LAUNCHER:
            return self.flavour.launcher.package, _qualify(
                self.flavour.launcher.package, self.flavour.launcher.activity
            )
        if screen.startswith(APP_PREFIX):
            app = self._app(screen[len(APP_PREFIX) :])
            return app.package, _qualify(app.package, app.activity)
        definition = self.flavour.screen(screen)
        package = self.flavour.package_of(definition)
        return package, _qualify(package, definition.activity)

    def start_activity(self, component: str) -> bool:
        package, _, activity = component.partition("/")
        with self._lock:
            self._tick()
            known = self._start(package, activity)
        self._flush()
        return known

    def subscribe(self, callback: Callable[[UiEvent], None]) -> None:
        """Adds a listener; it first hears the current screen, so a late listener knows where setup stands."""
        with self._lock:
            self._listeners.append(callback)
            current = UiEvent("screen", {"screen": self._state.screen})
        with self._dispatch:
            callback(current)

    # -- beyond the protocol ---------------------------------------------------------------------------

    def fresh(self) -> SetupWizard:
        """The same wizard at its first screen with nothing chosen (the UI after a factory reset)."""
        locale, start = self._config
        return SetupWizard(
            self.flavour,
            locale=locale,
            carrier=self.carrier,
            networks=self.networks,
            device_name=self.device_name,
            start=start,
            time_scale=self.time_scale,
            clock=self._clock,
        )

    def skip(self) -> None:
        """Setup skipped (Test Harness Mode): the wizard records its end and the launcher shows."""
        with self._lock:
            if not self._state.completed:
                self._finish()
        self._flush()

    @property
    def screen_name(self) -> str:
        with self._lock:
            self._tick()
            name = self._state.screen
        self._flush()
        return name

    def state(self) -> WizardState:
        with self._lock:
            self._tick()
            s = self._state
            consents = {name: dict(detail) for name, detail in s.consents.items()}
            snapshot = WizardState(s.screen, s.language, s.connected, consents, dict(s.fields), s.completed)
        self._flush()
        return snapshot

    def layout(self) -> Layout:
        """The current window's layout (node tree with the model's tap targets)."""
        with self._lock:
            self._tick()
            layout = self._layout()
        self._flush()
        return layout

    def packages(self) -> list[str]:
        """Every package this UI shows (wizard, Google, launcher, apps), for the shell's ``pm list``."""
        found = [self.flavour.package] + [s.package for s in self.flavour.screens if s.package]
        found += [self.flavour.launcher.package] + [a.package for a in self.flavour.launcher.apps]
        return sorted(set(found))

    # -- state machine -----------------------------------------------------------------------------------

    def _current(self) -> ScreenDef:
        return self.flavour.screen(self._state.screen)

    def _in_wizard(self, name: str | None = None) -> bool:
        name = name or self._state.screen
        return name != LAUNCHER and not name.startswith(APP_PREFIX)

    def _layout(self, name: str | None = None) -> Layout:
        name = name or self._state.screen
        if name == LAUNCHER:
            return build_launcher(self.flavour)
        if name.startswith(APP_PREFIX):
            return build_app(self.flavour, self._app(name[len(APP_PREFIX) :]))
        return build_screen(self.flavour, self.flavour.screen(name), self._view(name))

    def _view(self, name: str) -> View:
        s = self._state
        language = next(lang.label for lang in self.flavour.languages if lang.code == s.language)
        values = {
            "language": language,
            "carrier": self.carrier or "",
            "ssid": s.selected or "",
            "device_name": self.device_name,
        }
        rows = tuple(NetworkRow(n.ssid, n.password is not None, self._summary(n)) for n in self.networks)
        return View(
            values, s.language, s.checks, s.fields, s.focus, s.scrolls.get(name, 0), s.connected, rows
        )

    def _summary(self, network: WifiNetwork) -> str:
        if network.ssid == self._state.connected:
            return "Connected"
        return self._state.errors.get(network.ssid) or ("Secured" if network.password is not None else "Open")

    def _tick(self) -> None:
        """Passes a progress screen whose dwell is over (checked lazily, whenever the UI is used)."""
        while self._in_wizard():
            screen = self._current()
            if screen.auto_next_s is None:
                return
            if self._clock() - self._state.entered_at < screen.auto_next_s * self.time_scale:
                return
            self._next()

    def _on_tap(self, tap: Tap) -> None:
        s = self._state
        if tap.kind == "action":
            self._run(tap.arg)
        elif tap.kind in ("toggle", "check"):
            s.checks[tap.arg] = not s.checks.get(tap.arg, False)
        elif tap.kind == "focus":
            s.focus = tap.arg
        elif tap.kind == "language":
            s.language = tap.arg
            self._run(self._item_action("languages"))
        elif tap.kind == "network":
            network = next(n for n in self.networks if n.ssid == tap.arg)
            s.selected = network.ssid
            item = next(i for i in self._current().items if i.kind == "networks")
            self._run(
                item.action
                if network.password is not None and network.ssid != s.connected
                else item.open_action
            )
        elif tap.kind == "app":
            self._go(APP_PREFIX + tap.arg)

    def _item_action(self, kind: str) -> str:
        return next(i.action for i in self._current().items if i.kind == kind)

    def _run(self, action: str) -> None:
        for step in parse_action(action):
            if step == "next":
                self._next()
            elif step == "back":
                self._back()
            elif step.startswith("goto:"):
                self._go(step[5:])
            elif step == "more":
                layout = self._layout()
                self._scroll_by(layout.page, layout)
            elif step in ("accept", "decline"):
                self._consent(accepted=step == "accept")
            elif step == "connect" and not self._connect():
                self._back()
                return
            elif step == "finish":
                self._finish()

    def _submit(self) -> None:
        """Enter in a text field: the screen's primary button, if it is enabled (the IME's action key)."""
        screen = self._current() if self._in_wizard() else None
        if screen and screen.primary and enabled(screen.primary.enabled_if, self._view(screen.name)):
            self._run(screen.primary.action)

    def _connect(self) -> bool:
        """Joins the network picked on the list with the password typed on this screen (if it has a field)."""
        s = self._state
        network = next((n for n in self.networks if n.ssid == s.selected), None)
        if network is None:
            return False
        field = next((i.key for i in self._current().items if i.kind == "edit" and i.password), "")
        typed = s.fields.pop(field, "")
        if network.password is not None and network.ssid != s.connected and typed != network.password:
            s.errors[network.ssid] = AUTH_FAILED_SUMMARY
            return False
        s.errors.pop(network.ssid, None)
        s.connected = network.ssid
        return True

    def _consent(self, *, accepted: bool) -> None:
        screen = self._current()
        detail: dict[str, object] = {"screen": screen.name, "accepted": accepted}
        for item in screen.items:
            if item.kind == "toggle":
                detail[item.key] = accepted and self._state.checks.get(item.key, item.default)
        self._state.consents[screen.name] = detail
        self._emit(UiEvent("consent", detail))

    def _finish(self) -> None:
        self._state.completed = True
        self._emit(UiEvent("setup-complete", {"flavour": self.flavour.name}))
        self._state.history.clear()
        self._go(LAUNCHER, push=False)

    def _next(self) -> None:
        """The next flow screen after the one the user came from (pickers and dialogs are not in the flow)."""
        names = [s.name for s in self.flavour.screens]
        anchor = self._anchor()
        for screen in self.flavour.screens[names.index(anchor) + 1 :]:
            if screen.flow and self._shown(screen):
                self._go(screen.name)
                return
        self._finish()

    def _anchor(self) -> str:
        for name in [self._state.screen, *reversed(self._state.history)]:
            if self._in_wizard(name) and self.flavour.screen(name).flow:
                return name
        return self.flavour.screens[0].name

    def _shown(self, screen: ScreenDef) -> bool:
        if screen.show_if == "sim":
            return self.carrier is not None
        if screen.show_if == "wifi":
            return self._state.connected is not None
        return True

    def _go(self, name: str, *, push: bool = True) -> None:
        s = self._state
        if push and self._stays_on_back_stack(s.screen):
            s.history.append(s.screen)
        s.screen = name
        s.entered_at = self._clock()
        self._enter_fields()
        self._emit(UiEvent("screen", {"screen": name}))

    def _stays_on_back_stack(self, name: str) -> bool:
        """Dialogs and progress pages leave the back stack once the user moves on, as on Android."""
        return not self._in_wizard(name) or self.flavour.screen(name).kind == "page"

    def _back(self) -> None:
        s = self._state
        if not s.history:
            return
        previous = s.history.pop()
        s.screen = previous
        s.entered_at = self._clock()
        self._enter_fields()
        self._emit(UiEvent("screen", {"screen": previous}))

    def _start(self, package: str, activity: str) -> bool:
        launcher = self.flavour.launcher
        if package == launcher.package and activity in (
            "",
            launcher.activity,
            _qualify(package, launcher.activity),
        ):
            if self._state.completed and self._state.screen != LAUNCHER:
                self._state.history.clear()
                self._go(LAUNCHER, push=False)
            return True  # during setup the wizard is HOME and stays in front
        for app in launcher.apps:
            if app.package == package and activity in ("", app.activity, _qualify(package, app.activity)):
                if self._state.screen != APP_PREFIX + package:
                    self._go(APP_PREFIX + package)
                return True
        return any(
            self.flavour.package_of(s) == package
            and activity in ("", s.activity, _qualify(package, s.activity))
            for s in self.flavour.screens
        )

    def _enter_fields(self) -> None:
        """Focuses the first text field of the new screen, as Android does for dialogs and PIN pages."""
        if not self._in_wizard():
            self._state.focus = None
            return
        edits = [i.key for i in self._current().items if i.kind == "edit"]
        self._state.focus = edits[0] if edits else None

    def _scroll_by(self, dy: int, layout: Layout) -> None:
        name = self._state.screen
        self._state.scrolls[name] = min(max(self._state.scrolls.get(name, 0) + dy, 0), layout.max_scroll)

    def _app(self, package: str) -> App:
        return next(a for a in self.flavour.launcher.apps if a.package == package)

    # -- events --------------------------------------------------------------------------------------------

    def _emit(self, event: UiEvent) -> None:
        self._pending.append(event)

    def _flush(self) -> None:
        """Delivers queued events outside the state lock, in order, so a listener may call back in."""
        with self._dispatch:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event = self._pending.pop(0)
                    listeners = list(self._listeners)
                for listener in listeners:
                    listener(event)


def _qualify(package: str, activity: str) -> str:
    return package + activity if activity.startswith(".") else activity


def _hit(root: Node, x: int, y: int) -> Node | None:
    """The deepest enabled node under (x, y) that handles touches, or its nearest handling ancestor."""
    deepest = None
    node: Node | None = root if root.bounds.contains(x, y) else None
    while node is not None:
        deepest = node
        node = next((c for c in reversed(node.children) if c.bounds.contains(x, y)), None)
    while deepest is not None and deepest.tap is None:
        deepest = deepest.parent
    if deepest is None or not deepest.enabled:
        return None
    return deepest
