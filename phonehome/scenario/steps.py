"""The steps scenarios are written with: ADB commands, waits with deadlines, and acts of the operator.

Every step reads and drives the handset over ADB only (what Android 9-14
answer to ``getprop``, ``dumpsys``, ``input keyevent``...), so a real phone
and a virtual one behave the same. Waits are in handset seconds and scaled
by the run (`phonehome.scenario.context.Context.scaled`); deadlines for what
the handset must *show* are real seconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from phonehome.scenario.context import Context
from phonehome.scenario.model import Detail, StepFailed, StepKind
from phonehome.scenario.operator import CONFIRM, FACTORY_RESET, POWER_ON, SIM_INSERT, SIM_SWAP, parse_answer

BOOT_TIMEOUT_S = 180.0
SHOW_TIMEOUT_S = 15.0
"""How long the handset may take to show a new state (screen off, SIM ready)."""
BOOT_NOT_CAPTURED = (
    "the handset was already on when the scenario began: what it sent while it booted was not captured "
    "(switch it off before the run, or reset it: --scenario-option reset=adb)"
)
_INET = re.compile(r"^\s*inet (?P<address>[0-9.]+)/\d+ .*scope global", re.MULTILINE)
_WAKEFULNESS = re.compile(r"mWakefulness=(\w+)")
_KEYGUARD = re.compile(r"(?:mKeyguardShowing|mDreamingLockscreen)=(true|false)")
_DATA_STATE = re.compile(r"mDataConnectionState=(-?\d+)")


@dataclass
class Shell:
    """An ADB shell command (an argv list, never a shell string); fails on a non-zero exit."""

    argv: Sequence[str]
    label: str = ""
    timeout: float = 30.0
    kind: StepKind = "automated"

    def __post_init__(self) -> None:
        self.label = self.label or " ".join(self.argv)[:60]

    def run(self, ctx: Context) -> Detail | None:
        ctx.handset.shell(list(self.argv), timeout=self.timeout, step=self.label)
        return None


@dataclass
class Wait:
    """Lets ``seconds`` of handset time pass (scaled on virtual handsets), at least ``at_least`` real ones."""

    seconds: float
    label: str = "wait"
    at_least: float = 0.0
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        real = max(ctx.scaled(self.seconds), self.at_least)
        ctx.sleep(real)
        return {f"{self.label}_s": self.seconds}


def Settle(seconds: float, at_least: float = 1.0) -> Wait:
    """Lets the handset send what it sends after a phase: ``seconds`` of handset time, at least
    ``at_least`` real seconds (connections and lookups take real time even on a fast clock)."""
    return Wait(seconds, "settle", at_least)


@dataclass
class PowerOn:
    """Powers the handset on (an act of the operator), unless it already answers over ADB.

    ``captures_boot``: the scenario claims to capture the boot (first-boot). A handset that was
    already on booted before the capture began, so what it sent then was not seen: a doubt, which
    a later `FactoryReset` (a new boot, captured) lifts.
    """

    timeout: float = BOOT_TIMEOUT_S
    captures_boot: bool = False
    label: str = "power on"
    kind: StepKind = "manual"

    def run(self, ctx: Context) -> Detail | None:
        if ctx.online():
            ctx.connect(self.timeout)
            if self.captures_boot:
                ctx.doubt(BOOT_NOT_CAPTURED)
            return {"power": "already on"}
        ctx.operator.perform(
            POWER_ON, {}, "Switch the handset on: hold its power button until the screen lights up."
        )
        if ctx.waits_for_setup:  # a retail build: no ADB before its wizard is done
            return {"power": "switched on", "adb": "after setup"}
        ctx.connect(self.timeout)
        return {"power": "switched on"}


@dataclass
class WaitBootCompleted:
    """Until ``sys.boot_completed`` is 1; records the build type a lab must name in its report."""

    timeout: float = BOOT_TIMEOUT_S
    label: str = "boot completed"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        if ctx.waits_for_setup:
            ctx.operator.perform(
                CONFIRM,
                {"wait": "boot"},
                "Wait until the handset shows its Setup Wizard (or its lock screen), then press Enter.",
            )
            return {"build_type": "read over ADB after setup"}
        ctx.handset.wait_boot_completed(self.timeout, step=self.label)
        build_type = ctx.handset.getprop("ro.build.type", step=self.label)
        return {"build_type": build_type}


@dataclass
class WaitNetwork:
    """Until the handset has a global IPv4 address (its lease on the bench)."""

    timeout: float = 120.0
    label: str = "network attached"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        def address() -> str | None:
            out = ctx.handset.shell(["ip", "-4", "addr", "show"], step=self.label, check=False).stdout
            found = [m["address"] for m in _INET.finditer(out) if not m["address"].startswith("127.")]
            return found[0] if found else None

        return {
            "address": ctx.wait_until(address, what="an IPv4 address on the handset", timeout=self.timeout)
        }


def _keyevent(ctx: Context, key: str, step: str) -> None:
    ctx.handset.shell(["input", "keyevent", key], step=step)


def _wakefulness(ctx: Context, step: str) -> str:
    out = ctx.handset.shell(["dumpsys", "power"], step=step).stdout
    found = _WAKEFULNESS.search(out)
    if found is None:
        raise StepFailed("dumpsys power shows no mWakefulness: cannot tell whether the screen is on")
    return found.group(1)


@dataclass
class ScreenOff:
    """``KEYCODE_SLEEP``, then until ``dumpsys power`` says the handset is asleep (or dozing)."""

    label: str = "screen off"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        _keyevent(ctx, "KEYCODE_SLEEP", self.label)
        state = ctx.wait_until(
            lambda: (w := _wakefulness(ctx, self.label)) in ("Asleep", "Dozing") and w,
            what="the screen going off (mWakefulness=Asleep)",
            timeout=SHOW_TIMEOUT_S,
        )
        return {"wakefulness": state}


@dataclass
class ScreenOn:
    """``KEYCODE_WAKEUP``, then until ``dumpsys power`` says the handset is awake."""

    label: str = "screen on"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        _keyevent(ctx, "KEYCODE_WAKEUP", self.label)
        ctx.wait_until(
            lambda: _wakefulness(ctx, self.label) == "Awake",
            what="the screen coming on (mWakefulness=Awake)",
            timeout=SHOW_TIMEOUT_S,
        )
        return {"wakefulness": "Awake"}


def keyguard_showing(text: str) -> bool | None:
    """``dumpsys window``: whether the keyguard shows (Android 10+ ``mKeyguardShowing``, 9
    ``mDreamingLockscreen``); None when the output says neither."""
    found = _KEYGUARD.findall(text)
    return None if not found else "true" in found


@dataclass
class Unlock:
    """Dismisses a swipe (or no) lock screen, as a person's swipe would; a PIN lock is not guessed."""

    label: str = "unlock"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        dismissed = ctx.handset.shell(["wm", "dismiss-keyguard"], step=self.label, check=False)
        how = "wm dismiss-keyguard"
        if not dismissed.ok:
            _keyevent(ctx, "KEYCODE_MENU", self.label)  # Android < 8: MENU lifts an insecure keyguard
            how = "KEYCODE_MENU"

        def unlocked() -> bool:
            showing = keyguard_showing(ctx.handset.shell(["dumpsys", "window"], step=self.label).stdout)
            if showing is None:
                raise StepFailed("dumpsys window shows no keyguard state: cannot tell whether it unlocked")
            return not showing

        ctx.wait_until(
            unlocked, what="the keyguard going away (a PIN? unlock by hand)", timeout=SHOW_TIMEOUT_S
        )
        return {"unlocked_by": how}


