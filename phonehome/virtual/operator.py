"""`VirtualOperator`: a scenario's manual steps, done on a virtual handset as a lab assistant's hands would.

A scenario step that needs a person (put in a SIM, press the power button,
erase the phone from Settings) names a machine-readable *act* with
parameters. On a real bench a person reads the instruction and confirms; on
a virtual one this operator performs the act on the `VirtualHandset`
directly: nothing goes over ADB, exactly as with hands. Its ``perform``
matches the scenario engine's ``Operator`` protocol (``perform(act, params,
instruction) -> str``) without importing it: the run orchestration registers
it.

Acts and their parameters:

- ``sim.insert``: ``slot`` (0 is SIM1, default 0), ``iccid`` (a card's ICCID) or ``fresh: true``
  (a card the handset never held; the default)
- ``sim.remove``: ``slot``
- ``sim.swap``: ``slot``, ``iccid`` or ``fresh`` (the new card; its ICCID always differs)
- ``power.press``: ``times`` (default 1): presses of the power button
- ``factory-reset``: ``wait`` (default false): return only once the first boot after the wipe completed
- ``power.bootloader``: switch it off and hold Volume Down + Power: it waits in fastboot mode
- ``usb-debugging.enable``: Developer options > USB debugging, on an unlocked panel after setup: ADB starts
- ``screen.look``: what the panel shows, as JSON (`Fingers.look`); ``screen.tap``: ``text`` (a label) or
  ``x`` and ``y``; ``screen.type``: ``text``; ``screen.key``: ``key`` (a name or keycode);
  ``screen.swipe``: ``direction`` (up, down)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from phonehome.virtual.events import HandsetError
from phonehome.virtual.fingers import Fingers
from phonehome.virtual.handset import VirtualHandset

MAX_PRESSES = 10


class OperatorError(HandsetError, ValueError):
    """An act the operator does not know, or parameters it cannot use; the message lists what it takes."""


class VirtualOperator:
    """Performs manual scenario acts on ``handset``."""

    def __init__(self, handset: VirtualHandset, *, reset_timeout: float = 120.0) -> None:
        self.handset = handset
        self.reset_timeout = reset_timeout
        self._acts: dict[str, tuple[frozenset[str], Callable[[Mapping[str, object]], str]]] = {
            "sim.insert": (frozenset({"slot", "iccid", "fresh"}), self._sim_insert),
            "sim.remove": (frozenset({"slot"}), self._sim_remove),
            "sim.swap": (frozenset({"slot", "iccid", "fresh"}), self._sim_swap),
            "power.press": (frozenset({"times"}), self._power_press),
            "factory-reset": (frozenset({"wait"}), self._factory_reset),
            "power.bootloader": (frozenset(), self._bootloader),
            "usb-debugging.enable": (frozenset(), self._usb_debugging),
            "screen.look": (frozenset(), self._look),
            "screen.tap": (frozenset({"text", "x", "y"}), self._tap),
            "screen.type": (frozenset({"text"}), self._type),
            "screen.key": (frozenset({"key"}), self._key),
            "screen.swipe": (frozenset({"direction"}), self._swipe),
        }

    def __repr__(self) -> str:
        return f"<VirtualOperator {self.handset.name}>"

    @property
    def acts(self) -> list[str]:
        return sorted(self._acts)

    def perform(self, act: str, params: Mapping[str, object] | None = None, instruction: str = "") -> str:
        """Does ``act`` with ``params`` (``instruction`` is what a person would read; unused here) and
        says in a sentence what was done. `OperatorError` for an unknown act or parameter."""
        if act not in self._acts:
            raise OperatorError(
                f"{self!r}: unknown act {act!r}; this operator performs: {', '.join(self.acts)}"
            )
        allowed, run = self._acts[act]
        given = dict(params or {})
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise OperatorError(
                f"{self!r}: {act} takes {', '.join(sorted(allowed)) or 'no parameters'}, not {', '.join(unknown)}"
            )
        return run(given)

    # -- the acts ---------------------------------------------------------------------------------

    def _sim_insert(self, params: Mapping[str, object]) -> str:
        slot, iccid = self._slot(params, "sim.insert"), self._iccid(params, "sim.insert")
        card = self.handset.sim_insert(slot, iccid)
        return f"inserted SIM {card.iccid} ({card.carrier.name}) into slot {slot}"

    def _sim_remove(self, params: Mapping[str, object]) -> str:
        slot = self._slot(params, "sim.remove")
        card = self.handset.sim_remove(slot)
        return f"removed SIM {card.iccid} from slot {slot}"

    def _sim_swap(self, params: Mapping[str, object]) -> str:
        slot, iccid = self._slot(params, "sim.swap"), self._iccid(params, "sim.swap")
        sims = {s.slot: s for s in self.handset.identity.sims}
        old = sims.get(slot)
        card = self.handset.sim_swap(slot, iccid)
        before = f"SIM {old.iccid}" if old else "an empty slot"
        return f"swapped {before} in slot {slot} for SIM {card.iccid} ({card.carrier.name})"

    def _power_press(self, params: Mapping[str, object]) -> str:
        times = params.get("times", 1)
        if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_PRESSES:
            raise OperatorError(f"{self!r}: power.press times must be 1-{MAX_PRESSES}, got {times!r}")
        for _ in range(times):
            self.handset.press_power()
        state = "on" if self.handset.display.awake else "off"
        return f"pressed the power button {times} time{'s' if times > 1 else ''}: the screen is {state}"

    def _factory_reset(self, params: Mapping[str, object]) -> str:
        wait = params.get("wait", False)
        if not isinstance(wait, bool):
            raise OperatorError(f"{self!r}: factory-reset wait must be true or false, got {wait!r}")
        self.handset.factory_reset(wait=wait, timeout=self.reset_timeout)
        done = "it is back at first boot" if wait else "it reboots into recovery, wipes and comes back"
        return f"erased all data (factory reset): {done}"

    def _bootloader(self, params: Mapping[str, object]) -> str:
        self.handset.reboot_bootloader(wait=True, timeout=self.reset_timeout)
        return f"held Volume Down + Power: it is in fastboot mode ({self.handset.fastboot_serial})"

    def _usb_debugging(self, params: Mapping[str, object]) -> str:
        display = self.handset.display
        if not display.awake or display.keyguard_showing:
            raise OperatorError(
                f"{self!r}: Developer options are in Settings: wake and unlock the screen first"
            )
        self.handset.enable_usb_debugging()
        return f"enabled USB debugging in Developer options: ADB listens at {self.handset.adb_serial}"

    # -- eyes and fingers on the panel ------------------------------------------------------------

    def _look(self, params: Mapping[str, object]) -> str:
        screen = self.handset.display.focused_activity()
        labels = [label.as_dict() for label in Fingers(self.handset.display).look()]
        return json.dumps({"activity": "/".join(screen), "labels": labels})

    def _tap(self, params: Mapping[str, object]) -> str:
        text, x, y = params.get("text"), params.get("x"), params.get("y")
        if text is not None and not isinstance(text, str):
            text = str(text)
        for name, value in (("x", x), ("y", y)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise OperatorError(f"{self!r}: screen.tap {name} must be a pixel, got {value!r}")
        assert x is None or isinstance(x, int)
        assert y is None or isinstance(y, int)
        return Fingers(self.handset.display).tap(text, x, y)

    def _type(self, params: Mapping[str, object]) -> str:
        return Fingers(self.handset.display).type_text(str(params.get("text", "")))

    def _key(self, params: Mapping[str, object]) -> str:
        key = params.get("key")
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise OperatorError(f"{self!r}: screen.key needs key= (a name such as back, or a keycode)")
        return Fingers(self.handset.display).press_key(key)

    def _swipe(self, params: Mapping[str, object]) -> str:
        return Fingers(self.handset.display).swipe(str(params.get("direction", "")))

    # -- parameters -------------------------------------------------------------------------------

    def _slot(self, params: Mapping[str, object], act: str) -> int:
        slot = params.get("slot", 0)
        if not isinstance(slot, int) or isinstance(slot, bool):
            raise OperatorError(f"{self!r}: {act} slot must be a slot number (0 is SIM1), got {slot!r}")
        return slot

    def _iccid(self, params: Mapping[str, object], act: str) -> str | None:
        iccid, fresh = params.get("iccid"), params.get("fresh")
        if fresh not in (None, True, False):
            raise OperatorError(f"{self!r}: {act} fresh must be true or false, got {fresh!r}")
        if iccid is None:
            if fresh is False:
                raise OperatorError(f"{self!r}: {act} with fresh: false needs the card's iccid")
            return None
        if fresh is True:
            raise OperatorError(f"{self!r}: {act} takes an iccid or fresh: true, not both")
        if not isinstance(iccid, str | int) or isinstance(iccid, bool):
            raise OperatorError(f"{self!r}: {act} iccid must be the card's digits, got {iccid!r}")
        return str(iccid)
