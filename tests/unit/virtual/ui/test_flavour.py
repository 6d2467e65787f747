"""Flavour definitions: the bundled ones load, and mistakes are reported with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.virtual.ui.flavour import FLAVOUR_DIR, Flavour, flavour_names, load_flavour, parse_action
from phonehome.yamlconf import ConfigError, load_model


def test_both_flavours_are_bundled_and_load() -> None:
    assert flavour_names() == ["aosp", "oem"]
    aosp, oem = load_flavour("aosp"), load_flavour("oem")
    assert aosp.package == "com.google.android.setupwizard"
    assert oem.package != aosp.package


def test_the_flavours_differ_in_ids_texts_order_and_screens() -> None:
    aosp, oem = load_flavour("aosp"), load_flavour("oem")
    flow = {f.name: [s.name for s in f.screens if s.flow] for f in (aosp, oem)}
    assert flow["aosp"].index("wifi") < flow["aosp"].index("sim")
    assert flow["oem"].index("sim") < flow["oem"].index("wifi")
    assert {"terms", "oem_account", "improve"} <= set(flow["oem"]) - set(flow["aosp"])
    assert aosp.ids.title != oem.ids.title
    assert aosp.screen("wifi").title != oem.screen("wifi").title


def test_consent_screens_offer_the_optional_toggles() -> None:
    for name, screen in (("aosp", "google_services"), ("oem", "services")):
        toggles = {i.key for i in load_flavour(name).screen(screen).items if i.kind == "toggle"}
        assert toggles == {"diagnostics", "location", "scanning"}


def test_ids_take_the_screen_package_unless_they_name_one() -> None:
    aosp = load_flavour("aosp")
    wifi = aosp.screen("wifi")
    assert aosp.resource_id(wifi, "skip_button") == "com.android.settings:id/skip_button"
    assert aosp.resource_id(wifi, "android:id/title") == "android:id/title"
    assert aosp.resource_id(aosp.screen("welcome"), "start") == "com.google.android.setupwizard:id/start"


def test_an_unknown_flavour_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of: aosp, oem"):
        load_flavour("pixel")


def test_action_steps_are_checked() -> None:
    assert parse_action("connect; next") == ("connect", "next")
    assert parse_action("goto:pin_skip") == ("goto:pin_skip",)
    with pytest.raises(ValueError, match="unknown action step 'jump'"):
        parse_action("jump")


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (FLAVOUR_DIR / "aosp.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('action: "goto:language"', 'action: "goto:nowhere"', "goto:nowhere names no screen"),
        ("action: next}", "action: onward}", "unknown action step 'onward'"),
        ("title: Hi there", "titel: Hi there", r"broken.yaml:\d+: screens.0.titel: unknown key"),
        ("    consent: true\n", "    consent: true\n    consent: false\n", "duplicate key"),
        (
            "kind: toggle\n        id: location_toggle\n        key: location",
            "kind: toggle\n        id: location_toggle\n        key: ''",
            "needs a key",
        ),
    ],
)
def test_mistakes_in_a_flavour_are_reported_where_they_are(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_model(Flavour, broken(tmp_path, old, new))
