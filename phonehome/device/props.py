"""``getprop`` output and the properties that say who a handset is.

Pure functions over text, so they are tested with real phones' dumps.
"""

from __future__ import annotations

import re

_PROP = re.compile(r"^\[([^\]\n]+)\]: \[(.*?)\]$", re.MULTILINE | re.DOTALL)

# Hardware serial: ro.serialno is what adb shows over USB; Samsung also keeps the box label's serial.
SERIAL_PROPS = ("ro.serialno", "ro.boot.serialno", "ril.serialnumber")
# How many modems / SIM slots the radio has.
_MULTISIM = {"ssss": 1, "dsds": 2, "dsda": 2, "tsts": 3}


def parse_getprop(text: str) -> dict[str, str]:
    """``[name]: [value]`` lines (values may span lines) -> dict; other lines are ignored."""
    return {m.group(1): m.group(2) for m in _PROP.finditer(text)}


def sdk_level(props: dict[str, str]) -> int:
    """``ro.build.version.sdk`` (0 when missing or garbled: callers treat 0 as 'unknown, oldest rules')."""
    text = props.get("ro.build.version.sdk", "").strip()
    return int(text) if text.isdigit() else 0


def slot_count(props: dict[str, str]) -> int:
    """Modem slots: from persist.radio.multisim.config, else the per-slot lists of gsm.* properties."""
    config = props.get("persist.radio.multisim.config", "").strip().lower()
    if config in _MULTISIM:
        return _MULTISIM[config]
    counts = [
        len(props[key].split(","))
        for key in ("gsm.current.phone-type", "gsm.sim.state", "ro.telephony.sim.count")
        if props.get(key, "").strip()
    ]
    if props.get("ro.telephony.sim.count", "").strip().isdigit():
        counts.append(int(props["ro.telephony.sim.count"]))
    return max([1, *counts])


def per_slot(props: dict[str, str], key: str) -> list[str]:
    """A comma-separated per-slot property (``gsm.sim.operator.numeric``: '24201,'), one entry per slot."""
    return [part.strip() for part in props.get(key, "").split(",")]


def sim_operators(props: dict[str, str]) -> list[str]:
    """MCC+MNC of the SIMs present (what an IMSI must start with)."""
    found = []
    for key in ("gsm.sim.operator.numeric", "gsm.apn.sim.operator.numeric"):
        for value in per_slot(props, key):
            if re.fullmatch(r"\d{5,6}", value) and value not in found:
                found.append(value)
    return found
