"""The Setup Wizard driver walks both virtual wizard flavours by the shipped screen maps, per consent variant.

The wizard is the virtual handset's own (`phonehome.virtual.ui.SetupWizard`),
driven through a real ``uiautomator2.Device`` whose RPCs reach the virtual
uiautomator2 server without adb (`tests.unit.scenario.u2_fake`).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from phonehome.scenario import StepFailed, UnknownScreen, consent_choice, screen_maps
from phonehome.scenario.screenmap import load_screen_map
from phonehome.scenario.ui import Ui
from phonehome.scenario.wizard import CONSENT_VARIANTS, MAX_SAME_SCREEN, WizardDriver
from phonehome.virtual.ui import LAUNCHER, SetupWizard, WifiNetwork
from tests.unit.scenario.u2_fake import VirtualU2

REPO = Path(__file__).resolve().parents[3]
MAPS = REPO / "scenarios" / "screenmaps"
FLAVOURS = ("aosp", "oem")
TOGGLES = {
    "aosp": {"google_services": {"location", "scanning", "diagnostics"}},
    "oem": {
        "services": {"location", "scanning", "diagnostics"},
        "improve": {"experience_program", "crash_reports"},
    },
}


class Clock:
    """A clock the driver's waits advance, so timeouts are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def driver_for(
    wizard: SetupWizard, variant: str = "accept-all", maps: Any = None, **kwargs: Any
) -> tuple[WizardDriver, list[Any]]:
    decided: list[Any] = []
    clock = Clock()
    wizard.subscribe(lambda e: decided.append(("ui", e.kind, dict(e.detail))))
    driver = WizardDriver(
        Ui(VirtualU2(wizard)),
        maps or screen_maps(MAPS),
        choice=consent_choice(variant),
        decide=lambda phase, **detail: decided.append(("marker", phase, detail)),
        values={"ssid": "phonehome-bench", "password": "", "language": ""},
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return driver, decided


def wizard(flavour: str, **kwargs: Any) -> SetupWizard:
    return SetupWizard(flavour, networks=[WifiNetwork("phonehome-bench")], time_scale=0, **kwargs)


@pytest.mark.parametrize(("flavour", "variant"), list(itertools.product(FLAVOURS, CONSENT_VARIANTS)))
def test_each_flavour_and_variant_walks_to_the_launcher_marking_each_consent_screen(
    flavour: str, variant: str
) -> None:
    screen = wizard(flavour)
    driver, decided = driver_for(screen, variant)
    walk = driver.walk()
    assert screen.screen_name == LAUNCHER
    assert walk.flavour == flavour
    markers = [d for d in decided if d[0] == "marker"]
    assert [m[2]["screen"] for m in markers] == list(TOGGLES[flavour])
    choice = consent_choice(variant)
    for _, phase, detail in markers:
        assert phase == "consent"
        assert detail["accepted"] is choice.accepted
        assert detail["variant"] == variant
        toggles = {k: v for k, v in detail.items() if k not in ("accepted", "variant", "screen", "flavour")}
        assert set(toggles) == TOGGLES[flavour][detail["screen"]]
        assert set(toggles.values()) == {choice.toggles}


@pytest.mark.parametrize(("flavour", "variant"), list(itertools.product(FLAVOURS, CONSENT_VARIANTS)))
def test_the_handset_received_the_toggles_the_marker_names(flavour: str, variant: str) -> None:
    screen = wizard(flavour)
    driver, decided = driver_for(screen, variant)
    driver.walk()
    events = {d[2]["screen"]: d[2] for d in decided if d[:2] == ("ui", "consent")}
    markers = {d[2]["screen"]: d[2] for d in decided if d[0] == "marker"}
    assert set(events) == set(markers)
    for name, event in events.items():
        for key in TOGGLES[flavour][name]:
            assert event[key] is markers[name][key], (name, key)


def test_decline_all_uses_a_screens_own_decline_button_and_minimal_does_not() -> None:
    declined, _ = driver_for(screen := wizard("oem"), "decline-all")
    walk = declined.walk()
    assert ("improve", "decline") in [(v.screen, v.action) for v in walk.visits]
    minimal, decided = driver_for(wizard("oem"), "minimal")
    walk = minimal.walk()
    assert ("improve", "advance") in [(v.screen, v.action) for v in walk.visits]
    improve = next(d[2] for d in decided if d[:2] == ("ui", "consent") and d[2]["screen"] == "improve")
    assert improve["accepted"] is True  # the wizard saw "Agree"...
    marker = next(d[2] for d in decided if d[0] == "marker" and d[2]["screen"] == "improve")
    assert marker["accepted"] is False  # ...with every purpose off: no consent was given (EDPB)
    assert screen.screen_name == LAUNCHER


def test_the_consent_marker_is_written_before_the_tap_that_gives_the_decision() -> None:
    driver, decided = driver_for(wizard("aosp"), "accept-all")
    driver.walk()
    order = [(d[0], d[1]) for d in decided if d[1] in ("consent",)]
    assert order == [("marker", "consent"), ("ui", "consent")]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_hierarchy_dump_per_decision(flavour: str) -> None:
    driver, _ = driver_for(wizard(flavour))
    walk = driver.walk()
    dumps = driver.ui.methods["dumpWindowHierarchy"]
    assert dumps == len(walk.visits) + 1  # one per screen, and the one that saw the launcher
    assert all(v.calls >= 1 for v in walk.visits)
    assert sum(v.calls for v in walk.visits) + walk.launcher_calls == driver.ui.calls


def test_the_map_is_chosen_by_the_first_screen_when_no_flavour_is_forced() -> None:
    driver, _ = driver_for(wizard("oem"))
    assert driver.walk().flavour == "oem"
    with pytest.raises(StepFailed, match="no screen map for the nokia wizard"):
        driver_for(wizard("oem"), flavour="nokia")


def _map_without(tmp_path: Path, flavour: str, screen: str) -> Path:
    yaml = YAML()
    doc = yaml.load((MAPS / f"{flavour}.yaml").read_text())
    doc["screens"] = [s for s in doc["screens"] if s["name"] != screen]
    path = tmp_path / f"{flavour}.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    return path


def test_an_unknown_screen_ends_the_walk_naming_what_was_on_it(tmp_path: Path) -> None:
    screen = wizard("aosp")
    driver, _ = driver_for(screen, maps=[load_screen_map(_map_without(tmp_path, "aosp", "signin"))])
    with pytest.raises(UnknownScreen, match=r"unknown screen.*com\.google\.android\.gms.*Sign in"):
        driver.walk()
    assert screen.screen_name == "signin"


def test_an_unknown_first_screen_is_known_to_no_map(tmp_path: Path) -> None:
    driver, _ = driver_for(wizard("aosp"), maps=[load_screen_map(_map_without(tmp_path, "aosp", "welcome"))])
    with pytest.raises(UnknownScreen, match="no screen map"):
        driver.walk()


def test_a_screen_two_entries_match_is_not_guessed(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((MAPS / "aosp.yaml").read_text())
    doc["screens"][1]["recognise"] = {"resourceId": "com.google.android.setupwizard:id/start"}
    path = tmp_path / "aosp.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    driver, _ = driver_for(wizard("aosp"), maps=[load_screen_map(path)])
    with pytest.raises(UnknownScreen, match="matches 2 entries"):
        driver.walk()


def test_a_screen_that_does_not_move_on_is_stuck_not_looped_forever(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((MAPS / "aosp.yaml").read_text())
    doc["screens"][0]["advance"] = [{"press": "volume_up"}]
    path = tmp_path / "aosp.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    driver, _ = driver_for(wizard("aosp"), maps=[load_screen_map(path)])
    with pytest.raises(StepFailed, match=f"stays on screen welcome after {MAX_SAME_SCREEN} tries"):
        driver.walk()


def test_a_fallback_is_tried_when_the_way_forward_is_gone(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((MAPS / "aosp.yaml").read_text())
    welcome = doc["screens"][0]
    welcome["advance"] = [{"click": {"text": "Let's go"}}]
    welcome["fallback"] = [{"click": {"resourceId": "com.google.android.setupwizard:id/start"}}]
    path = tmp_path / "aosp.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    driver, _ = driver_for(wizard("aosp"), maps=[load_screen_map(path)])
    driver.ui.wait_s = 0.05
    walk = driver.walk()
    assert walk.visits[0].screen == "welcome"
    assert walk.visits[0].action == "fallback"


def test_skipping_wifi_uses_the_skip_steps() -> None:
    driver, _ = driver_for(wizard("aosp"), skip=True)
    walk = driver.walk()
    assert ("wifi", "skip") in [(v.screen, v.action) for v in walk.visits]
    assert "checking" not in walk.screens  # the update check needs Wi-Fi


def test_a_map_field_the_scenario_does_not_fill_is_a_step_failure(tmp_path: Path) -> None:
    yaml = YAML()
    doc = yaml.load((MAPS / "aosp.yaml").read_text())
    doc["screens"][0]["advance"] = [{"click": {"text": "{operator_name}"}}]
    path = tmp_path / "aosp.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    driver, _ = driver_for(wizard("aosp"), maps=[load_screen_map(path)])
    with pytest.raises(StepFailed, match="operator_name"):
        driver.walk()


def test_consent_variants_are_exactly_three() -> None:
    assert CONSENT_VARIANTS == ("accept-all", "decline-all", "minimal")
    with pytest.raises(ValueError, match="accept-all, decline-all, minimal"):
        consent_choice("accept-some")


def test_a_screen_left_by_one_tap_costs_four_rpcs() -> None:
    driver, _ = driver_for(wizard("aosp"))
    walk = driver.walk()
    welcome = walk.visits[0]
    assert welcome.screen == "welcome"
    assert welcome.calls == 4  # its dump, then uiautomator2's click: waitForExists, objInfo, click
