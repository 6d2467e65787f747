"""A handset's identity: the identifiers whose presence in traffic is a leak.

Loaded from a YAML file a lab writes (or built by ``phonehome.device`` from
what it read over ADB). Values are normalised here (digits only, MACs as 12
hex digits) so expansion into traffic forms starts from one canonical value.
A value that fails a check digit is kept and warned about: firmware leaks
what it reads, typos included, and a lab's identity file is ground truth.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from phonehome.yamlconf import load_model, shown

_SPACES = re.compile(r"[\s\-./:]")


def luhn_ok(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) used by IMEIs and ICCIDs; ``digits`` ends in its check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body + digit`` pass Luhn."""
    for digit in "0123456789":
        if luhn_ok(body + digit):
            return digit
    raise AssertionError("unreachable: one of ten digits always passes")


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _digits(value: Any, what: str, lengths: range) -> str:
    text = _SPACES.sub("", str(value))
    if not text.isdigit() or len(text) not in lengths:
        raise ValueError(f"{what} must be {lengths.start}-{lengths.stop - 1} digits, got {shown(value)}")
    return text


def normalize_mac(value: Any) -> str:
    """Any MAC notation (``AA:BB:CC:DD:EE:FF``, ``aabb.ccdd.eeff``, ``AA-BB-...``) -> 12 lower-case hex digits."""
    text = _SPACES.sub("", str(value)).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", text):
        raise ValueError(f"a MAC address is 6 bytes in hex (AA:BB:CC:DD:EE:FF), got {shown(value)}")
    return text


def _imei(v: Any) -> str:
    return _digits(v, "an IMEI", range(14, 16))


def _imeisv(v: Any) -> str:
    return _digits(v, "an IMEISV", range(16, 17))


def _imsi(v: Any) -> str:
    return _digits(v, "an IMSI", range(6, 16))


def _iccid(v: Any) -> str:
    text = _SPACES.sub("", str(v)).rstrip("Ff")
    return _digits(text, "an ICCID", range(18, 21))


def _msisdn(v: Any) -> str:
    text = re.sub(r"[\s\-().]", "", str(v))
    if not re.fullmatch(r"\+?\d{6,15}", text):
        raise ValueError(f"an MSISDN is a phone number, E.164 (+4791234567) preferred, got {shown(v)}")
    return text


def _meid(v: Any) -> str:
    text = _SPACES.sub("", str(v)).lower()
    if re.fullmatch(r"[0-9a-f]{14,15}", text):
        return text[:14]
    if re.fullmatch(r"\d{18}", text):  # decimal form: 10 digits of manufacturer code, 8 of serial
        return f"{int(text[:10]):08x}{int(text[10:]):06x}"
    raise ValueError(f"an MEID is 14 hex digits (or 18 decimal), got {shown(v)}")


def _hex64(v: Any) -> str:
    text = str(v).strip().lower()
    if isinstance(v, int) and not isinstance(v, bool):
        text = f"{v:x}"
    elif text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{1,16}", text):
        raise ValueError(f"expected up to 16 hex digits (as Settings.Secure shows it), got {shown(v)}")
    return text.zfill(16)


def _gsf_id(v: Any) -> str:
    # GSF IDs are shown in hex by most tools; an int in YAML (or a string over 16 digits) is decimal.
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:016x}"
    text = str(v).strip().lower()
    if re.fullmatch(r"\d{17,20}", text) and int(text) < 2**64:
        return f"{int(text):016x}"
    return _hex64(text)


def _uuid(v: Any) -> str:
    try:
        return str(uuid.UUID(str(v).strip()))
    except ValueError as exc:
        raise ValueError(f"an advertising ID is a UUID, got {shown(v)}") from exc


def _text(v: Any) -> str:
    text = str(v)
    if not text.strip():
        raise ValueError("empty value")
    return text


_AsList = BeforeValidator(_as_list)
Imeis = Annotated[list[Annotated[str, BeforeValidator(_imei)]], _AsList]
Imeisvs = Annotated[list[Annotated[str, BeforeValidator(_imeisv)]], _AsList]
Meids = Annotated[list[Annotated[str, BeforeValidator(_meid)]], _AsList]
Imsis = Annotated[list[Annotated[str, BeforeValidator(_imsi)]], _AsList]
Iccids = Annotated[list[Annotated[str, BeforeValidator(_iccid)]], _AsList]
Msisdns = Annotated[list[Annotated[str, BeforeValidator(_msisdn)]], _AsList]
Texts = Annotated[list[Annotated[str, BeforeValidator(_text)]], _AsList]
Macs = Annotated[list[Annotated[str, BeforeValidator(normalize_mac)]], _AsList]
Hex64s = Annotated[list[Annotated[str, BeforeValidator(_hex64)]], _AsList]
GsfIds = Annotated[list[Annotated[str, BeforeValidator(_gsf_id)]], _AsList]
Uuids = Annotated[list[Annotated[str, BeforeValidator(_uuid)]], _AsList]


