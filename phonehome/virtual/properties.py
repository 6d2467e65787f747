"""System properties (``getprop``) and settings (``settings``) of a virtual handset.

Both are derived from the profile and the identity once, then changed by the
shell (``setprop``, ``settings put``) and by lifecycle (``sys.boot_completed``).
Values that carry identifiers come from `HandsetIdentity`, so every channel
reports the same serial, operator and MACs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from phonehome.virtual.identity import HandsetIdentity
from phonehome.virtual.profile import Profile
from phonehome.virtual.telephony import sim_properties

SETTINGS_NAMESPACES = ("system", "secure", "global")
CONSENT_SETTINGS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "location": (("secure", "location_mode", "3", "0"),),
    "scanning": (
        ("global", "wifi_scan_always_enabled", "1", "0"),
        ("global", "ble_scan_always_enabled", "1", "0"),
    ),
    "diagnostics": (("global", "usage_reporting_enabled", "1", "0"),),
    "experience_program": (("global", "user_experience_program_enabled", "1", "0"),),
    "crash_reports": (("secure", "send_action_app_error", "1", "0"),),
}
"""Consent toggle (the wizard's key) -> the settings it writes: (namespace, key, value on, value off).
Location mode 3 is LOCATION_MODE_HIGH_ACCURACY; scanning is Wi-Fi and BLE "scan always"; diagnostics is
the usage-reporting switch; the OEM wizard's user-experience program and crash reports have their own."""


class PropertyStore:
    """``getprop``/``setprop``: a thread-safe string map (the handset's loop and scripts share it)."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._props: dict[str, str] = dict(initial or {})

    def get(self, name: str, default: str = "") -> str:
        with self._lock:
            return self._props.get(name, default)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._props[name] = value

    def update(self, values: dict[str, str]) -> None:
        with self._lock:
            self._props.update(values)

    def reset(self, values: dict[str, str]) -> None:
        """Replaces every property (a boot: what ``init`` and the build set, plus kept ``persist.*``)."""
        with self._lock:
            self._props = dict(values)

    def persistent(self) -> dict[str, str]:
        """The ``persist.*`` properties, which survive a reboot (init keeps them in /data/property)."""
        with self._lock:
            return {k: v for k, v in self._props.items() if k.startswith("persist.")}

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._props.items())

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._props

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self.items()])


class SettingsStore:
    """``settings get|put|delete|list`` over the system, secure and global tables."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, dict[str, str]] = {ns: {} for ns in SETTINGS_NAMESPACES}

    def get(self, namespace: str, key: str) -> str | None:
        with self._lock:
            return self._tables[namespace].get(key)

    def put(self, namespace: str, key: str, value: str) -> None:
        with self._lock:
            self._tables[namespace][key] = value

    def delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            return self._tables[namespace].pop(key, None) is not None

    def items(self, namespace: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._tables[namespace].items())


def build_properties(profile: Profile, identity: HandsetIdentity) -> dict[str, str]:
    """Every property a booted handset of this profile reports (before boot flags)."""
    b = profile.build
    fingerprint = b.computed_fingerprint
    abilist = b.properties.get("ro.product.cpu.abilist", b.abi)
    date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(b.date_utc))
    description = f"{b.name}-{b.type} {b.release} {b.build_id} {b.incremental} {b.tags}"
    props = {
        "ro.serialno": identity.serial,
        "ro.boot.serialno": identity.serial,
        "ro.product.brand": b.brand,
        "ro.product.manufacturer": b.manufacturer,
        "ro.product.model": b.model,
        "ro.product.name": b.name,
        "ro.product.device": b.device,
        "ro.product.board": b.board,
        "ro.product.cpu.abi": b.abi,
        "ro.product.cpu.abilist": abilist,
        "ro.product.locale": profile.region.locale,
        "ro.board.platform": b.platform,
        "ro.hardware": b.hardware,
        "ro.build.id": b.build_id,
        "ro.build.display.id": f"{b.build_id}" if b.brand.lower() == "google" else f"{b.incremental}",
        "ro.build.version.release": b.release,
        "ro.build.version.sdk": str(b.sdk),
        "ro.build.version.incremental": b.incremental,
        "ro.build.version.security_patch": b.security_patch,
        "ro.build.version.codename": "REL",
        "ro.build.type": b.type,
        "ro.build.tags": b.tags,
        "ro.build.user": "android-build",
        "ro.build.host": "abfarm-release",
        "ro.build.flavor": f"{b.name}-{b.type}",
        "ro.build.product": b.device,
        "ro.build.description": description,
        "ro.build.fingerprint": fingerprint,
        "ro.bootimage.build.fingerprint": fingerprint,
        "ro.vendor.build.fingerprint": fingerprint,
        "ro.vendor.build.security_patch": b.security_patch,
        "ro.build.date": date,
        "ro.build.date.utc": str(b.date_utc),
        "ro.build.characteristics": "nosdcard",
        "ro.sf.lcd_density": str(profile.display_density),
        "ro.debuggable": "1" if b.type != "user" else "0",
        "ro.secure": "1",
        "ro.adb.secure": "1",
        "ro.crypto.state": "encrypted",
        "persist.sys.timezone": profile.region.timezone,
        "persist.sys.usb.config": "adb",
        "sys.usb.config": "adb",
        "service.adb.root": "0",
        "wifi.interface": profile.wifi_interface,
        "gsm.version.baseband": b.baseband,
        "gsm.current.phone-type": ",".join(["1"] * max(len(identity.imeis), 1)),
        "persist.radio.multisim.config": "dsds" if len(identity.imeis) > 1 else "ssss",
        "ro.telephony.default_network": "9",
    }
    props.update(sim_properties(identity))
    if b.sdk >= 29:
        for part in ("system", "vendor", "product", "odm"):
            for key in ("brand", "manufacturer", "model", "name", "device"):
                props[f"ro.product.{part}.{key}"] = props[f"ro.product.{key}"]
            props[f"ro.{part}.build.fingerprint"] = fingerprint
    if b.sdk >= 30:
        props["ro.build.version.release_or_codename"] = b.release
    props.update(b.properties)
    return props


