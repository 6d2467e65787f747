"""The Setup Wizard driver: walks any vendor's wizard by its screen map, with a consent variant.

One hierarchy dump per decision: the driver finds the ONE map entry whose
``recognise`` selector matches the dump, sets a consent screen's toggles as
the variant says and marks the choice on the timeline, runs the entry's
steps (or its decline, skip or fall-back steps), then waits for the screen
to change and decides again, until the launcher shows. A screen no entry
matches, or that two entries match, ends the walk with `UnknownScreen` (the
runner then saves a screenshot and the hierarchy).

Consent variants (`consent_choice`):

``accept-all``
    every optional toggle on, the screen's Accept: ``accepted: true``.
``decline-all``
    every optional toggle off, the screen's own decline button where it has
    one (else its only way forward): ``accepted: false``.
``minimal``
    only what setup cannot go on without: every optional toggle off, the
    screen's Accept (terms, the licence). This counts as ``accepted: false``.
    The EDPB's Guidelines 05/2020 on consent (sections 3.1.3 and 3.2) hold
    that consent is specific, purpose by purpose, and that agreeing to terms
    one must accept to use a service is not consent to anything optional
    (GDPR Art. 7(4)); with every optional purpose switched off, no consent
    was given, and whatever needs consent may not be sent. Marking it
    accepted would let a firmware that sends diagnostics with the switch
    off pass the consent assertion: a pass it did not earn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from phonehome.scenario.hierarchy import Hierarchy
from phonehome.scenario.model import StepFailed
from phonehome.scenario.screenmap import MapScreen, MapStep, ScreenMap
from phonehome.scenario.ui import Ui, shown

CONSENT_VARIANTS = ("accept-all", "decline-all", "minimal")
LAUNCHER = "launcher"
MAX_CLICKS_WHILE = 20
MAX_SAME_SCREEN = 6
"""How often the driver may act on the same screen in a row before it calls the wizard stuck."""


class UnknownScreen(StepFailed):
    """A screen the map does not know (or knows twice): the driver cannot tell what to do on it."""


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    """What a consent variant does on a consent screen, and what its marker says."""

    variant: str
    toggles: bool
    """The value every optional toggle is set to."""
    decline: bool
    """Use the screen's own decline button where it has one."""
    accepted: bool
    """The consent marker's ``accepted`` (see the module docstring for ``minimal``)."""


def consent_choice(variant: str) -> ConsentChoice:
    """The `ConsentChoice` of ``variant``; ValueError naming the variants for any other."""
    if variant == "accept-all":
        return ConsentChoice(variant, toggles=True, decline=False, accepted=True)
    if variant == "decline-all":
        return ConsentChoice(variant, toggles=False, decline=True, accepted=False)
    if variant == "minimal":
        return ConsentChoice(variant, toggles=False, decline=False, accepted=False)
    raise ValueError(f"unknown consent variant {variant!r}: choose one of {', '.join(CONSENT_VARIANTS)}")


@dataclass
class Visit:
    """One decision: the screen recognised, what was done, and what it cost."""

    screen: str
    action: str
    """``advance``, ``decline``, ``skip``, ``fallback`` or ``wait`` (a screen that passes by itself)."""
    calls: int
    """uiautomator2 RPCs this screen cost: the dumps that recognised it, then the gestures done on it."""
    seconds: float


