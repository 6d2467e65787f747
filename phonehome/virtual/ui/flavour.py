"""Setup Wizard flavours: the screens of one vendor's wizard, as data (``flavours/NAME.yaml``).

A flavour fixes packages, resource ids, texts, the order of screens and which
toggles a consent screen offers; the wizard state machine (`wizard.py`) and the
layout (`layout.py`) are the same for every flavour, so scenario code is tested
against variation in data only. Files are validated strictly, with file:line
errors, like every other definition file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import pydantic

from phonehome.yamlconf import ConfigError, StrictModel, load_model

FLAVOUR_DIR = Path(__file__).with_name("flavours")
STEPS = frozenset({"next", "back", "accept", "decline", "connect", "finish", "more", "none"})
_STEP = re.compile(r"^(?:goto:[a-z][a-z0-9_]*|[a-z]+)$")


def parse_action(action: str) -> tuple[str, ...]:
    """``"connect; next"`` -> ``("connect", "next")``; raises ValueError for an unknown step."""
    steps = tuple(step.strip() for step in action.split(";"))
    for step in steps:
        if not _STEP.match(step) or (not step.startswith("goto:") and step not in STEPS):
            raise ValueError(f"unknown action step {step!r}: use {', '.join(sorted(STEPS))} or goto:SCREEN")
    return steps


class Display(StrictModel):
    """The panel: pixels and density (``wm size``, ``wm density``)."""

    width: int = pydantic.Field(ge=240, le=4096)
    height: int = pydantic.Field(ge=320, le=4096)
    density: int = pydantic.Field(ge=120, le=640)


class Style(StrictModel):
    """How the renderer paints this vendor's screens; the footer layout also changes node bounds."""

    accent: str = "#1a73e8"
    background: str = "#ffffff"
    text: str = "#202124"
    secondary_text: str = "#5f6368"
    footer: Literal["bar", "split"] = "bar"
    title_align: Literal["start", "center"] = "start"


class Ids(StrictModel):
    """Resource ids of the structural nodes every page has (relative ids take the screen's package)."""

    layout: str
    icon: str
    title: str
    description: str
    scroll: str
    content: str
    footer: str


class EnabledIf(StrictModel):
    """When a button is enabled: a checkbox is checked, a field is long enough, or Wi-Fi is connected."""

    checked: str | None = None
    field: str | None = None
    min_length: int = 1
    connected: bool | None = None

    @pydantic.model_validator(mode="after")
    def _one_condition(self) -> EnabledIf:
        given = [self.checked is not None, self.field is not None, self.connected is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of checked, field (with min_length) or connected")
        return self


class Item(StrictModel):
    """One element of a screen's content, top to bottom."""

    kind: Literal[
        "text", "heading", "button", "toggle", "checkbox", "edit", "networks", "languages", "progress"
    ]
    id: str = ""
    text: str = ""
    summary: str = ""
    key: str = ""  # toggle: consent key; checkbox: state key; edit: field key
    default: bool = False
    widget: Literal["switch", "checkbox"] = "switch"  # toggles only
    hint: str = ""
    password: bool = False
    reveals: str = ""  # a checkbox that shows the password of this field key
    style: Literal["link", "outline", "primary"] = "link"
    action: str = "none"
    open_action: str = "connect; next"  # networks: an open network row
    enabled_if: EnabledIf | None = None

    @pydantic.field_validator("action", "open_action")
    @classmethod
    def _action(cls, value: str) -> str:
        parse_action(value)
        return value

    @pydantic.model_validator(mode="after")
    def _keyed(self) -> Item:
        if self.kind in ("toggle", "checkbox", "edit") and not self.key:
            raise ValueError(f"a {self.kind} needs a key (the state it reads and writes)")
        return self


class Button(StrictModel):
    """A footer button; ``more_text`` makes it scroll the page until the end is seen (Pixel's "More")."""

    id: str
    text: str
    action: str
    more_text: str = ""
    enabled_if: EnabledIf | None = None

    @pydantic.field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        parse_action(value)
        return value


class ScreenDef(StrictModel):
    """One screen: what it shows and where each button leads."""

    name: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["page", "dialog", "progress"] = "page"
    flow: bool = True  # part of the forward order; False: reached only by goto (pickers, dialogs)
    show_if: Literal["always", "sim", "wifi"] = "always"
    consent: bool = False  # accept/decline here report this screen's toggles
    package: str = ""
    activity: str
    title: str = ""
    description: str = ""
    icon: str = ""  # content-desc of the header icon; empty for none
    items: list[Item] = pydantic.Field(default_factory=list)
    primary: Button | None = None
    secondary: Button | None = None
    auto_next_s: float | None = pydantic.Field(default=None, ge=0, le=60)


class App(StrictModel):
    """A launcher icon and what it opens."""

    label: str
    package: str
    activity: str


class Launcher(StrictModel):
    package: str
    activity: str
    workspace_id: str
    apps: list[App]


class Language(StrictModel):
    code: str = pydantic.Field(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")
    label: str


class Flavour(StrictModel):
    """A whole wizard: the vendor's packages, ids, style, languages, screens in order and launcher."""

    name: str
    package: str
    display: Display
    style: Style = Style()
    ids: Ids
    languages: list[Language] = pydantic.Field(min_length=1)
    screens: list[ScreenDef] = pydantic.Field(min_length=2)
    launcher: Launcher

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Flavour:
        names = [s.name for s in self.screens]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"screen names must be unique: {', '.join(duplicates)}")
        if not self.screens[0].flow:
            raise ValueError("the first screen must be part of the flow")
        for screen in self.screens:
            for action in _actions(screen):
                for step in parse_action(action):
                    if step.startswith("goto:") and step[5:] not in names:
                        raise ValueError(f"screen {screen.name}: {step} names no screen")
            if screen.consent and not any(i.kind == "toggle" for i in screen.items):
                raise ValueError(f"screen {screen.name}: a consent screen needs at least one toggle")
        return self

    def screen(self, name: str) -> ScreenDef:
        for screen in self.screens:
            if screen.name == name:
                return screen
        raise KeyError(f"flavour {self.name} has no screen {name!r}")

    def package_of(self, screen: ScreenDef) -> str:
        return screen.package or self.package

    def resource_id(self, screen: ScreenDef, rid: str) -> str:
        """``name`` -> ``PACKAGE:id/name``; ids with a package (``android:id/button1``) stay."""
        if not rid or ":" in rid:
            return rid
        return f"{self.package_of(screen)}:id/{rid}"


def _actions(screen: ScreenDef) -> list[str]:
    actions = [item.action for item in screen.items] + [item.open_action for item in screen.items]
    actions += [b.action for b in (screen.primary, screen.secondary) if b is not None]
    return actions


@cache
def load_flavour(name: str) -> Flavour:
    """The bundled flavour ``name`` (``aosp``, ``oem``); raises ConfigError naming the choices."""
    path = FLAVOUR_DIR / f"{name}.yaml"
    if not re.fullmatch(r"[a-z0-9_-]+", name) or not path.is_file():
        choices = ", ".join(flavour_names())
        raise ConfigError(path, [f"unknown Setup Wizard flavour {name!r}; choose one of: {choices}"])
    return load_model(Flavour, path)


def flavour_names() -> list[str]:
    return sorted(p.stem for p in FLAVOUR_DIR.glob("*.yaml"))