def consent_settings(toggles: dict[str, object]) -> list[tuple[str, str, str]]:
    """The ``(namespace, key, value)`` writes for a consent screen's final toggle values."""
    writes = []
    for toggle, on in toggles.items():
        for namespace, key, on_value, off_value in CONSENT_SETTINGS.get(toggle, ()):
            writes.append((namespace, key, on_value if on is True else off_value))
    return writes


def default_settings(profile: Profile, identity: HandsetIdentity) -> SettingsStore:
    """The settings of a handset fresh from the factory (Setup Wizard not yet run)."""
    store = SettingsStore()
    for key, value in {
        "screen_brightness": "102",
        "screen_brightness_mode": "1",
        "screen_off_timeout": "30000",
        "font_scale": "1.0",
        "accelerometer_rotation": "1",
        "pointer_location": "0",
        "show_touches": "0",
    }.items():
        store.put("system", key, value)
    for key, value in {
        "android_id": identity.android_id,
        "bluetooth_address": identity.bt_mac.upper(),
        "bluetooth_name": profile.build.model,
        "location_mode": "0",
        "location_providers_allowed": "",
        "user_setup_complete": "0",
        "default_input_method": "com.android.inputmethod.latin/.LatinIME",
        "enabled_input_methods": "com.android.inputmethod.latin/.LatinIME",
        "install_non_market_apps": "0",
        "usage_stats_enabled": "0",
        "send_action_app_error": "1",
    }.items():
        store.put("secure", key, value)
    for key, value in {
        "adb_enabled": "1",
        "airplane_mode_on": "0",
        "device_provisioned": "0",
        "wifi_on": "1",
        "bluetooth_on": "1",
        "mobile_data": "1",
        "data_roaming": "0",
        "device_name": profile.build.model,
        "auto_time": "1",
        "auto_time_zone": "1",
        "stay_on_while_plugged_in": "0",
        "package_verifier_enable": "1",
        "multi_sim_data_call": "1",
        "wifi_connected_mac_randomization_enabled": "1" if profile.uses_randomized_mac else "0",
    }.items():
        store.put("global", key, value)
    return store
