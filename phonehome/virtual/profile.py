"""Virtual handset profiles: one YAML file per model and firmware (``devices/virtual/NAME.yaml``).

A profile fixes what a model and its firmware build report (build properties,
fingerprint, security patch, region and carrier, packages, Setup Wizard
flavour) and the formats of its identifiers; the seed of each instance fills in
the identifiers themselves. Files are validated strictly (unknown keys are
errors with file:line), since a lab's verdicts rest on what the profile says.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Literal

import pydantic

from phonehome.assets import SHIPPED
from phonehome.virtual.firmware import template
from phonehome.virtual.firmware.model import Behaviour
from phonehome.virtual.identity import Carrier, IdentitySpec, generate_identity
from phonehome.yamlconf import ConfigError, StrictModel, load_model

PROFILE_DIR_ENV = "PHONEHOME_DEVICES"  # a devices/ folder; its virtual/ subfolder holds the profiles


class BuildSpec(StrictModel):
    """The firmware build, as ``getprop ro.build.*`` and ``ro.product.*`` report it."""

    brand: str
    manufacturer: str
    model: str
    name: str  # ro.product.name
    device: str  # ro.product.device
    board: str = ""
    platform: str = ""  # ro.board.platform
    hardware: str = ""
    release: str  # ro.build.version.release: "9", "14"
    sdk: int = pydantic.Field(ge=26, le=40)  # Android 8.0 and later
    build_id: str  # ro.build.id: PPR1.180610.011
    incremental: str
    type: Literal["user", "userdebug", "eng"] = "user"
    tags: str = "release-keys"
    security_patch: str  # YYYY-MM-DD
    fingerprint: str | None = None  # computed from the fields above when absent, as the build system does
    date_utc: int = 1546300800
    baseband: str = ""
    abi: str = "arm64-v8a"
    properties: dict[str, str] = pydantic.Field(default_factory=dict)  # any other property, verbatim

    @pydantic.field_validator("security_patch")
    @classmethod
    def _is_date(cls, value: str) -> str:
        dt.date.fromisoformat(value)
        return value

    @property
    def computed_fingerprint(self) -> str:
        """``brand/name/device:release/id/incremental:type/tags`` (AOSP build/make/core/sysprop.mk)."""
        if self.fingerprint:
            return self.fingerprint
        return (
            f"{self.brand}/{self.name}/{self.device}:{self.release}/{self.build_id}/"
            f"{self.incremental}:{self.type}/{self.tags}"
        )


class CarrierSpec(StrictModel):
    name: str
    mcc: str = pydantic.Field(pattern=r"^\d{3}$")
    mnc: str = pydantic.Field(pattern=r"^\d{2,3}$")
    iso: str = pydantic.Field(pattern=r"^[a-z]{2}$")
    iccid_prefix: str = pydantic.Field(default="89", pattern=r"^89\d{0,10}$")
    msisdn_prefix: str = pydantic.Field(default="+1", pattern=r"^\+\d{1,8}$")
    msisdn_length: int = pydantic.Field(default=11, ge=8, le=15)
    inserted: bool = True
    """False: the slot is empty at first power-on; ``sim_insert`` puts this carrier's SIM in it."""

    def carrier(self) -> Carrier:
        return Carrier(
            name=self.name,
            mcc=self.mcc,
            mnc=self.mnc,
            iso=self.iso,
            iccid_prefix=self.iccid_prefix,
            msisdn_prefix=self.msisdn_prefix,
            msisdn_length=self.msisdn_length,
        )


class LocationSpec(StrictModel):
    latitude: float = pydantic.Field(ge=-90, le=90)
    longitude: float = pydantic.Field(ge=-180, le=180)
    radius_km: float = pydantic.Field(default=5.0, ge=0, le=500)


class RegionSpec(StrictModel):
    """Where the handset is sold and used: locale, time zone, SIMs and the place it sits."""

    locale: str = "en-US"
    timezone: str = "UTC"
    sims: list[CarrierSpec] = pydantic.Field(default_factory=list, max_length=2)
    location: LocationSpec
    earfcn: int = 1300


