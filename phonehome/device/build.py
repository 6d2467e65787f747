"""Which firmware a handset runs: the build-identity assertion's input and the lab report's header.

The Nokia 7 Plus case was a global build carrying a China-variant package;
what proves a unit carries its market's build is the fingerprint, the patch
level, the region and carrier properties OEMs set per SKU, and the package
list. All from one ``getprop`` and one ``pm list packages -f -U``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from phonehome.device.dumps import Package, packages
from phonehome.device.errors import AdbCommandError
from phonehome.device.props import parse_getprop, sdk_level
from phonehome.device.reader import Shell

STEP = "read build identity"
PM_TIMEOUT_S = 30.0

# Region, market and carrier properties: exact names and prefixes (Samsung CSC, Huawei/HMD ro.config,
# Motorola ro.carrier, Xiaomi ro.miui.region, Qualcomm hardware SKU and country codes).
REGION_PROPS = (
    "ro.product.locale",
    "ro.product.locale.language",
    "ro.product.locale.region",
    "persist.sys.locale",
    "persist.sys.language",
    "persist.sys.country",
    "persist.sys.timezone",
    "ro.carrier",
    "ro.boot.carrier",
    "ro.boot.hwc",
    "ro.boot.hwcountry",
    "ro.boot.hardware.sku",
    "ro.product.region",
    "ro.miui.region",
    "ro.oem.key1",
    "persist.radio.multisim.config",
)
REGION_PREFIXES = ("ro.csc.", "ro.config.", "gsm.sim.operator.", "gsm.operator.", "ro.cda.", "ro.boot.hwc")
PARTITIONS = ("system", "system_ext", "vendor", "product", "odm", "bootimage")


@dataclass(frozen=True)
class BuildIdentity:
    """The firmware a unit runs, as its properties and package manager report it."""

    fingerprint: str
    build_id: str
    display_id: str
    incremental: str
    release: str
    sdk: int
    security_patch: str
    vendor_security_patch: str
    build_type: str
    tags: str
    brand: str
    manufacturer: str
    model: str
    device: str
    product: str
    baseband: str
    partition_fingerprints: dict[str, str] = field(default_factory=dict)
    region: dict[str, str] = field(default_factory=dict)
    packages: tuple[Package, ...] = ()

    def package_names(self) -> list[str]:
        return [p.name for p in self.packages]

    def mixed_partitions(self) -> dict[str, str]:
        """Partitions whose fingerprint is not the build's (a unit flashed from two releases)."""
        return {k: v for k, v in self.partition_fingerprints.items() if v and v != self.fingerprint}

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["packages"] = [{"name": p.name, "path": p.path, "uids": list(p.uids)} for p in self.packages]
        return data


def build_from(props: dict[str, str], package_list: Sequence[Package] = ()) -> BuildIdentity:
    """The build identity in ``props`` (from ``getprop``) and a package list."""

    def get(name: str) -> str:
        return props.get(name, "").strip()

    region = {name: get(name) for name in REGION_PROPS if get(name)}
    region.update({k: v.strip() for k, v in props.items() if k.startswith(REGION_PREFIXES) and v.strip()})
    return BuildIdentity(
        fingerprint=get("ro.build.fingerprint") or get("ro.system.build.fingerprint"),
        build_id=get("ro.build.id"),
        display_id=get("ro.build.display.id"),
        incremental=get("ro.build.version.incremental"),
        release=get("ro.build.version.release_or_codename") or get("ro.build.version.release"),
        sdk=sdk_level(props),
        security_patch=get("ro.build.version.security_patch"),
        vendor_security_patch=get("ro.vendor.build.security_patch"),
        build_type=get("ro.build.type"),
        tags=get("ro.build.tags"),
        brand=get("ro.product.brand"),
        manufacturer=get("ro.product.manufacturer"),
        model=get("ro.product.model"),
        device=get("ro.product.device"),
        product=get("ro.product.name"),
        baseband=get("gsm.version.baseband"),
        partition_fingerprints={
            part: get(f"ro.{part}.build.fingerprint")
            for part in PARTITIONS
            if get(f"ro.{part}.build.fingerprint")
        },
        region=dict(sorted(region.items())),
        packages=tuple(sorted(package_list, key=lambda p: p.name)),
    )


def read_build(shell: Shell) -> BuildIdentity:
    """``getprop`` and ``pm list packages -f -U`` (both must succeed: a build without packages is no proof)."""
    props = parse_getprop(shell.shell(["getprop"], step=STEP).stdout)
    try:
        listed = shell.shell(["pm", "list", "packages", "-f", "-U"], timeout=PM_TIMEOUT_S, step=STEP).stdout
    except AdbCommandError:  # pm before Android 8 has no -U
        listed = shell.shell(["pm", "list", "packages", "-f"], timeout=PM_TIMEOUT_S, step=STEP).stdout
    return build_from(props, packages(listed))
