"""The lab's handset inventory (``devices/*.yaml``): what a shell cannot read on a real phone.

Android 10+ hides IMEI, IMSI and ICCID from ``adb shell``; a lab types them
from the box label and the SIM card. Each entry is found by the handset's
hardware serial (``ro.serialno``) or, failing that, by its adb serial, and
its declared identifiers are merged with what was read; disagreements are
reported (`phonehome.device.identity`). Errors name file, line and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic

from phonehome.policy.identity import Identity
from phonehome.yamlconf import ConfigError, StrictModel, load_model

ResetMethod = Literal["fastboot-wipe", "fastboot-update", "recovery", "test-harness", "manual"]
RESET_METHODS: tuple[str, ...] = ("fastboot-wipe", "fastboot-update", "recovery", "test-harness", "manual")
AdbMode = Literal["at-boot", "after-setup"]


class ResetPlan(StrictModel):
    """How the lab takes this handset back to its first boot (`phonehome.device.lifecycle`)."""

    method: ResetMethod = pydantic.Field(
        description="fastboot-wipe: fastboot -w (an unlocked bootloader); fastboot-update: flash `build` and "
        "wipe (fastboot -w update); recovery: adb root, recovery --wipe_data (a userdebug build); "
        "test-harness: cmd testharness enable (Android 10+; skips setup: for post-setup scenarios); "
        "manual: a person resets it, prompted on the terminal"
    )
    fastboot_serial: str | None = pydantic.Field(
        default=None,
        description="what fastboot -s takes: the USB serial (default: the handset's serial) or tcp:HOST:PORT",
    )
    build: Path | None = pydantic.Field(
        default=None,
        description="fastboot-update: the batch's build zip (android-info.txt and images); relative paths are "
        "from the inventory file's folder",
    )
    timeout: float = pydantic.Field(
        default=600.0, gt=0, le=7200, description="seconds the reset and the boot after it may take"
    )

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> ResetPlan:
        fastboot = self.method.startswith("fastboot")
        if self.method == "fastboot-update" and self.build is None:
            raise ValueError("reset method fastboot-update needs `build:` (the build zip to flash)")
        if self.build is not None and self.method != "fastboot-update":
            raise ValueError("`build:` is for reset method fastboot-update")
        if self.fastboot_serial is not None and not fastboot:
            raise ValueError("`fastboot_serial:` is for the fastboot reset methods")
        return self


class InventoryEntry(StrictModel):
    """One handset of the lab: how to recognise it, and the identifiers printed on its box and SIM."""

    serial: str = pydantic.Field(min_length=1, description="ro.serialno (what adb devices shows over USB)")
    adb_serial: str | None = pydantic.Field(
        default=None, description="the adb serial when it differs (HOST:PORT over Wi-Fi adb)"
    )
    label: str | None = pydantic.Field(default=None, description="the lab's name for the unit")
    model: str | None = None
    sku: str | None = pydantic.Field(default=None, description="market variant, as certified")
    lot: str | None = pydantic.Field(default=None, description="firmware batch or production lot")
    notes: str | None = None
    manifest: str | None = pydantic.Field(
        default=None,
        description="this unit's firmware manifest: a name (manifests/NAME.yaml) or a path; a run's "
        "--manifest is only the default for units without one",
    )
    adb: AdbMode = pydantic.Field(
        default="at-boot",
        description="at-boot: ADB runs from the first boot (userdebug, eng, factory builds); after-setup: as a "
        "retail build, only once setup is done and USB debugging enabled: the first boot is driven by a "
        "person following prompts, and the identity is this entry's until ADB confirms it",
    )
    reset: ResetPlan | None = pydantic.Field(
        default=None, description="how to take it back to its first boot (none: the scenario's own way)"
    )
    bench: str | None = pydantic.Field(
        default=None, description="the bench definition it is cabled to (a path, as --bench takes)"
    )
    port: str | None = pydantic.Field(
        default=None, description="the bench port it is on (default: the only one)"
    )
    identity: Identity = pydantic.Field(
        default_factory=Identity, description="declared identifiers (keys as in an identity file)"
    )

    @pydantic.field_validator("identity")
    @classmethod
    def _no_sources(cls, value: Identity) -> Identity:
        if value.sources:
            raise ValueError("an inventory declares values; 'sources' is filled in when they are merged")
        return value


class Inventory(StrictModel):
    """Every handset a lab (or a CI bench) may test, one entry each."""

    handsets: tuple[InventoryEntry, ...] = ()
    _path: str = pydantic.PrivateAttr(default="")

    @property
    def path(self) -> str:
        """The file it was loaded from ('' when built in code)."""
        return self._path

    @pydantic.model_validator(mode="after")
    def _unique(self) -> Inventory:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.handsets):
            for key in filter(None, (entry.serial, entry.adb_serial)):
                if key in seen and seen[key] != i:
                    raise ValueError(f"serial {key!r} is listed twice (handsets {seen[key]} and {i})")
                seen[key] = i
        return self

    def find(self, serial: str | None, adb_serial: str | None = None) -> InventoryEntry | None:
        """The entry for this hardware serial, else for this adb serial."""
        for entry in self.handsets:
            if serial and entry.serial == serial:
                return entry
        for entry in self.handsets:
            if adb_serial and adb_serial in (entry.adb_serial, entry.serial):
                return entry
        return None


def load_inventory(path: Path | str) -> Inventory:
    """Reads an inventory YAML; errors (`phonehome.yamlconf.ConfigError`) name file, line and key."""
    inventory = load_model(Inventory, path)
    # Every IMEI carries a valid check digit; one that fails was mistyped from the box, and a wrong
    # IMEI is worse than none where the shell cannot read it: leak detection would look for the typo.
    typos = [
        f"{path}: handset {entry.serial}: {warning} (mistyped from the box?)"
        for entry in inventory.handsets
        for warning in entry.identity.warnings()
        if warning.startswith("imei ")
    ]
    if typos:
        raise ConfigError(path, typos)
    inventory = inventory.model_copy(
        update={"handsets": tuple(_beside(entry, Path(path).parent) for entry in inventory.handsets)}
    )
    inventory._path = str(path)
    return inventory


def _beside(entry: InventoryEntry, folder: Path) -> InventoryEntry:
    """A build zip named relative to the inventory lives beside it."""
    plan = entry.reset
    if plan is None or plan.build is None or plan.build.is_absolute():
        return entry
    return entry.model_copy(update={"reset": plan.model_copy(update={"build": folder / plan.build})})