class IdentityModel(StrictModel):
    """Formats of the identifiers; ``seed`` pins one identity (else each instance gets its own)."""

    seed: str | None = None
    tac: str = pydantic.Field(pattern=r"^\d{8}$")
    svn: str = pydantic.Field(default="01", pattern=r"^\d{2}$")
    imei_slots: int = pydantic.Field(default=1, ge=1, le=2)
    serial_prefix: str = ""
    serial_length: int = pydantic.Field(default=12, ge=6, le=20)
    wifi_oui: str = pydantic.Field(default="02:00:00", pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}$")
    bt_oui: str = pydantic.Field(default="02:00:00", pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}$")


class PackageSpec(StrictModel):
    """An installed package, as ``pm list packages -f`` and ``dumpsys package`` report it."""

    name: str = pydantic.Field(pattern=r"^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$")
    path: str | None = None  # default: /system/app/<last name part>/<last name part>.apk
    version_name: str = "1.0"
    version_code: int = 1
    system: bool = True
    enabled: bool = True
    launcher_activity: str | None = None  # e.g. ".MainActivity"


class TelephonySpec(StrictModel):
    """How the radio answers the shell user.

    ``identifier_access``: ``allowed`` answers ``service call iphonesubinfo`` with
    the value; ``security-exception`` answers with the SecurityException Parcel
    that Android 10+ gives the shell user. Absent: by release, as on real phones.
    """

    identifier_access: Literal["allowed", "security-exception"] | None = None


class BootSpec(StrictModel):
    """How long a boot takes (seconds, before any time scaling)."""

    offline_s: float = pydantic.Field(default=1.0, ge=0, le=600)  # ADB gone while the kernel boots
    complete_s: float = pydantic.Field(default=0.5, ge=0, le=600)  # adbd up, until sys.boot_completed=1


class BootloaderSpec(StrictModel):
    """The bootloader fastboot talks to (``fastboot getvar unlocked``, ``version-bootloader``)."""

    unlocked: bool = True
    """A locked bootloader refuses ``fastboot erase``, ``flash`` and ``-w`` (retail phones ship locked)."""
    version: str = ""
    """``version-bootloader``; default ``DEVICE-1.0``."""


