"""The lab's handset inventory (``devices/*.yaml``): what a shell cannot read on a real phone.

Android 10+ hides IMEI, IMSI and ICCID from ``adb shell``; a lab types them
from the box label and the SIM card. Each entry is found by the handset's
hardware serial (``ro.serialno``) or, failing that, by its adb serial, and
its declared identifiers are merged with what was read; disagreements are
reported (`phonehome.device.identity`). Errors name file, line and key.
"""

from __future__ import annotations

from pathlib import Path

import pydantic

from phonehome.policy.identity import Identity
from phonehome.yamlconf import ConfigError, StrictModel, load_model


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
    inventory._path = str(path)
    return inventory