def sim_states(text: str) -> list[str]:
    """``gsm.sim.state`` per slot (``READY,ABSENT`` on a dual-SIM phone)."""
    return [s.strip() for s in text.strip().split(",")] if text.strip() else []


@dataclass
class ChangeSim:
    """A SIM the handset has never seen goes into ``slot`` (1 = the first): inserted where the slot is
    empty, swapped where it holds one. The operator's answer names the new card (``iccid=... imsi=...``)
    so its leaks can be looked for; where it does not, the run cannot PASS."""

    slot: int = 1
    iccid: str | None = None
    label: str = "new SIM"
    kind: StepKind = "manual"
    timeout: float = 60.0

    def run(self, ctx: Context) -> Detail | None:
        states = sim_states(ctx.handset.getprop("gsm.sim.state", step=self.label))
        present = len(states) >= self.slot and states[self.slot - 1] not in (
            "ABSENT",
            "",
            "NOT_READY",
            "UNKNOWN",
        )
        act = SIM_SWAP if present else SIM_INSERT
        card = (
            f"the SIM card with ICCID {self.iccid}" if self.iccid else "a SIM card never used in this handset"
        )
        verb = f"Replace the SIM in slot {self.slot} with" if present else f"Insert into slot {self.slot}"
        answer = ctx.operator.perform(
            act,
            {"slot": self.slot, "iccid": self.iccid},
            f"{verb} {card}. Then type its ICCID and IMSI as iccid=... imsi=...",
        )
        learned = parse_answer(answer)
        if self.iccid and "iccid" not in learned:
            learned["iccid"] = self.iccid
        for key, value in learned.items():
            ctx.learn(key, value)
        missing = [k for k in ("iccid", "imsi") if k not in learned]
        if missing:
            ctx.doubt(
                f"the SIM the scenario put in slot {self.slot} has no known {' or '.join(missing)} (the operator "
                "did not type it): leaks of it cannot be looked for"
            )

        def ready() -> bool:
            now = sim_states(ctx.handset.getprop("gsm.sim.state", step=self.label))
            return len(now) >= self.slot and now[self.slot - 1] == "READY"

        ctx.wait_until(ready, what=f"gsm.sim.state READY in slot {self.slot}", timeout=self.timeout)
        operator = ctx.handset.getprop("gsm.sim.operator.numeric", step=self.label)
        return {"sim": act, "slot": self.slot, "sim_operator": operator}


