"""Fields named like identifiers: low-entropy values under their own name, and unknown identifiers.

A cell id of ``12`` is a leak under ``CELLID`` and noise anywhere else, so
keyed values (forms.KeyedValue) are judged here, on (name, value) pairs
taken from JSON, forms, headers and ``key=value`` text. A field named like an
identifier whose value is not this handset's (a second SIM, another IMEI) is
reported as an identifier-shaped field: the bench may not know every SIM.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from phonehome.policy.forms import Coordinate, Expansion, KeyedValue, coordinate_readings
from phonehome.policy.identity import luhn_ok

# A coordinate's own name: "lat", "gpsLatitude", "latitudeE7" (Google's location history), "lat_deg".
_LAT_NAME = (
    r"(?:gps|geo|loc|location|last|cur|current|device|user|my|fix)?(?:lat|latitude)(?:e[5-7]|deg|degrees)?"
)
_LON_NAME = r"(?:gps|geo|loc|location|last|cur|current|device|user|my|fix)?(?:lon|lng|long|longitude)(?:e[5-7]|deg|degrees)?"
# Field name (lower case, letters and digits only) -> identifier kind. Names from the 2019 payload
# (self-registration-facts.md), Android APIs (getImei, getSimSerialNumber...) and published leaks.
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("imei", re.compile(r"(sim\d?)?imei\d?(sv)?|deviceimei|imeinumber|getimei|getdeviceid")),
    ("meid", re.compile(r"meid\d?|getmeid|esn|pesn")),
    ("imsi", re.compile(r"(sim\d?)?(lte|cdma|gsm)?imsi\d?|subscriberid|getsubscriberid")),
    ("iccid", re.compile(r"(sim\d?)?iccid\d?|simserial(no|number)?|getsimserialnumber|simid")),
    ("msisdn", re.compile(r"msisdn|mdn|phonenumber|phoneno|line1number|getline1number|mobilenumber|mobile")),
    ("mac", re.compile(r"(wifi|wlan|bt|bluetooth|eth|device)?mac(id|addr|address)?\d?|bssid|apmac")),
    ("android_id", re.compile(r"androidid|ssaid|android")),
    ("advertising_id", re.compile(r"adid|advertisingid|gaid|aaid|idfa|googleadid")),
    ("gsf_id", re.compile(r"gsfid|gsf|gservicesid")),
    ("serial", re.compile(r"serial|serialno|serialnumber|sn|deviceserial|roserialno|robootserialno")),
    ("cell", re.compile(r"(sim\d?)?cellid\d?|cid|ci|eci|nci|baseid|cellidentity|ecgi|cgi|enb|enbid")),
    ("lac", re.compile(r"(sim\d?)?(lac|tac)\d?|lactac|locationareacode|trackingareacode")),
    ("ssid", re.compile(r"(wifi|wlan|ap)?ssid")),
    ("location", re.compile(rf"{_LAT_NAME}|{_LON_NAME}|gps|location|geo")),
]
# Names too common outside device identity (campaign "cid", certificate "serial", a "location" page) to
# call an unknown value under them an identifier; this handset's own values still count under them.
_TOO_GENERIC = frozenset(
    {
        "cid",
        "ci",
        "sn",
        "serial",
        "mobile",
        "android",
        "gps",
        "location",
        "lat",
        "latitude",
        "lon",
        "lng",
        "long",
        "longitude",
        "phone",
        "tel",
        "enb",
        "enbid",
        "eci",
        "nci",
        "cgi",
        "ecgi",
        "mdn",
    }
)
_NOT_A_VALUE = frozenset(
    {
        "",
        "0",
        "-1",
        "null",
        "none",
        "nil",
        "unknown",
        "n/a",
        "na",
        "undefined",
        "false",
        "true",
        "default",
        "02:00:00:00:00:00",
        "020000000000",
    }
)
_PLAUSIBLE = {
    "imei": re.compile(r"\d{14,16}"),
    "meid": re.compile(r"[0-9a-fA-F]{14}|\d{18}|[0-9a-fA-F]{8}"),
    "imsi": re.compile(r"\d{14,15}"),
    "iccid": re.compile(r"89\d{16,18}[fF]?"),
    "msisdn": re.compile(r"\+?\d{7,15}"),
    "mac": re.compile(r"[0-9a-fA-F]{2}([:\-]?[0-9a-fA-F]{2}){5}"),
    "android_id": re.compile(r"[0-9a-fA-F]{16}|-?\d{15,20}"),
    "advertising_id": re.compile(
        r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    ),
    "gsf_id": re.compile(r"[0-9a-fA-F]{16}|\d{15,20}"),
    "serial": re.compile(r"[0-9A-Za-z]{6,20}"),
    "cell": re.compile(r"\d{1,10}|(0x)?[0-9a-fA-F]{1,9}"),
    "lac": re.compile(r"\d{1,6}|(0x)?[0-9a-fA-F]{1,5}"),
    "ssid": re.compile(r".{1,32}"),
    "location": re.compile(r"-?\d{1,3}\.\d{2,}"),
}
# key=value, key: value, "key":"value", <key>value</key> in text that no structured decoder parsed.
_TEXT_PAIR = re.compile(
    rb"(?:<([A-Za-z][\w.\-]{0,40})>([^<]{1,80})</\1>)"
    rb"|(?:[\"']?([A-Za-z][\w.\-]{0,40})[\"']?\s{0,3}[:=]\s{0,3}[\"']?([^\"'&,;\s<>{}\[\]]{1,80}))"
)


def normalize_key(name: str) -> str:
    """``SIM1_ICCID`` -> ``sim1iccid``: field names compared without case and punctuation."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def kind_of(name: str) -> str | None:
    """The identifier kind a field name says it carries, if any."""
    key = normalize_key(name.rsplit(".", 1)[-1].rsplit(":", 1)[-1])
    for kind, pattern in _KINDS:
        if pattern.fullmatch(key):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """A (name, value) pair that is this handset's identifier (``keyed``), or shaped like one."""

    key: str
    value: str
    kind: str
    identifier: str | None
    """The identity key it matched (``cell``, ``imei``...); None for an identifier-shaped field."""
    form: str
    start: int
    """Offset of the value in the view it came from (-1 when not known)."""


