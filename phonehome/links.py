"""How a compliance run reaches its handset: over ADB only, and who does the physical acts.

`AdbLink` is a handset the lab brought (``--device adb:SERIAL``): the run
connects to its serial, and a person (`phonehome.scenario.TerminalOperator`,
or the operator the caller gives) does what needs hands. `VirtualLink` is a
virtual handset on the bench's port: still reached over ADB alone, but
switched on and handled by the run as a lab assistant would (the virtual
handset's own operator, ``phonehome.virtual``), so the scenario cannot tell
the two apart. Only this module and the run import ``phonehome.virtual``.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.device import AdbServer, DeviceError, Handset
from phonehome.scenario import Operator, OperatorError, TerminalOperator
from phonehome.scenario.operator import (
    BOOTLOADER,
    FACTORY_RESET,
    POWER_ON,
    POWER_PRESS,
    SIM_INSERT,
    SIM_REMOVE,
    SIM_SWAP,
    USB_DEBUGGING,
    parse_answer,
)

if TYPE_CHECKING:
    from phonehome.device.inventory import AdbMode, InventoryEntry
    from phonehome.device.lifecycle import Lifecycle

ONLINE_PROBE_S = 5.0
DEFAULT_SEED = "phonehome"
"""With the profile's name, a virtual handset's identity seed when its profile names none
(``phonehome-aosp-clean``): runs are repeatable, two profiles are two handsets, and
``devices/virtual-inventory.yaml`` lists what each shipped profile is at its seed."""
SETTLE_TIMEOUT_S = 15.0
"""After the scenario, how long a virtual handset's firmware may still be sending before the capture stops."""


class AdbLink:
    """A handset reached by its serial on an adb server; acts by a person (or ``operator``).

    ``entry`` is the handset's line in the lab's inventory: how it is reset (`lifecycle`) and whether its
    ADB exists before setup (``adb_mode``).
    """

    def __init__(
        self,
        serial: str,
        server: AdbServer,
        operator: Operator | None = None,
        entry: InventoryEntry | None = None,
    ) -> None:
        self.serial = serial
        self.server = server
        self.operator: Operator = operator or TerminalOperator()
        self.entry = entry
        self.handset: Handset | None = None
        self.time_scale = 1.0

    @property
    def adb_mode(self) -> AdbMode:
        return self.entry.adb if self.entry is not None else "at-boot"

    def lifecycle(self, method: str | None) -> Lifecycle | None:
        """How this handset is reset: ``method``, else its inventory entry's (None when neither names one)."""
        hardware = self.entry.serial if self.entry is not None else self.serial
        return reset_lifecycle(self, self.entry, method, serial=self.serial, hardware_serial=hardware)

    def online(self) -> bool:
        """Whether it answers over ADB now (a short connect: ``adb connect`` for HOST:PORT serials)."""
        try:
            self.connect(ONLINE_PROBE_S)
        except DeviceError:
            return False
        return True

    def connect(self, timeout: float) -> Handset:
        if self.handset is None:
            self.handset = Handset.connect(self.serial, self.server, timeout=timeout)
        return self.handset

    def settle(self) -> list[str]:
        return []

    def close(self) -> None:
        self.handset = None


