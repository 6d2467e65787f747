"""The virtual handset's bootloader: its variables, its lock, and what erasing and flashing change.

What ``fastboot getvar`` reports comes from the handset's build (``product``
is ``ro.product.device``, ``serialno`` its hardware serial). A locked
bootloader refuses to erase or flash, as retail phones do. Erasing
``userdata`` (``fastboot -w``) wipes the handset at its next boot: that boot
is a first boot. A flashed system (or vendor, product, odm) image is read as
that partition's ``build.prop`` (``key=value`` lines, what a real image's
``/system/build.prop`` holds), so a flashed build changes the handset's
properties and fingerprint from its next boot on; an image that is not such
text is kept but changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from phonehome.virtual.fastboot.protocol import FastbootFailure

PARTITIONS = (
    "boot",
    "dtbo",
    "vbmeta",
    "recovery",
    "system",
    "system_ext",
    "vendor",
    "product",
    "odm",
    "userdata",
    "cache",
    "metadata",
    "misc",
)
BUILD_PROP_PARTITIONS = ("system", "system_ext", "vendor", "product", "odm")
WIPED_BY = ("userdata", "metadata")
MAX_PROP_IMAGE = 1024 * 1024
LOCKED = "Flashing is not allowed in Lock State"
"""What a locked Pixel answers to ``flash`` and ``erase`` (the host prints ``remote: '...'``)."""


def parse_build_prop(image: bytes) -> dict[str, str] | None:
    """``key=value`` lines (``#`` comments, blank lines); None when ``image`` is not such text."""
    if len(image) > MAX_PROP_IMAGE:
        return None
    try:
        text = image.decode("utf-8")
    except UnicodeDecodeError:
        return None
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key) or not key.isprintable():
            return None
        props[key] = value.strip()
    return props or None


@dataclass
class Bootloader:
    """One handset's bootloader state; it survives reboots (it is the handset's flash, not its RAM)."""

    serial: str
    product: str
    """``ro.product.device``: what ``getvar product`` says and ``android-info.txt`` requires."""
    version: str
    baseband: str = ""
    unlocked: bool = True
    log: Callable[[str], None] = lambda line: None
    images: dict[str, int] = field(default_factory=dict)
    """Partitions flashed, with the image size."""
    props: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per partition: the ``build.prop`` of the image flashed there (applied at every boot)."""
    wipe_pending: bool = False
    """``userdata`` was erased: the next boot wipes user data and is a first boot."""

    # -- the Device protocol ----------------------------------------------------------------------
    def variables(self) -> dict[str, str]:
        out = {
            "product": self.product,
            "serialno": self.serial,
            "version-bootloader": self.version,
            "version-baseband": self.baseband,
            "unlocked": "yes" if self.unlocked else "no",
            "secure": "yes",
            "is-userspace": "no",
            "max-download-size": "0x4000000",
            "slot-count": "0",
        }
        for part in PARTITIONS:
            out[f"has-slot:{part}"] = "no"
            out[f"is-logical:{part}"] = "no"
            # raw: the host erases it and does not make a file system for it (fastboot -w)
            out[f"partition-type:{part}"] = "raw"
            out[f"partition-size:{part}"] = "0x10000000"
        return out

    def getvar(self, name: str) -> str:
        value = self.variables().get(name)
        if value is None:
            raise FastbootFailure("GetVar Variable Not found")
        return value

    def erase(self, partition: str) -> None:
        self._writable(partition)
        if partition in WIPED_BY:
            self.wipe_pending = True
        self.log(f"erased {partition}")

    def flash(self, partition: str, image: bytes) -> None:
        self._writable(partition)
        self.images[partition] = len(image)
        if partition in BUILD_PROP_PARTITIONS:
            props = parse_build_prop(image)
            if props is not None:
                self.props[partition] = props
        if partition in WIPED_BY:
            self.wipe_pending = True
        self.log(f"flashed {partition} ({len(image)} bytes)")

    def oem(self, command: str) -> list[str]:
        if command == "device-info":
            return [
                f"Device unlocked: {'true' if self.unlocked else 'false'}",
                "Device critical unlocked: false",
                f"Bootloader version: {self.version}",
            ]
        raise FastbootFailure(f"unknown oem command {command[:40]}")

    # -- what a boot takes from it -----------------------------------------------------------------
    def build_props(self) -> dict[str, str]:
        """The flashed partitions' ``build.prop`` values, system first (later partitions win, as init
        loads them)."""
        out: dict[str, str] = {}
        for partition in BUILD_PROP_PARTITIONS:
            out.update(self.props.get(partition, {}))
        return out

    def take_wipe(self) -> bool:
        """Whether this boot must wipe user data (once)."""
        pending, self.wipe_pending = self.wipe_pending, False
        return pending

    def _writable(self, partition: str) -> None:
        if not self.unlocked:
            raise FastbootFailure(LOCKED)
        if partition not in PARTITIONS:
            raise FastbootFailure(f"partition ({partition[:40]}) not found")