@dataclass
class MobileAttach:
    """Until ``dumpsys telephony.registry`` shows mobile data connected (mDataConnectionState=2).

    ``mode="skip"`` for a lab without a cellular network: the step records that it did not wait, and the
    phase is not counted as covered.
    """

    mode: Literal["required", "skip"] = "required"
    timeout: float = 120.0
    label: str = "mobile data attached"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        if self.mode == "skip":
            ctx.doubt(
                "mobile data was not attached (mobile_attach=skip): what the handset sends only over mobile "
                "data was not exercised"
            )
            return {"mobile": "skipped"}

        def attached() -> bool:
            out = ctx.handset.shell(["dumpsys", "telephony.registry"], step=self.label).stdout
            return "2" in _DATA_STATE.findall(out)

        ctx.wait_until(attached, what="mobile data connected (mDataConnectionState=2)", timeout=self.timeout)
        return {"mobile": "attached"}


@dataclass
class FactoryReset:
    """Wipes the handset back to first boot: over ADB (``via="adb"``: a userdebug build's
    FACTORY_RESET broadcast) or by the operator, then waits for the new boot to complete."""

    via: Literal["adb", "operator"] = "adb"
    timeout: float = 600.0
    label: str = "factory reset"
    kind: StepKind = "automated"

    def run(self, ctx: Context) -> Detail | None:
        handset = ctx.handset
        with handset.handle_reboot(self.timeout):
            if self.via == "adb":
                handset.shell(
                    ["am", "broadcast", "-a", "android.intent.action.FACTORY_RESET", "-p", "android"],
                    step=self.label,
                )
            else:
                ctx.operator.perform(
                    FACTORY_RESET, {}, "Factory-reset the handset (Settings > System > Reset)."
                )
        if BOOT_NOT_CAPTURED in ctx.doubts:
            ctx.doubts.remove(BOOT_NOT_CAPTURED)  # the boot after the wipe is the one the capture saw
        return {"reset": self.via}
