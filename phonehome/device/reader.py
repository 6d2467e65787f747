"""Reads a handset's identifiers over ``adb shell``, each with the command that gave it.

Works on anything with ``serial`` and ``shell(argv, ...)`` (`Shell`): a
`Handset`, or a recorded shell in tests. Sources, in order: properties,
``service call iphonesubinfo`` (per-release transactions, `phonehome.device.parcel`),
``dumpsys iphonesubinfo`` (Android <= 8), settings, ``ip link``, and the
``dumpsys`` of wifi, telephony.registry and location. A value is believed only
in its proper form (Luhn-valid IMEI, IMSI starting with the SIM's MCC+MNC,
ICCID starting with 89): OEM builds add IPhoneSubInfo methods, and a wrong
transaction number must not turn an IMSI into an IMEI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from phonehome.device import dumps, parcel
from phonehome.device.identity import (
    DUMPSYS,
    GETPROP,
    IP_LINK,
    SERVICE_CALL,
    SETTINGS,
    IdentityReport,
    Reading,
    Unread,
    cell_text,
    merge,
    normalize,
)
from phonehome.device.inventory import Inventory
from phonehome.device.props import (
    SERIAL_PROPS,
    parse_getprop,
    per_slot,
    sdk_level,
    sim_operators,
    slot_count,
)
from phonehome.device.transport import ShellResult
from phonehome.policy.identity import Cell, Identity, luhn_ok

STEP = "read identity"
DUMP_TIMEOUT_S = 30.0  # a real phone's dumpsys wifi runs to megabytes


class Shell(Protocol):
    """What the reader needs from a handset."""

    serial: str

    def shell(
        self, argv: Sequence[str], *, timeout: float | None = None, step: str = "shell", check: bool = True
    ) -> ShellResult: ...


@dataclass
class Found:
    """What `collect` found: readings, failures, and facts the merge needs."""

    readings: list[Reading] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)
    svn: str | None = None
    hardware_serial: str | None = None
    props: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, value: str, source: str, detail: str) -> bool:
        """Keeps ``value`` if it is a valid ``key`` (normalised); notes it as unread otherwise."""
        try:
            clean = normalize(key, value)
        except ValueError:
            self.unread.append(Unread(key, detail, f"{value!r} is not a valid {key}"))
            return False
        if not any(r.key == key and r.value == clean and r.source == source for r in self.readings):
            self.readings.append(Reading(key, clean, source, detail))
        return True


def _run(
    shell: Shell, found: Found, key: str, argv: Sequence[str], timeout: float | None = None
) -> str | None:
    """stdout of ``argv``; a non-zero exit is noted against ``key`` (timeouts and lost devices raise)."""
    result = shell.shell(argv, timeout=timeout, step=STEP, check=False)
    if result.exit_code not in (0, None):
        why = (result.stderr or result.stdout).strip().splitlines()
        found.unread.append(
            Unread(key, result.cmd, f"exit {result.exit_code}: {why[0] if why else 'no output'}")
        )
        return None
    return result.stdout


def collect(shell: Shell) -> Found:
    found = Found()
    text = _run(shell, found, "serial", ["getprop"])
    props = found.props = parse_getprop(text or "")
    _from_properties(found, props)
    _from_service_calls(shell, found, props)
    _from_iphonesubinfo_dump(shell, found)
    for key, name in (("android_id", "android_id"), ("bt_mac", "bluetooth_address")):
        out = _run(shell, found, key, ["settings", "get", "secure", name])
        value = dumps.settings_value(out or "")
        if value:
            found.add(key, value, SETTINGS, f"settings get secure {name}")
    _from_network(shell, found, props)
    _from_radio(shell, found)
    found.unread = [_presence(u, props) for u in found.unread]
    return found


RADIO_KEYS = frozenset({"imei", "imeisv", "meid"})
SIM_KEYS = frozenset({"imsi", "iccid", "msisdn"})


def no_radio(props: dict[str, str]) -> str:
    """Why the handset has no cellular radio (a Wi-Fi-only build says so in its properties), or ''."""
    if props.get("ro.radio.noril", "").strip().lower() in ("yes", "true", "1"):
        return f"no cellular radio: ro.radio.noril {props['ro.radio.noril'].strip()}"
    if props.get("ro.carrier", "").strip().lower() == "wifi-only":
        return "no cellular radio: ro.carrier wifi-only"
    return ""


def no_sim(props: dict[str, str]) -> str:
    """Why the handset holds no SIM (every slot ABSENT), or ''. Any other state (READY, PIN_REQUIRED,
    NOT_READY, UNKNOWN, missing) may hide a SIM, so its identifiers count as unread, not absent."""
    states = [s for s in per_slot(props, "gsm.sim.state") if s]
    if states and all(s.upper() == "ABSENT" for s in states):
        return f"no SIM: gsm.sim.state {props['gsm.sim.state'].strip()}"
    return ""


def _presence(unread: Unread, props: dict[str, str]) -> Unread:
    """Marks a failed read of a value the handset does not have (no radio, no SIM) as absent."""
    if unread.absent:
        return unread
    why = ""
    if unread.key in RADIO_KEYS | SIM_KEYS:
        why = no_radio(props)
    if not why and unread.key in SIM_KEYS:
        why = no_sim(props)
    return replace(unread, absent=why) if why else unread


_IMEI_PROP = re.compile(r"imei", re.IGNORECASE)
_WIFI_MAC_PROP = re.compile(r"(wifi|wlan).*(mac|addr)|(mac|addr).*(wifi|wlan)", re.IGNORECASE)
_BT_MAC_PROP = re.compile(r"(bt|bluetooth|bdroid|bdaddr).*(mac|addr)|bdaddr", re.IGNORECASE)


def _from_properties(found: Found, props: dict[str, str]) -> None:
    for key in SERIAL_PROPS:
        value = props.get(key, "").strip()
        if value and value.lower() not in ("unknown", "0123456789abcdef"):
            if found.hardware_serial is None:
                found.hardware_serial = value
            found.add("serial", value, GETPROP, f"getprop {key}")
    for name, value in props.items():
        for part in (p.strip() for p in value.split(",")):
            if _IMEI_PROP.search(name) and re.fullmatch(r"\d{15}", part) and luhn_ok(part):
                found.add("imei", part, GETPROP, f"getprop {name}")
            elif _WIFI_MAC_PROP.search(name) and dumps.real_mac(part):
                found.add("wifi_mac", part, GETPROP, f"getprop {name}")
            elif _BT_MAC_PROP.search(name) and dumps.real_mac(part):
                found.add("bt_mac", part, GETPROP, f"getprop {name}")


def _from_service_calls(shell: Shell, found: Found, props: dict[str, str]) -> None:
    sdk = sdk_level(props)
    operators = sim_operators(props)
    cdma = "2" in props.get("gsm.current.phone-type", "").split(",")
    for call in parcel.plan(sdk, slot_count(props)):
        out = _run(shell, found, call.field, call.argv)
        if out is None:
            continue
        reply = parcel.decode_reply(out)
        if reply.value is None:
            if reply.exception or reply.error:
                reason = reply.exception or f"{reply.error} (no such transaction on this build?)"
                found.unread.append(Unread(call.field, call.label, reason))
            continue
        _service_value(found, call, reply.value.strip(), operators, cdma)


def _service_value(found: Found, call: parcel.Call, value: str, operators: list[str], cdma: bool) -> None:
    detail = f"{call.label} ({call.method})"
    reject = f"{value!r} does not look like one (wrong transaction for this build?)"
    if call.field == "svn":
        if re.fullmatch(r"\d{2}", value):
            found.svn = found.svn or value
        return
    if call.field == "imei":
        if re.fullmatch(r"[0-9A-Fa-f]{14}", value) and (cdma or not value.isdigit()):
            found.add("meid", value, SERVICE_CALL, detail)
        elif re.fullmatch(r"\d{14}", value) or (re.fullmatch(r"\d{15}", value) and luhn_ok(value)):
            found.add("imei", value, SERVICE_CALL, detail)
        else:
            found.unread.append(Unread("imei", detail, reject))
        return
    if call.field == "imsi":
        imeis = {r.value for r in found.readings if r.key == "imei"}
        fits = re.fullmatch(r"\d{6,15}", value) and value not in imeis
        if fits and (not operators or any(value.startswith(op) for op in operators)):
            found.add("imsi", value, SERVICE_CALL, detail)
        else:
            found.unread.append(Unread("imsi", detail, f"{reject}; SIM operators {operators or 'unknown'}"))
        return
    if call.field == "iccid":
        if re.fullmatch(r"89\d{16,18}[Ff]?", value):
            found.add("iccid", value, SERVICE_CALL, detail)
        else:
            found.unread.append(Unread("iccid", detail, reject))
        return
    found.add(call.field, value, SERVICE_CALL, detail)  # msisdn: the form check is Identity's


def _from_iphonesubinfo_dump(shell: Shell, found: Found) -> None:
    out = _run(shell, found, "imei", ["dumpsys", "iphonesubinfo"], DUMP_TIMEOUT_S)
    for value in dumps.device_ids(out or ""):
        detail = "dumpsys iphonesubinfo (Device ID)"
        if value.isdigit() and len(value) == 15 and luhn_ok(value):
            found.add("imei", value, DUMPSYS, detail)
        elif len(value) == 14:
            found.add("meid", value, DUMPSYS, detail)


def _from_network(shell: Shell, found: Found, props: dict[str, str]) -> None:
    interface = props.get("wifi.interface", "").strip() or "wlan0"
    out = _run(shell, found, "wifi_mac", ["ip", "link"])
    for mac in dumps.link_macs(out or "", interface):
        found.add("wifi_mac", mac, IP_LINK, f"ip link ({interface})")
    wifi = dumps.wifi(_run(shell, found, "wifi_mac", ["dumpsys", "wifi"], DUMP_TIMEOUT_S) or "")
    for mac in wifi.factory_macs:
        found.add("wifi_mac", mac, DUMPSYS, "dumpsys wifi (factory MAC)")
    for mac in wifi.macs:
        found.add("wifi_mac", mac, DUMPSYS, "dumpsys wifi (mWifiInfo MAC)")
    for ssid in wifi.ssids:
        found.add("ssid", ssid, DUMPSYS, "dumpsys wifi (mWifiInfo SSID)")
    for bssid in wifi.bssids:
        found.add("bssid", bssid, DUMPSYS, "dumpsys wifi (mWifiInfo BSSID)")


def _from_radio(shell: Shell, found: Found) -> None:
    registry = _run(shell, found, "cell", ["dumpsys", "telephony.registry"], DUMP_TIMEOUT_S)
    cell = dumps.serving_cell(registry or "")
    if cell is not None:
        for name in cell.redacted:
            found.unread.append(
                Unread("cell", f"dumpsys telephony.registry (m{name})", "redacted by Android")
            )
        model = Cell(mcc=cell.mcc, mnc=cell.mnc, lac=cell.lac, tac=cell.tac, cid=cell.cid)
        if cell_text(model):
            found.readings.append(
                Reading(
                    "cell", cell_text(model), DUMPSYS, f"dumpsys telephony.registry (CellIdentity{cell.kind})"
                )
            )
    elif registry is not None:
        found.unread.append(
            Unread("cell", "dumpsys telephony.registry", "no serving cell", absent="no SIM or no signal")
        )
    located = _run(shell, found, "location", ["dumpsys", "location"], DUMP_TIMEOUT_S)
    fixes = dumps.locations(located or "")
    if fixes:
        fix = fixes[0]
        found.readings.append(
            Reading(
                "location",
                f"{fix.latitude:.6f},{fix.longitude:.6f}",
                DUMPSYS,
                f"dumpsys location ({fix.provider})",
            )
        )
    elif located is not None:
        found.unread.append(
            Unread("location", "dumpsys location", "no last known fix", absent="location off, or never fixed")
        )


def read_identity(
    shell: Shell, inventory: Inventory | None = None, bench: Identity | None = None
) -> IdentityReport:
    """Reads the handset over ADB, then merges the matching inventory entry and the bench's values."""
    found = collect(shell)
    entry = inventory.find(found.hardware_serial, shell.serial) if inventory is not None else None
    return merge(
        shell.serial,
        found.readings,
        found.unread,
        entry=entry,
        inventory_path=inventory.path if inventory is not None else "",
        bench=bench,
        svn=found.svn,
    )
