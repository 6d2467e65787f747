"""Reading which firmware a handset runs: one ``getprop`` and one ``pm list packages -f -U``.

The record (`phonehome.policy.build.BuildIdentity`) lives in the policy, which judges it against the
release manifest (the build-identity assertion).
"""

from __future__ import annotations

from collections.abc import Sequence

from phonehome.device.dumps import packages
from phonehome.device.errors import AdbCommandError
from phonehome.device.props import parse_getprop, sdk_level
from phonehome.device.reader import Shell
from phonehome.policy.build import BuildIdentity, Package

__all__ = ["PARTITIONS", "REGION_PREFIXES", "REGION_PROPS", "BuildIdentity", "build_from", "read_build"]

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
