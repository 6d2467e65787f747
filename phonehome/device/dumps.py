"""Parsers for what the shell prints about identity: dumpsys sections, ``ip link``, ``settings get``.

Each takes the text as real phones print it (layouts differ per release and
OEM; the tests hold excerpts from several) and returns plain values, or
nothing when the text does not say. Device output is untrusted: no parser
raises on it. Values Android redacts (``Rlog.pii`` prints ``[hash]`` on
user builds) are reported as redacted, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phonehome.policy.build import Package

_MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"
PLACEHOLDER_MACS = frozenset({"02:00:00:00:00:00", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})
UNAVAILABLE = 2147483647  # CellInfo.UNAVAILABLE (Integer.MAX_VALUE)


def real_mac(value: str) -> str | None:
    """Lower-case ``aa:bb:..`` unless it is Android's placeholder for a hidden MAC."""
    mac = value.strip().lower()
    if not re.fullmatch(_MAC, mac) or mac in PLACEHOLDER_MACS:
        return None
    return mac


def settings_value(text: str) -> str | None:
    """``settings get NS KEY`` prints the value or ``null``."""
    value = text.strip()
    return None if value in ("", "null") else value


def device_ids(text: str) -> list[str]:
    """``dumpsys iphonesubinfo`` on Android <= 8 prints ``Device ID = 35...`` (one per phone)."""
    return [m.group(1) for m in re.finditer(r"Device ID\s*=\s*([0-9A-Fa-f]{14,16})\b", text)]


def link_macs(text: str, interface: str) -> list[str]:
    """The ``link/ether`` MAC of ``interface`` in ``ip link`` / ``ip addr`` output."""
    macs: list[str] = []
    current = None
    for line in text.splitlines():
        header = re.match(r"^\d+:\s+([^:@\s]+)[@:]", line)
        if header:
            current = header.group(1)
            continue
        ether = re.search(rf"link/ether\s+({_MAC})", line)
        if ether and current == interface:
            mac = real_mac(ether.group(1))
            if mac and mac not in macs:
                macs.append(mac)
    return macs


@dataclass(frozen=True, slots=True)
class WifiDump:
    """What ``dumpsys wifi`` says about the station and its association."""

    macs: tuple[str, ...] = ()  # MACs the station uses (randomized per network on Android 10+)
    factory_macs: tuple[str, ...] = ()
    ssids: tuple[str, ...] = ()
    bssids: tuple[str, ...] = ()


_WIFI_INFO = re.compile(
    r"(?:mWifiInfo|WifiInfo:?)\s+SSID:\s*(?P<ssid>[^\n]*?),\s*"  # SSIDs may hold commas and quotes
    r"BSSID:\s*(?P<bssid>" + _MAC + r"|<none>|null)?,\s*MAC:\s*(?P<mac>" + _MAC + r")"
    r"(?P<rest>[^\n]*)"
)


def wifi(text: str) -> WifiDump:
    macs: list[str] = []
    factory: list[str] = []
    ssids: list[str] = []
    bssids: list[str] = []
    for m in _WIFI_INFO.finditer(text):
        mac = real_mac(m.group("mac"))
        if mac and mac not in macs:
            macs.append(mac)
        if "Supplicant state: COMPLETED" not in m.group("rest"):
            continue  # SSID/BSSID only of a live association, not of a history entry or a scan
        ssid = m.group("ssid").strip()
        if ssid.startswith('"') and ssid.endswith('"') and len(ssid) >= 2:
            ssid = ssid[1:-1]  # Android 5+ quotes UTF-8 SSIDs; 4.x printed them bare
        elif ssid.startswith(("<", "0x")):
            ssid = ""  # <unknown ssid>, <none>, or a non-UTF-8 SSID as hex
        if ssid and ssid not in ssids:
            ssids.append(ssid)
        bssid = real_mac(m.group("bssid") or "")
        if bssid and bssid not in bssids:
            bssids.append(bssid)
    for m in re.finditer(r"(?i)factory\s*mac(?:\s*address)?\s*[=:]\s*(" + _MAC + ")", text):
        mac = real_mac(m.group(1))
        if mac and mac not in factory:
            factory.append(mac)
    return WifiDump(tuple(macs), tuple(factory), tuple(ssids), tuple(bssids))


@dataclass(frozen=True, slots=True)
class Fix:
    provider: str
    latitude: float
    longitude: float