@dataclass
class Walk:
    """A walk to the launcher: the map used, every decision, every consent marker written."""

    flavour: str
    visits: list[Visit] = field(default_factory=list)
    consents: list[dict[str, object]] = field(default_factory=list)
    launcher_calls: int = 0
    """The dumps that saw the launcher (the walk's end)."""

    @property
    def screens(self) -> list[str]:
        return list(dict.fromkeys(v.screen for v in self.visits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "flavour": self.flavour,
            "visits": [asdict(v) for v in self.visits],
            "consents": self.consents,
            "launcher_calls": self.launcher_calls,
        }


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise StepFailed(f"the screen map uses {{{key}}}, which this scenario does not fill in")


class WizardDriver:
    """Walks the wizard on ``ui`` by one of ``maps``; ``decide(phase, **detail)`` writes the consent marker."""

    def __init__(
        self,
        ui: Ui,
        maps: Sequence[ScreenMap],
        *,
        choice: ConsentChoice,
        decide: Callable[..., None],
        values: Mapping[str, str] | None = None,
        skip: bool = False,
        flavour: str | None = None,
        timeout: float = 300.0,
        transition_s: float = 5.0,
        unknown_grace_s: float = 5.0,
        poll_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        seen: Callable[[str], None] | None = None,
    ) -> None:
        self.ui = ui
        self.maps = [m for m in maps if flavour is None or m.flavour == flavour]
        if not self.maps:
            known = ", ".join(m.flavour for m in maps)
            raise StepFailed(f"no screen map for the {flavour} wizard (maps: {known})")
        self.choice = choice
        self.decide = decide
        self.values = _Values(values or {})
        self.skip = skip
        self.timeout = timeout
        self.transition_s = transition_s
        self.unknown_grace_s = unknown_grace_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self.seen: Callable[[str], None] = seen or (lambda name: None)
        """Told each screen recognised (the operator's progress line)."""

    def walk(self) -> Walk:
        """From the screen showing now to the launcher; raises `StepFailed` (or `UnknownScreen`)."""
        deadline = self.clock() + self.timeout
        started, calls = self.clock(), self.ui.calls
        screen_map, dump = self._pick(self.ui.dump())
        walk = Walk(screen_map.flavour)
        last, repeats = "", 0
        while True:
            name = self._recognise(screen_map, dump)
            if name is None:
                dump = self._await_known(screen_map, dump)
                continue
            if name == LAUNCHER:
                walk.launcher_calls = self.ui.calls - calls
                return walk
            if self.clock() > deadline:
                raise StepFailed(
                    f"the wizard did not reach the launcher within {self.timeout:g} s (on {name})"
                )
            screen = screen_map.screen(name)
            self.seen(name)
            repeats = repeats + 1 if name == last and screen.advance else 0
            if repeats >= MAX_SAME_SCREEN:
                raise StepFailed(f"the wizard stays on screen {name} after {repeats} tries of its steps")
            action = self._act(screen_map, screen, walk)
            # A visit costs the dumps that recognised it and the gestures done on it; the dumps taken
            # while the screen moves on belong to the next screen (they recognise it).
            walk.visits.append(Visit(name, action, self.ui.calls - calls, round(self.clock() - started, 3)))
            started, calls, last = self.clock(), self.ui.calls, name
            dump = self._next(dump, passive=not screen.advance)

    # -- recognising ----------------------------------------------------------------------------
    def _matches(self, screen_map: ScreenMap, dump: Hierarchy) -> list[str]:
        entries = [(s.name, s.recognise) for s in screen_map.screens]
        entries.append((LAUNCHER, screen_map.launcher.recognise))
        return [name for name, selector in entries if dump.has(self._fill(selector))]

    def _recognise(self, screen_map: ScreenMap, dump: Hierarchy) -> str | None:
        names = self._matches(screen_map, dump)
        if len(names) > 1:
            raise UnknownScreen(
                f"the screen matches {len(names)} entries of the {screen_map.flavour} map "
                f"({', '.join(names)}): the map must tell its screens apart"
            )
        return names[0] if names else None

    def _pick(self, dump: Hierarchy) -> tuple[ScreenMap, Hierarchy]:
        """The map that knows the first screen (waiting out a transition), or `UnknownScreen`."""
        deadline = self.clock() + self.unknown_grace_s
        while True:
            known = [m for m in self.maps if self._matches(m, dump)]
            if len(known) == 1:
                return known[0], dump
            if len(known) > 1:
                names = ", ".join(m.flavour for m in known)
                raise UnknownScreen(f"the first screen is known to several maps ({names}): pass flavour=NAME")
            if self.clock() >= deadline:
                raise UnknownScreen(
                    f"unknown screen: no screen map ({', '.join(m.flavour for m in self.maps)}) knows it "
                    f"({_describe(dump)}); add it to a map in scenarios/screenmaps/"
                )
            self.sleep(self.poll_s)
            dump = self.ui.dump()

    def _await_known(self, screen_map: ScreenMap, dump: Hierarchy) -> Hierarchy:
        """A dump the map recognises, polling through a transition; `UnknownScreen` after the grace."""
        deadline = self.clock() + self.unknown_grace_s
        while self.clock() < deadline:
            self.sleep(self.poll_s)
            dump = self.ui.dump()
            if self._matches(screen_map, dump):
                return dump
        raise UnknownScreen(
            f"unknown screen: no entry of the {screen_map.flavour} map matches it ({_describe(dump)}); "
            f"add it to {screen_map.path or 'the screen map'}"
        )

    def _next(self, before: Hierarchy, *, passive: bool) -> Hierarchy:
        """The first dump that differs from ``before`` (the screen moved on), or the last one taken."""
        deadline = self.clock() + self.transition_s
        while True:
            dump = self.ui.dump()
            if dump.xml != before.xml or self.clock() >= deadline:
                return dump
            self.sleep(self.poll_s if not passive else max(self.poll_s, 0.5))

    # -- acting ---------------------------------------------------------------------------------
    def _act(self, screen_map: ScreenMap, screen: MapScreen, walk: Walk) -> str:
        if not screen.advance and not screen.consent:
            return "wait"
        action, steps = "advance", screen.advance
        if screen.consent:
            values = {
                key: self._set_toggle(screen, key, selector) for key, selector in screen.toggles.items()
            }
            if self.choice.decline and screen.decline:
                action, steps = "decline", screen.decline
            marker: dict[str, object] = {
                "accepted": self.choice.accepted,
                "variant": self.choice.variant,
                "screen": screen.name,
                "flavour": screen_map.flavour,
                **values,
            }
            self.decide("consent", **marker)  # just before the tap that gives the decision to the handset
            walk.consents.append(marker)
        elif self.skip and screen.skip:
            action, steps = "skip", screen.skip
        try:
            self._run(screen, steps)
        except StepFailed:
            if not screen.fallback:
                raise
            self._run(screen, screen.fallback)
            action = "fallback"
        return action

    def _set_toggle(self, screen: MapScreen, key: str, selector: Mapping[str, Any]) -> bool:
        wanted = self.choice.toggles
        target = self._fill(selector)
        if not self.ui.scroll_to(screen.scroll or {"scrollable": True}, target):
            raise StepFailed(f"consent screen {screen.name}: toggle {key} ({shown(target)}) is not on it")
        if self.ui.checked(target) != wanted:
            self.ui.click(target)
            if self.ui.checked(target) != wanted:
                raise StepFailed(
                    f"consent screen {screen.name}: toggle {key} did not switch {'on' if wanted else 'off'}"
                )
        return wanted

    def _run(self, screen: MapScreen, steps: Sequence[MapStep]) -> None:
        for step in steps:
            if step.when is not None and not self.ui.exists(self._fill(step.when)):
                continue
            if step.unless is not None and self.ui.exists(self._fill(step.unless)):
                continue
            if step.click is not None:
                self.ui.click(self._fill(step.click))
            elif step.click_while is not None:
                target = self._fill(step.click_while)
                for _ in range(MAX_CLICKS_WHILE):
                    if not self.ui.exists(target):
                        break
                    self.ui.click(target)
            elif step.check is not None:
                target = self._fill(step.check)
                if not self.ui.checked(target):
                    self.ui.click(target)
            elif step.set_text is not None:
                text = self._fill({"text": step.set_text.text})["text"]
                self.ui.set_text(self._fill(step.set_text.selector), text)
            elif step.scroll_to is not None:
                target = self._fill(step.scroll_to)
                if not self.ui.scroll_to(screen.scroll or {"scrollable": True}, target):
                    raise StepFailed(
                        f"screen {screen.name}: scrolled to the end without finding {shown(target)}"
                    )
            elif step.press is not None:
                self.ui.press(step.press)

    def _fill(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        """The selector with ``{ssid}``-style fields filled in (regular expressions are left alone)."""
        out = {}
        for key, value in selector.items():
            filled = value
            if isinstance(value, str) and "{" in value and not key.endswith("Matches"):
                try:
                    filled = value.format_map(self.values)
                except (ValueError, IndexError) as exc:
                    raise StepFailed(f"selector {key}={value!r}: {exc}") from None
            out[key] = filled
        return out


def _describe(dump: Hierarchy) -> str:
    """What is on an unknown screen, briefly: its package and first texts (escaped, cut short)."""
    packages = ", ".join(dump.packages[:2]) or "no package"
    texts = [n.get("text", "") for n in dump.nodes if n.get("text", "").strip()][:4]
    shown_texts = "; ".join(repr(t[:40]) for t in texts) or "no text"
    return f"package {packages}; texts {shown_texts}"
