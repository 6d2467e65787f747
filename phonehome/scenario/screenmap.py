"""Setup Wizard screen maps (``scenarios/screenmaps/*.yaml``): how each screen is recognised and left.

The format is described in the header of ``scenarios/screenmaps/aosp.yaml``.
Maps are definition files: unknown keys, a selector field UiAutomator does
not have, a step with two actions or a toggle on a screen that is not a
consent screen are errors naming file, line and key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic

from phonehome.assets import SHIPPED
from phonehome.scenario.hierarchy import SELECTOR_KEYS
from phonehome.yamlconf import ConfigError, StrictModel, load_model

SCENARIO_DIR_ENV = "PHONEHOME_SCENARIOS"
"""A scenarios/ folder (scripts, and screenmaps/ beside them) to look in first."""
RESERVED_TOGGLES = frozenset({"accepted", "screen", "variant", "flavour", "phase", "ts", "end", "scenario"})
"""Keys the consent marker itself uses; a toggle may not be named like one."""


def scenario_dirs() -> list[Path]:
    """Where scenarios and screen maps are looked up: $PHONEHOME_SCENARIOS, ./scenarios, the shipped ones."""
    dirs = []
    if os.environ.get(SCENARIO_DIR_ENV):
        dirs.append(Path(os.environ[SCENARIO_DIR_ENV]))
    dirs.append(Path.cwd() / "scenarios")
    dirs.append(SHIPPED / "scenarios")
    return list(dict.fromkeys(dirs))


def _selector(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        raise ValueError("a selector is a mapping of UiSelector fields, e.g. {resourceId: ...}")
    unknown = sorted(set(value) - SELECTOR_KEYS)
    if unknown:
        raise ValueError(
            f"not a UiSelector field: {', '.join(unknown)} (known: {', '.join(sorted(SELECTOR_KEYS))})"
        )
    for key, item in value.items():
        if not isinstance(item, str | bool | int):
            raise ValueError(f"{key}: a selector value is text, a number or true/false")
        if key.endswith("Matches") and isinstance(item, str):
            try:
                re.compile(item)
            except re.error as exc:
                raise ValueError(f"{key}: not a regular expression: {exc}") from None
    return value


Selector = dict[str, Any]


class SetText(StrictModel):
    selector: Selector
    text: str

    @pydantic.field_validator("selector", mode="before")
    @classmethod
    def _valid(cls, value: Any) -> Any:
        return _selector(value)


class MapStep(StrictModel):
    """One gesture; ``when``/``unless``: only if that selector is (not) on screen at that moment."""

    click: Selector | None = None
    click_while: Selector | None = None
    check: Selector | None = None
    set_text: SetText | None = None
    scroll_to: Selector | None = None
    press: str | None = None
    when: Selector | None = None
    unless: Selector | None = None

    @pydantic.field_validator("click", "click_while", "check", "scroll_to", "when", "unless", mode="before")
    @classmethod
    def _selectors(cls, value: Any) -> Any:
        return None if value is None else _selector(value)

    @pydantic.model_validator(mode="after")
    def _one_action(self) -> MapStep:
        actions = [self.click, self.click_while, self.check, self.set_text, self.scroll_to, self.press]
        if sum(a is not None for a in actions) != 1:
            raise ValueError(
                "a step has exactly one of click, click_while, check, set_text, scroll_to, press"
            )
        return self


class MapScreen(StrictModel):
    """One wizard screen: its recognising selector, and the steps that leave it."""

    name: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    recognise: Selector
    optional: bool = False
    """It may not appear (no SIM, no Wi-Fi, a dialog reached only by a choice)."""
    consent: bool = False
    """A consent screen: its toggles are set by the consent variant, and the choice is marked."""
    scroll: Selector | None = None
    """The scrolling container toggles and buttons are scrolled into view in."""
    toggles: dict[str, Selector] = pydantic.Field(default_factory=dict)
    advance: list[MapStep]
    """The way forward; on a consent screen, accepting (with the toggles as the variant set them)."""
    skip: list[MapStep] = pydantic.Field(default_factory=list)
    """Skipping what the screen offers (Wi-Fi: do not join)."""
    decline: list[MapStep] = pydantic.Field(default_factory=list)
    """A consent screen's own decline button, when it has one."""
    fallback: list[MapStep] = pydantic.Field(default_factory=list)
    """Tried once when ``advance`` cannot be done (a button renamed in a new build)."""

    @pydantic.field_validator("recognise", "scroll", mode="before")
    @classmethod
    def _selectors(cls, value: Any) -> Any:
        return None if value is None else _selector(value)

    @pydantic.field_validator("toggles", mode="before")
    @classmethod
    def _toggles(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("toggles map each consent key to the selector of its switch or check box")
        for key, selector in value.items():
            if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"toggle {key!r}: a key is lower-case letters, digits and _")
            if key in RESERVED_TOGGLES:
                raise ValueError(f"toggle {key!r}: the consent marker uses that key itself")
            _selector(selector)
        return value

    @pydantic.model_validator(mode="after")
    def _consent_only(self) -> MapScreen:
        if not self.consent and (self.toggles or self.decline):
            raise ValueError(
                f"screen {self.name}: toggles and decline belong to consent screens (consent: true)"
            )
        return self


class MapLauncher(StrictModel):
    package: str
    recognise: Selector

    @pydantic.field_validator("recognise", mode="before")
    @classmethod
    def _selectors(cls, value: Any) -> Any:
        return _selector(value)


class ScreenMap(StrictModel):
    """A vendor's wizard: its screens, and the launcher that shows when it is done."""

    flavour: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    package: str
    launcher: MapLauncher
    screens: list[MapScreen] = pydantic.Field(min_length=1)
    _path: str = pydantic.PrivateAttr(default="")

    @pydantic.model_validator(mode="after")
    def _unique(self) -> ScreenMap:
        names = [s.name for s in self.screens]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"screen names must be unique: {', '.join(twice)}")
        return self

    @property
    def path(self) -> str:
        return self._path

    def screen(self, name: str) -> MapScreen:
        for screen in self.screens:
            if screen.name == name:
                return screen
        raise KeyError(f"screen map {self.flavour} has no screen {name!r}")


def load_screen_map(path: Path | str) -> ScreenMap:
    """Reads one map; `phonehome.yamlconf.ConfigError` names file, line and key."""
    loaded = load_model(ScreenMap, path)
    loaded._path = str(path)
    return loaded


def screen_maps(where: Path | str | None = None) -> list[ScreenMap]:
    """Every map of a folder (or the one file given); by default the first ``screenmaps/`` found."""
    if where is not None:
        path = Path(where)
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    else:
        folder = next((d / "screenmaps" for d in scenario_dirs() if (d / "screenmaps").is_dir()), None)
        files = sorted(folder.glob("*.yaml")) if folder else []
    if not files:
        raise ConfigError(str(where or "scenarios/screenmaps"), ["no screen map (*.yaml) found"])
    return [load_screen_map(f) for f in files]