class Location(BaseModel):
    """Where the bench put the handset (mock location); leaks show it at any precision."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    tolerance: float = Field(
        default=0.0, ge=0, le=0.1, description="extra tolerance in degrees, for a moving fix"
    )


def _cell_number(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower().startswith("0x"):
        return int(v.strip(), 16)
    return v


CellNumber = Annotated[int, BeforeValidator(_cell_number), Field(ge=0, lt=2**36)]


class Cell(BaseModel):
    """The serving cell: CID is the full cell identity (LTE ECI: eNB id * 256 + cell)."""

    model_config = ConfigDict(extra="forbid")
    mcc: CellNumber | None = None
    mnc: CellNumber | None = None
    lac: CellNumber | None = None
    tac: CellNumber | None = None
    cid: CellNumber | None = None


class Identity(BaseModel):
    """The identifiers of one handset; each key is how findings name what leaked."""

    model_config = ConfigDict(extra="forbid")
    imei: Imeis = Field(default_factory=list, description="15 digits (or 14 without check digit)")
    imeisv: Imeisvs = Field(default_factory=list)
    meid: Meids = Field(default_factory=list)
    imsi: Imsis = Field(default_factory=list)
    iccid: Iccids = Field(default_factory=list, description="19-20 digits as printed on the SIM")
    msisdn: Msisdns = Field(default_factory=list, description="E.164, e.g. +4791234567")
    serial: Texts = Field(default_factory=list)
    wifi_mac: Macs = Field(default_factory=list, description="factory and randomized")
    bt_mac: Macs = Field(default_factory=list)
    android_id: Hex64s = Field(default_factory=list)
    advertising_id: Uuids = Field(default_factory=list)
    gsf_id: GsfIds = Field(default_factory=list)
    ssid: Texts = Field(default_factory=list)
    bssid: Macs = Field(default_factory=list)
    location: Location | None = None
    cell: Cell | None = None
    sources: dict[str, str] = Field(
        default_factory=dict, description="where each key's values came from: inventory, adb, bench"
    )
    unread: dict[str, str] = Field(
        default_factory=dict,
        description="identifiers the handset has that could not be obtained, with why (e.g. imei: Android "
        "10+ denies it to the shell); assertions that look for identifiers are INCONCLUSIVE until they "
        "are declared",
    )

    @field_validator("sources", "unread")
    @classmethod
    def _sources_name_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(IDENTIFIER_KEYS)
        if unknown:
            names = ", ".join(shown(key) for key in sorted(unknown)[:5])
            raise ValueError(f"names keys that are not identifiers: {names}")
        return value

    @model_validator(mode="after")
    def _unread_is_still_unknown(self) -> Identity:
        """A key with a value is known: drop it from ``unread`` (the inventory supplied what ADB could not)."""
        for key in [k for k in self.unread if getattr(self, k)]:
            del self.unread[key]
        return self

    def warnings(self) -> list[str]:
        """Values that look wrong but are kept (a lab's file is ground truth; firmware leaks what it reads)."""
        out = []
        for imei in self.imei:
            if len(imei) == 15 and not luhn_ok(imei):
                out.append(f"imei {imei} fails its Luhn check digit (expected {luhn_digit(imei[:14])})")
        for iccid in self.iccid:
            if len(iccid) in (19, 20) and not luhn_ok(iccid):
                out.append(f"iccid {iccid} fails its Luhn check digit")
        if not self.keys():
            out.append("the identity lists no identifiers: leak detection has nothing to look for")
        return out

    def keys(self) -> list[str]:
        """Identity keys that have a value, in file order."""
        return [key for key in IDENTIFIER_KEYS if getattr(self, key)]


IDENTIFIER_KEYS = (
    "imei",
    "imeisv",
    "meid",
    "imsi",
    "iccid",
    "msisdn",
    "serial",
    "wifi_mac",
    "bt_mac",
    "android_id",
    "advertising_id",
    "gsf_id",
    "ssid",
    "bssid",
    "location",
    "cell",
)


def load_identity(path: Path) -> Identity:
    """Reads an identity YAML; errors name file, line and key (phonehome.yamlconf.ConfigError)."""
    return load_model(Identity, path)