class VirtualLink:
    """A virtual handset of ``profile`` in the bench port's namespace, off until the scenario powers it on.

    Its firmware's own phase markers go to ``firmware-phases.jsonl`` in the results (the handset's log),
    not to the bench timeline: the scenario's markers are the timeline.
    """

    def __init__(
        self,
        profile: str,
        *,
        netns: str,
        ifname: str,
        server: AdbServer,
        time_scale: float,
        seed: str | None,
        log: Path,
    ) -> None:
        from phonehome.virtual import VirtualHandset  # noqa: PLC0415  (the run, not the scenario, knows virtual)
        from phonehome.virtual.firmware import Firmware  # noqa: PLC0415

        self.log = log
        self._lock = threading.Lock()
        self.virtual = VirtualHandset(
            profile, seed=seed or virtual_seed(profile), netns=netns, time_scale=time_scale
        )
        self.firmware = Firmware(self.virtual, on_marker=self._firmware_marker)
        self.netns, self.ifname = netns, ifname
        self.server = server
        self.time_scale = time_scale
        self.handset: Handset | None = None
        self.operator: Operator = VirtualHands(self)
        self.entry: InventoryEntry | None = None
        """The virtual handset's inventory line, when the run's inventory lists it."""
        self.adb_mode: AdbMode = self.virtual.adb_mode

    def lifecycle(self, method: str | None) -> Lifecycle | None:
        """Reset like a phone on a lab's desk: fastboot at the virtual bootloader's TCP serial."""
        from phonehome.device.fastboot import Fastboot  # noqa: PLC0415

        return reset_lifecycle(
            self,
            self.entry,
            method,
            serial=self.virtual.adb_serial,
            hardware_serial=self.virtual.serial,
            fastboot=Fastboot(self.virtual.fastboot_serial),
        )

    def _firmware_marker(self, phase: str, **detail: object) -> None:
        line = json.dumps({"phase": phase, **detail}, default=str, sort_keys=True)
        with self._lock, self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    @property
    def started(self) -> bool:
        try:
            self.virtual.loop  # noqa: B018  (raises when not started)
        except Exception:
            return False
        return True

    def power_on(self) -> None:
        """Switches it on and lets it join the bench port (DHCP), as plugging it in and powering it does."""
        if not self.started:
            self.virtual.start()
        self.firmware.attach_network(self.netns, self.ifname)

    def online(self) -> bool:
        return self.started and self.virtual.adb_online

    def adb_serial(self) -> str:
        """Its ADB serial once it is switched on (the port is chosen when ADB first listens)."""
        from phonehome.device.logs import LogUnavailable  # noqa: PLC0415

        if not self.online():
            raise LogUnavailable("the virtual handset is switched off or rebooting")
        return self.virtual.adb_serial

    def connect(self, timeout: float) -> Handset:
        if not self.started:
            raise OperatorError(
                "the virtual handset is switched off: the scenario powers it on first (PowerOn)"
            )
        if self.handset is None:
            self.handset = Handset.connect(self.virtual.adb_serial, self.server, timeout=timeout)
        return self.handset

    def settle(self) -> list[str]:
        """Waits until the firmware sent what it started; a note when it is still sending."""
        if not self.started:
            return []
        from phonehome.virtual.firmware import FirmwareError  # noqa: PLC0415

        try:
            self.firmware.wait_settled(timeout=SETTLE_TIMEOUT_S)
        except FirmwareError as exc:
            return [f"the virtual handset's firmware was still sending when the capture stopped: {exc}"]
        return []

    def close(self) -> None:
        self.firmware.stop()
        self.virtual.stop()
        self.handset = None


class VirtualHands:
    """The physical acts on a virtual handset: switched on by the run, the rest by ``phonehome.virtual``.

    The virtual package's own ``VirtualOperator`` does the acts where it exists (the plan's seam);
    otherwise the acts go straight to the virtual handset's documented methods (``sim_insert``,
    ``sim_swap``, ``sim_remove``, ``press_power``, ``factory_reset``). Either way a SIM act answers
    ``iccid=... imsi=...`` for the card put in, as a lab assistant reads it off the card. Slots in the
    engine's act parameters count from 1, as a handset's tray is labelled; the virtual package's
    operator and the handset's methods count from 0, so the slot is translated here.
    """

    def __init__(self, link: VirtualLink) -> None:
        self.link = link

    def perform(self, act: str, params: Mapping[str, object], instruction: str) -> str:
        if act == POWER_ON:
            self.link.power_on()
            return ""
        if act == BOOTLOADER and self.link.started:
            self.link.virtual.reboot_bootloader(wait=True)
            return ""
        if act == USB_DEBUGGING and self.link.started:
            self.link.virtual.enable_usb_debugging()
            return ""
        if not self.link.started:
            raise OperatorError(f"{act}: the virtual handset is switched off (power it on first)")
        slot = _slot(params)
        theirs = _virtual_operator(self.link.virtual)
        if theirs is not None:
            # The virtual package's operator counts slots from 0, as the handset's own methods do.
            given = {k: v for k, v in params.items() if v is not None}
            if "slot" in given:
                given["slot"] = slot
            answer = theirs.perform(act, given, instruction)
        else:
            answer = self._by_hand(act, slot, params)
        if act in (SIM_INSERT, SIM_SWAP) and not {"iccid", "imsi"} <= set(parse_answer(answer)):
            card = _card(self.link.virtual, slot)
            answer = f"iccid={card.iccid} imsi={card.imsi}" if card is not None else answer
        return answer

    def _by_hand(self, act: str, slot: int, params: Mapping[str, object]) -> str:
        virtual: Any = self.link.virtual
        iccid = params.get("iccid")
        try:
            if act == SIM_INSERT:
                card = virtual.sim_insert(slot, str(iccid) if iccid else None)
            elif act == SIM_SWAP:
                card = virtual.sim_swap(slot, str(iccid) if iccid else None)
            elif act == SIM_REMOVE:
                virtual.sim_remove(slot)
                return ""
            elif act == POWER_PRESS:
                virtual.press_power()
                return ""
            elif act == FACTORY_RESET:
                virtual.factory_reset()
                return ""
            else:
                raise OperatorError(f"{act}: not an act a virtual handset knows")
        except AttributeError as exc:
            raise OperatorError(f"{act}: this virtual handset cannot do it ({exc})") from exc
        return f"iccid={card.iccid} imsi={card.imsi}"