# Location.toString: "Location[gps 52.520008,13.404954 hAcc=...". Before Android 12 the numbers were
# formatted in the default locale, so a German phone prints "52,520008,13,404954" (six decimals each).
_FIX = re.compile(r"Location\[(\w+)\s+(-?\d{1,3}[.,]\d+),(-?\d{1,3}[.,]\d+)\s")
_FIX_COMMA = re.compile(r"Location\[(\w+)\s+(-?\d{1,3},\d{6}),(-?\d{1,3},\d{6})\s")


_PROVIDER_RANK = {"gps": 0, "fused": 1, "network": 2, "passive": 3}


def locations(text: str) -> list[Fix]:
    """Last known fixes in ``dumpsys location``: precise before coarse (coarse fixes are obfuscated),
    then gps, fused, network, passive."""
    precise: list[Fix] = []
    coarse: list[Fix] = []
    in_coarse_section = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith(":") and "[" not in stripped:  # a section header
            in_coarse_section = "coarse" in stripped.lower()
        m = _FIX_COMMA.search(line) or _FIX.search(line)
        if not m:
            continue
        try:
            lat = float(m.group(2).replace(",", "."))
            lon = float(m.group(3).replace(",", "."))
        except ValueError:
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            continue
        fix = Fix(m.group(1), lat, lon)
        target = coarse if in_coarse_section or "coarse" in line.lower() else precise
        if fix not in target:
            target.append(fix)
    return sorted(precise, key=_rank) + sorted(coarse, key=_rank)


def _rank(fix: Fix) -> int:
    return _PROVIDER_RANK.get(fix.provider, len(_PROVIDER_RANK))


@dataclass(frozen=True, slots=True)
class CellDump:
    """The serving cell from ``dumpsys telephony.registry``; None where unknown or redacted."""

    kind: str  # Lte, Nr, Gsm, Wcdma, Tdscdma, Cdma
    mcc: int | None = None
    mnc: int | None = None
    lac: int | None = None
    tac: int | None = None
    cid: int | None = None
    redacted: tuple[str, ...] = ()


# One level of nested braces: Android 11+ prints "mAdditionalPlmns={}" inside the identity.
_CELL_ID = re.compile(r"CellIdentity(Lte|Nr|Gsm|Wcdma|Tdscdma|Cdma):\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_FIELD = re.compile(r"(?<!\S)m(\w+)\s*=\s*(\S+?)(?=\s+m\w+\s*=|\s*$)")
_CID_KEYS = {
    "Lte": "Ci",
    "Nr": "Nci",
    "Gsm": "Cid",
    "Wcdma": "Cid",
    "Tdscdma": "Cid",
    "Cdma": "BasestationId",
}


def _number(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value < 0 or value >= UNAVAILABLE else value


def _cell(kind: str, body: str) -> CellDump:
    fields = {m.group(1): m.group(2) for m in _FIELD.finditer(body.strip())}
    cid_key = _CID_KEYS[kind]
    redacted = tuple(
        k for k in (cid_key, "Lac", "Tac") if fields.get(k, "").startswith("[") or fields.get(k) == "***"
    )
    return CellDump(
        kind=kind,
        mcc=_number(fields.get("Mcc", "")),
        mnc=_number(fields.get("Mnc", "")),
        lac=_number(fields.get("Lac", "")),
        tac=_number(fields.get("Tac", "")),
        cid=_number(fields.get(cid_key, "")),
        redacted=redacted,
    )


def serving_cell(text: str) -> CellDump | None:
    """``mCellIdentity=`` (Android 10+) of the first phone that has one, else the registered CellInfo."""
    candidates: list[CellDump] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("mCellIdentity="):
            m = _CELL_ID.search(stripped)
            if m:
                candidates.append(_cell(m.group(1), m.group(2)))
    if not candidates:
        for m in re.finditer(r"CellInfo\w*:\{\s*mRegistered=YES[^\n]*", text):
            cell = _CELL_ID.search(m.group(0))
            if cell:
                candidates.append(_cell(cell.group(1), cell.group(2)))
    useful = [c for c in candidates if c.cid is not None or c.tac is not None or c.lac is not None]
    ranked = useful or candidates
    return ranked[0] if ranked else None


def packages(text: str) -> list[Package]:
    """``package:/path/base.apk=com.name uid:10123`` lines; paths may hold '=' (``/data/app/~~x==/``)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^package:(.+)=([A-Za-z0-9_.]+)(?:\s+uid:([\d,]+))?\s*$", line.strip())
        if not m:
            continue
        uids = tuple(int(u) for u in (m.group(3) or "").split(",") if u.isdigit())
        out.append(Package(name=m.group(2), path=m.group(1), uids=uids))
    return out
