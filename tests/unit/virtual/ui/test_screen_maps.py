"""The scenario screen maps (scenarios/screenmaps/*.yaml) match the wizard model they describe.

The maps are read by the scenario engine's own loader
(`phonehome.scenario.screenmap`); a small interpreter runs their steps through
the uiautomator2 RPC methods (selectors built by uiautomator2's own Selector
class) and walks each flavour to the launcher, independently of the engine's
wizard driver.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from uiautomator2._selector import Selector

from phonehome.scenario.screenmap import MapScreen, MapStep, ScreenMap, load_screen_map
from phonehome.virtual.screen import UiEvent
from phonehome.virtual.ui import LAUNCHER, SetupWizard, WifiNetwork, flavour_names, load_flavour
from phonehome.virtual.ui import selector as sel
from phonehome.virtual.ui.automation import Automation
from phonehome.virtual.ui.hierarchy import parse_xml

MAPS = Path(__file__).resolve().parents[4] / "scenarios" / "screenmaps"
BENCH = WifiNetwork("bench-1", "hunter2hunter2")
StepSelector = dict[str, Any]


def load(flavour: str) -> ScreenMap:
    return load_screen_map(MAPS / f"{flavour}.yaml")


class Driver:
    """Runs map steps against a wizard the way scenario code does through uiautomator2."""

    def __init__(self, wizard: SetupWizard, values: dict[str, str]) -> None:
        self.auto = Automation(wizard, poll_s=0.01)
        self.values = values

    def rpc(self, method: str, *params: Any) -> Any:
        return asyncio.run(self.auto.call(method, list(params)))

    def sel(self, selector: StepSelector) -> Selector:
        filled = {k: v.format_map(self.values) if isinstance(v, str) else v for k, v in selector.items()}
        return Selector(**filled)

    def exists(self, selector: StepSelector) -> bool:
        return bool(self.rpc("exist", self.sel(selector)))

    def run(self, screen: MapScreen, steps: list[MapStep]) -> None:
        for step in steps:
            if step.when is not None and not self.exists(step.when):
                continue
            if step.unless is not None and self.exists(step.unless):
                continue
            if step.click is not None:
                assert self.rpc("waitForExists", self.sel(step.click), 3000), (
                    f"{screen.name}: {step.click} never showed"
                )
                self.rpc("click", self.sel(step.click))
            elif step.click_while is not None:
                for _ in range(20):
                    if not self.exists(step.click_while):
                        break
                    self.rpc("click", self.sel(step.click_while))
            elif step.check is not None:
                if not self.rpc("objInfo", self.sel(step.check))["checked"]:
                    self.rpc("click", self.sel(step.check))
            elif step.set_text is not None:
                self.rpc(
                    "setText", self.sel(step.set_text.selector), step.set_text.text.format_map(self.values)
                )
            elif step.scroll_to is not None:
                assert self.rpc(
                    "scrollTo",
                    self.sel(screen.scroll or {"scrollable": True}),
                    self.sel(step.scroll_to),
                    True,
                )
            elif step.press is not None:
                self.rpc("pressKey", step.press)

    def recognised(self, smap: ScreenMap) -> list[str]:
        """The entries whose selector matches ONE dump (the screen may change between two RPCs)."""
        root = parse_xml(self.rpc("dumpWindowHierarchy", False, 50))
        entries = [(s.name, s.recognise) for s in smap.screens] + [(LAUNCHER, smap.launcher.recognise)]
        return [
            name for name, selector in entries if sel.find(root, sel.parse(self.sel(selector))) is not None
        ]

    def set_toggle(self, screen: MapScreen, key: str, value: bool) -> None:
        selector = self.sel(screen.toggles[key])
        self.rpc("scrollTo", self.sel(screen.scroll or {"scrollable": True}), selector, True)
        info = self.rpc("objInfo", selector)
        assert info["checkable"], f"{screen.name}.{key} does not point at a checkable node"
        if info["checked"] != value:
            self.rpc("click", selector)
        assert self.rpc("objInfo", selector)["checked"] == value


def walk(
    flavour: str, *, ssid: str = BENCH.ssid, join: bool = True, consent: bool | None = None, **kwargs: Any
) -> tuple[list[str], list[UiEvent]]:
    """Follows the map from the first screen to the launcher; returns the screens seen and the events."""
    wizard = SetupWizard(flavour, time_scale=0.05, networks=[BENCH, WifiNetwork("Cafe")], **kwargs)
    events: list[UiEvent] = []
    wizard.subscribe(events.append)
    smap = load(flavour)
    driver = Driver(wizard, {"ssid": ssid, "password": BENCH.password or "", "language": ""})
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = driver.recognised(smap)
        assert len(names) == 1, f"screen {wizard.screen_name} recognised as {names}"
        name = names[0]
        if name == LAUNCHER:
            return seen, events
        if not seen or seen[-1] != name:
            seen.append(name)
        screen = smap.screen(name)
        if consent is False:
            for key in screen.toggles:
                driver.set_toggle(screen, key, False)
        steps = screen.skip if (name == "wifi" and not join) else screen.advance
        if consent is False and screen.decline:
            steps = screen.decline
        driver.run(screen, steps)
    raise AssertionError(f"no launcher after 30 s; stuck on {wizard.screen_name}")


@pytest.mark.parametrize("flavour", flavour_names())
def test_every_screen_of_the_flavour_has_an_entry_and_nothing_else_does(flavour: str) -> None:
    smap = load(flavour)
    model = load_flavour(flavour)
    assert smap.flavour == flavour
    assert smap.package == model.package
    assert smap.launcher.package == model.launcher.package
    assert [s.name for s in smap.screens] == [s.name for s in model.screens]
    for entry in smap.screens:
        definition = model.screen(entry.name)
        assert entry.consent == definition.consent
        assert set(entry.toggles) == {i.key for i in definition.items if i.kind == "toggle"}
        if definition.show_if != "always":
            assert entry.optional, f"{entry.name} appears only sometimes (show_if: {definition.show_if})"


@pytest.mark.parametrize(
    ("flavour", "screen"), [(f, s.name) for f in flavour_names() for s in load_flavour(f).screens]
)
def test_each_screen_is_recognised_by_its_own_entry_only(flavour: str, screen: str) -> None:
    wizard = SetupWizard(flavour, start=screen, time_scale=1000, networks=[BENCH])
    driver = Driver(wizard, {"ssid": BENCH.ssid, "password": "", "language": ""})
    assert driver.recognised(load(flavour)) == [screen]


@pytest.mark.parametrize("flavour", flavour_names())
def test_the_default_walk_meets_every_screen_not_marked_optional_and_ends_on_the_launcher(
    flavour: str,
) -> None:
    seen, events = walk(flavour)
    assert events[-1] == UiEvent("screen", {"screen": LAUNCHER})
    required = [s.name for s in load(flavour).screens if not s.optional]
    assert [name for name in dict.fromkeys(seen) if name in required] == required


@pytest.mark.parametrize("flavour", flavour_names())
def test_walking_the_map_joins_the_bench_network_and_accepts_everything(flavour: str) -> None:
    seen, events = walk(flavour)
    assert "wifi_password" in seen
    consents = [e.detail for e in events if e.kind == "consent"]
    assert consents
    assert all(c["accepted"] for c in consents)
    assert all(v for c in consents for k, v in c.items() if k not in ("screen", "accepted"))


@pytest.mark.parametrize("flavour", flavour_names())
def test_switching_every_toggle_off_declines_everything(flavour: str) -> None:
    _, events = walk(flavour, consent=False)
    consents = [e.detail for e in events if e.kind == "consent"]
    assert consents
    assert not any(v for c in consents for k, v in c.items() if k not in ("screen", "accepted"))


@pytest.mark.parametrize("flavour", flavour_names())
def test_the_maps_cope_with_an_open_network_no_sim_and_a_skipped_wifi(flavour: str) -> None:
    seen, _ = walk(flavour, ssid="Cafe", carrier=None)
    assert "sim" not in seen
    assert "wifi_password" not in seen
    seen, _ = walk(flavour, join=False)
    assert "wifi_password" not in seen
    assert "checking" not in seen


@pytest.mark.parametrize(
    ("flavour", "screen"),
    [(f, s.name) for f in flavour_names() for s in load_flavour(f).screens if s.consent],
)
def test_each_toggle_selector_reaches_a_checkable_node(flavour: str, screen: str) -> None:
    wizard = SetupWizard(flavour, start=screen)
    driver = Driver(wizard, {})
    entry = load(flavour).screen(screen)
    for key in entry.toggles:
        driver.set_toggle(entry, key, False)
        driver.set_toggle(entry, key, True)