def reset_lifecycle(
    link: AdbLink | VirtualLink,
    entry: InventoryEntry | None,
    method: str | None,
    *,
    serial: str,
    hardware_serial: str,
    fastboot: Any = None,
) -> Lifecycle | None:
    """A `Lifecycle` by ``method`` (or the inventory entry's plan); None when neither names a method."""
    from phonehome.device.inventory import ResetPlan  # noqa: PLC0415
    from phonehome.device.lifecycle import Lifecycle  # noqa: PLC0415

    plan = entry.reset if entry is not None else None
    if method is not None and (plan is None or plan.method != method):
        plan = ResetPlan.model_validate({"method": method}) if method != "fastboot-update" else plan
        if plan is None:
            raise OperatorError("reset fastboot-update: the inventory names no build zip (reset: build:)")
    if plan is None:
        return None
    operator = link.operator
    return Lifecycle(
        plan,
        serial=serial,
        hardware_serial=hardware_serial,
        adb=link.adb_mode,
        online=link.online,
        connect=link.connect,
        ask=lambda act, instruction: operator.perform(act, {}, instruction),
        fastboot=fastboot if plan.fastboot_serial is None else None,
    )


def _virtual_operator(virtual: Any) -> Operator | None:
    """``phonehome.virtual.VirtualOperator`` for this handset, when the virtual package has one."""
    factory = getattr(importlib.import_module("phonehome.virtual"), "VirtualOperator", None)
    if factory is None:
        return None
    operator: Operator = factory(virtual)
    return operator


def _card(virtual: Any, slot: int) -> Any:
    """The SIM now in ``slot`` (0-based) of the virtual handset, None when it has none."""
    return next((s for s in getattr(virtual.identity, "sims", ()) if s.slot == slot), None)


def _slot(params: Mapping[str, object]) -> int:
    raw = params.get("slot", 1)
    slot = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else 1
    if slot < 1:
        raise OperatorError(f"SIM slot {raw!r}: slots count from 1")
    return slot - 1


def virtual_seed(profile: str) -> str:
    """The seed a run gives a virtual handset of ``profile``: the profile's own, else ``phonehome-NAME``."""
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    return seed_of(load_profile(profile))


def seed_of(profile: Any) -> str:
    """`virtual_seed` of a profile already loaded (a `phonehome.virtual.profile.Profile`)."""
    seed: str = profile.identity.seed or f"{DEFAULT_SEED}-{profile.name}"
    return seed


def virtual_inventory(profiles: list[str]) -> str:
    """An inventory YAML for virtual handsets, as a lab writes one from box labels and SIM cards.

    Lists what Android 10+ does not give the shell (IMEI, IMSI, ICCID, MSISDN), for each profile at the
    seed a run gives it (``PROFILE@SEED``: at that seed). ``python -m phonehome.links devices/virtual-inventory.yaml`` rewrites the
    shipped file.
    """
    from phonehome.virtual.identity import generate_identity  # noqa: PLC0415
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    lines = [
        "# Virtual handsets as a lab's inventory lists its phones: the identifiers printed on the box and",
        "# the SIM card, which Android 10+ refuses to the shell. Generated from each profile at the seed a",
        "# compliance run gives it (python -m phonehome.links devices/virtual-inventory.yaml); pass it as",
        "# --inventory devices/virtual-inventory.yaml.",
        "handsets:",
    ]
    for unit in profiles:
        name, _at, seed = unit.partition("@")  # PROFILE@SEED: another unit of the build
        profile = load_profile(name)
        ident = generate_identity(seed or virtual_seed(name), profile.identity_spec())
        sims = sorted(ident.sims, key=lambda s: s.slot)
        lines += [
            f"  - serial: {ident.serial}",
            f"    label: virtual {unit}",
            f"    model: {json.dumps(profile.build.model)}",
            "    identity:",
            f"      imei: [{', '.join(json.dumps(i) for i in ident.imeis)}]",
        ]
        if sims:
            lines += [
                f"      imsi: [{', '.join(json.dumps(s.imsi) for s in sims)}]",
                f"      iccid: [{', '.join(json.dumps(s.iccid) for s in sims)}]",
                f"      msisdn: [{', '.join(json.dumps(s.msisdn) for s in sims)}]",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    from phonehome.virtual import available_profiles

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "devices/virtual-inventory.yaml")
    target.write_text(virtual_inventory(sorted(available_profiles())), encoding="utf-8")
    print(f"wrote {target}")