MAX_TEXT_PAIRS = 4096
"""``key=value`` pairs read from one text view; a caller must say so when a view has more."""


def text_pairs(data: bytes, limit: int = MAX_TEXT_PAIRS) -> Iterator[tuple[str, str, int]]:
    """(name, value, offset of value) pairs from text: query strings, XML, logs, custom protocols.

    Stops after ``limit`` pairs without saying so; read_text_pairs says where it stopped.
    """
    yield from read_text_pairs(data, limit).pairs


@dataclass(frozen=True, slots=True)
class TextPairs:
    """The pairs read from a text, and where reading stopped if the limit cut it short."""

    pairs: list[tuple[str, str, int]]
    cut_at: int | None
    """Offset of the first pair not read (None: all were)."""


def read_text_pairs(data: bytes, limit: int = MAX_TEXT_PAIRS) -> TextPairs:
    """text_pairs, with the offset where ``limit`` stopped it: the caller records a decode limit."""
    pairs: list[tuple[str, str, int]] = []
    for count, match in enumerate(_TEXT_PAIR.finditer(data)):
        if count >= limit:
            return TextPairs(pairs, match.start())
        if match.group(1) is not None:
            pairs.append((match.group(1).decode("latin-1"), match.group(2).decode("latin-1"), match.start(2)))
        else:
            pairs.append((match.group(3).decode("latin-1"), match.group(4).decode("latin-1"), match.start(4)))
    return TextPairs(pairs, None)


class FieldJudge:
    """Decides what a named field carries, for one identity."""

    def __init__(self, expansion: Expansion, identity_values: dict[str, set[str]]) -> None:
        self.coordinates = expansion.coordinates
        self.keyed: dict[str, list[KeyedValue]] = {}
        for keyed in expansion.keyed:
            self.keyed.setdefault(keyed.kind, []).append(keyed)
        self.identity_values = identity_values
        """kind -> canonical values of this handset (digits, 12-hex MACs...), to tell "ours" from "shaped"."""

    def judge(self, key: str, value: str, start: int = -1) -> FieldMatch | None:
        kind = kind_of(key)
        if kind is None:
            return None
        text = value.strip().strip("\"'")
        if text.lower() in _NOT_A_VALUE or not text or set(text) <= {"0", ":", "-", "."}:
            return None
        lowered = text.lower()
        if kind == "location":
            axis = _axis(key)
            for coord in self.coordinates:
                if (axis is None or coord.axis == axis) and _near(text, coord):
                    return FieldMatch(key, text, kind, "location", f"{coord.axis} under {key}", start)
            return None  # another place is not an identifier of this handset, nor shaped like one
        for keyed in self.keyed.get(kind, []):
            if lowered in keyed.candidates or (
                kind in ("cell", "lac", "enb") and _same_number(lowered, keyed)
            ):
                return FieldMatch(key, text, kind, keyed.identifier, f"{keyed.name} under {key}", start)
        if kind == "cell" and any(lowered in k.candidates for k in self.keyed.get("enb", [])):
            keyed = self.keyed["enb"][0]
            return FieldMatch(key, text, kind, keyed.identifier, f"{keyed.name} under {key}", start)
        if self._ours(kind, text):
            return None  # the matcher reports it, with its form; not "shaped"
        if normalize_key(key.rsplit(".", 1)[-1].rsplit(":", 1)[-1]) in _TOO_GENERIC:
            return None
        plausible = _PLAUSIBLE.get(kind)
        if plausible is None or not plausible.fullmatch(text):
            return None
        if kind == "imei" and len(text) == 15 and not luhn_ok(text):
            return None  # not an IMEI at all: a 15-digit number under a misleading name
        return FieldMatch(key, text, kind, None, f"{kind}-shaped field {key}", start)

    def _ours(self, kind: str, text: str) -> bool:
        mine = self.identity_values.get(kind, set())
        if kind in ("serial", "ssid"):
            return text.lower() in mine
        digits = re.sub(r"[^0-9a-fA-F]", "", text).lower()
        return any(value and (value in digits or (digits in value and len(digits) >= 12)) for value in mine)


def _axis(key: str) -> str | None:
    name = normalize_key(key.rsplit(".", 1)[-1].rsplit(":", 1)[-1])
    if re.fullmatch(_LAT_NAME, name):
        return "lat"
    if re.fullmatch(_LON_NAME, name):
        return "lon"
    return None


def _near(text: str, coord: Coordinate) -> bool:
    """A decimal (dot or comma) or an E5/E6/E7 integer that is this coordinate (Coordinate.matches)."""
    return any(coord.matches(value, places) for value, places in coordinate_readings(text))


def _same_number(text: str, keyed: KeyedValue) -> bool:
    try:
        number = int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return False
    return str(number) in keyed.candidates