class Profile(StrictModel):
    """One model and firmware build of a virtual handset."""

    name: str
    description: str = ""
    build: BuildSpec
    region: RegionSpec
    identity: IdentityModel
    wizard: Literal["aosp", "oem"] = "aosp"
    display_density: int = pydantic.Field(default=420, ge=120, le=640)  # the Screen gives the size
    packages: list[PackageSpec] = pydantic.Field(default_factory=list)
    telephony: TelephonySpec = TelephonySpec()
    mac_randomization: bool = True  # Android 10+ per-network MAC; ignored below SDK 29
    wifi_interface: str = "wlan0"
    boot: BootSpec = BootSpec()
    bootloader: BootloaderSpec = BootloaderSpec()
    adb: Literal["at-boot", "after-setup"] = "at-boot"
    """``at-boot``: adbd runs from the first boot (userdebug, eng, factory builds); ``after-setup``: as a
    retail (user) build, ADB exists only once setup is done and a person enabled USB debugging."""
    lock_screen: Literal["swipe", "none"] = "swipe"
    """The screen lock after setup: ``swipe`` shows the keyguard on wake until dismissed (swipe up,
    KEYCODE_MENU, ``wm dismiss-keyguard``); ``none`` sends USER_PRESENT on every wake."""
    behaviour: Behaviour = Behaviour()
    """What the firmware sends over the network, per phase (`phonehome.virtual.firmware`)."""

    @pydantic.field_validator("behaviour")
    @classmethod
    def _behaviour_fits(cls, behaviour: Behaviour, info: pydantic.ValidationInfo) -> Behaviour:
        """Templates name only what this handset has; screens exist in its wizard flavour.

        Checked on the field (so errors point at ``behaviour:``) from the fields
        declared above it; when one of those failed, its own error says so.
        """
        from phonehome.virtual.ui import load_flavour  # noqa: PLC0415  (the UI package is heavy)

        identity, region, wizard = (info.data.get(k) for k in ("identity", "region", "wizard"))
        problems = []
        if isinstance(identity, IdentityModel) and isinstance(region, RegionSpec):
            sample = generate_identity("profile-check", _identity_spec(identity, region))
            available = set(sample.as_dict()) | template.BUILD_NAMES
            problems += template.check_all(behaviour.templates(), available)
        if isinstance(wizard, str):
            screens = [s.name for s in load_flavour(wizard).screens] + ["launcher"]
            problems += [
                f"behaviour.screens.{name}: the {wizard} wizard has no such screen (it has: {', '.join(screens)})"
                for name in behaviour.screens
                if name not in screens
            ]
        packages = info.data.get("packages")
        if isinstance(packages, list):
            names = {p.name for p in packages}
            problems += [
                f"behaviour.{phase}[{n}].package: {action.package!r} is not in the profile's packages"
                for phase, actions in behaviour.phases()
                for n, action in enumerate(actions)
                if action.package is not None and action.package not in names
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return behaviour

    def dhcp_hostname_template(self) -> str | None:
        """DHCP option 12 of this firmware (see `DhcpSpec.hostname_template`)."""
        return self.behaviour.dhcp.hostname_template(self.build.sdk)

    @property
    def shell_reads_identifiers(self) -> bool:
        """Whether ``service call iphonesubinfo`` returns values to the shell user (not on Android 10+)."""
        if self.telephony.identifier_access is not None:
            return self.telephony.identifier_access == "allowed"
        return self.build.sdk < 29

    @property
    def uses_randomized_mac(self) -> bool:
        return self.mac_randomization and self.build.sdk >= 29

    def identity_spec(self) -> IdentitySpec:
        return _identity_spec(self.identity, self.region)

    def sim_slots_at_boot(self) -> tuple[int, ...]:
        """The slots that hold the profile's SIM at first power-on (``inserted: false`` ones do not)."""
        return tuple(slot for slot, spec in enumerate(self.region.sims) if spec.inserted)


def _identity_spec(ident: IdentityModel, region: RegionSpec) -> IdentitySpec:
    return IdentitySpec(
        tac=ident.tac,
        svn=ident.svn,
        serial_prefix=ident.serial_prefix,
        serial_length=ident.serial_length,
        wifi_oui=ident.wifi_oui.lower(),
        bt_oui=ident.bt_oui.lower(),
        carriers=tuple(c.carrier() for c in region.sims),
        imei_slots=ident.imei_slots,
        latitude=region.location.latitude,
        longitude=region.location.longitude,
        radius_km=region.location.radius_km,
        earfcn=region.earfcn,
    )


def profile_dirs() -> list[Path]:
    """Where profile names are looked up: $PHONEHOME_DEVICES/virtual, ./devices/virtual, the shipped ones."""
    dirs = []
    if os.environ.get(PROFILE_DIR_ENV):
        dirs.append(Path(os.environ[PROFILE_DIR_ENV]) / "virtual")
    dirs.append(Path.cwd() / "devices" / "virtual")
    dirs.append(SHIPPED / "devices" / "virtual")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _load(path: Path) -> Profile:
    """The file's profile, read once per version of the file (a copy each time: callers may change it).

    Reading and validating one costs about half a second of CPU (YAML, then its wizard flavour); a
    compliance run asks for its profile several times, and a batch of handsets runs on two cores."""
    try:
        stat = path.stat()
    except OSError:
        return load_model(Profile, path)  # its error names the file
    return _cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size).model_copy(deep=True)


@functools.lru_cache(maxsize=32)
def _cached(path: str, _mtime_ns: int, _size: int) -> Profile:
    return load_model(Profile, Path(path))


def available_profiles() -> list[str]:
    names = {p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names)


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (``nokia-7-plus-2019``) or by path to its YAML file."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        return _load(path)
    for folder in profile_dirs():
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return _load(candidate)
    known = ", ".join(available_profiles()) or "none"
    searched = ", ".join(str(d) for d in profile_dirs())
    raise ConfigError(
        str(name_or_path),
        [f"no virtual handset profile {str(name_or_path)!r} (known: {known}; searched {searched})"],
    )
