"""What a person does to a handset with their hands: SIM cards, the power button, erasing it.

`Hands` is the part of `VirtualHandset` that a lab assistant would do (and
`VirtualOperator` performs by name): each act changes the handset as the act
changes a phone, visible over ADB and to the firmware as on a real one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from phonehome.virtual.assembly import show_sim
from phonehome.virtual.events import HandsetError
from phonehome.virtual.identity import HandsetIdentity, SimCard
from phonehome.virtual.telephony import SimError, SimTray, sim_broadcasts, slots

if TYPE_CHECKING:
    import asyncio

    from phonehome.virtual.state import HandsetState
    from phonehome.virtual.ui.display import Display


class Hands:
    """SIM cards in and out, the power button, a factory reset from Settings (mixed into the handset)."""

    if TYPE_CHECKING:  # what the handset provides
        name: str
        _tray: SimTray
        _sim_lock: threading.Lock
        _state: HandsetState | None
        _booted: threading.Event
        _boot_count: int

        @property
        def identity(self) -> HandsetIdentity: ...
        @property
        def display(self) -> Display: ...
        @property
        def loop(self) -> asyncio.AbstractEventLoop: ...
        def _set_identity(self, identity: HandsetIdentity) -> None: ...
        def _broadcast(self, action: str, extras: dict[str, str]) -> None: ...
        def _factory_reset_from_loop(self) -> None: ...
        def _wait_boot_after(self, before: int, timeout: float, what: str) -> None: ...

    def sim_insert(self, slot: int = 0, iccid: str | None = None) -> SimCard:
        """Puts a SIM in the empty ``slot`` (0 is SIM1): the card with ``iccid``, or a fresh one of the
        profile's carrier (never a card this handset held before). Works powered off too."""
        return self._sim_act("insert", slot, lambda ident: self._tray.insert(ident, slot, iccid))

    def sim_remove(self, slot: int = 0) -> SimCard:
        """Takes the SIM out of ``slot``; returns the card removed."""
        card = slots(self.identity)[slot] if 0 <= slot < len(slots(self.identity)) else None
        self._sim_act("remove", slot, lambda ident: self._tray.remove(ident, slot))
        assert card is not None
        return card

    def sim_swap(self, slot: int = 0, iccid: str | None = None) -> SimCard:
        """Replaces the SIM in ``slot`` with another card (``iccid``, or a fresh one): a new ICCID."""
        return self._sim_act("swap", slot, lambda ident: self._tray.swap(ident, slot, iccid))

    def press_power(self) -> None:
        """A press of the power button: the screen goes off (and locks after setup), or comes on."""
        self.display.press_power()

    def factory_reset(self, wait: bool = False, timeout: float = 60.0) -> None:
        """Settings > Reset > Erase all data: reboots into recovery, which wipes user data, and
        comes back at first boot (Setup Wizard, new ANDROID_ID and advertising ID). With
        ``wait``, returns once that boot has completed."""
        before = self._boot_count
        self.loop.call_soon_threadsafe(self._factory_reset_from_loop)
        if wait:
            self._wait_boot_after(before, timeout, "factory reset")

    def _sim_act(self, what: str, slot: int, change: Callable[[HandsetIdentity], HandsetIdentity]) -> SimCard:
        with self._sim_lock:
            try:
                identity = change(self.identity)
            except SimError as exc:
                raise HandsetError(f"<VirtualHandset {self.name}> SIM {what} in slot {slot}: {exc}") from exc
            before = slots(self.identity)[slot]
            self._set_identity(identity)
            after = slots(identity)[slot]
        if self._state is not None:
            show_sim(self._state, slot)
            if self._booted.is_set():
                if before is not None:
                    self._sim_broadcasts(slot, None)
                if after is not None:
                    self._sim_broadcasts(slot, after)
        card = after or before
        assert card is not None
        return card

    def _sim_broadcasts(self, slot: int, sim: SimCard | None) -> None:
        for action, extras in sim_broadcasts(slot, sim):
            self._broadcast(action, extras)
