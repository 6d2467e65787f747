"""An identity expanded into the byte strings real leaks carry (REQUIREMENTS.md, "identifier forms").

High-entropy forms (an IMEI, a MAC, hashes of them) go to the multi-pattern
matcher and count wherever they appear. Low-entropy values (a cell id of
``12``, a LAC, a short serial) would match by accident, so they are
``keyed``: they count only as the value of a field whose name says what it
is (``CELLID=12``); :mod:`phonehome.policy.fields` judges those.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import phonenumbers

from phonehome.policy.identity import Identity, luhn_digit

Boundary = Literal["none", "digit", "alnum", "hex"]
"""Which neighbouring bytes disqualify a match: a 14-digit IMEI body inside a longer digit run is
another number, not this IMEI."""

HASH_MIN = 6
"""Values shorter than this are not hashed: a hash of a short value is a dictionary lookup away, and
would multiply patterns for nothing."""


@dataclass(frozen=True, slots=True)
class Form:
    """One way an identifier can appear in bytes."""

    identifier: str
    """The identity file's key: ``imei``, ``iccid``, ``wifi_mac``..."""
    value: str
    """The identity value this form derives from (canonical, as normalised by Identity)."""
    name: str
    """What the form is, for reports: ``imei-14``, ``md5-hex(mac-colon)``, ``iccid-swapped``."""
    pattern: bytes
    """Literal bytes (or, when ``regex``, a Hyperscan expression)."""
    caseless: bool = False
    boundary: Boundary = "none"
    regex: bool = False


@dataclass(frozen=True, slots=True)
class KeyedValue:
    """A low-entropy value that counts only under a field name of its kind (see fields.py)."""

    identifier: str
    value: str
    name: str
    kind: str
    """Which field names may carry it: ``cell``, ``lac``, ``serial``, ``msisdn``, ``ssid``."""
    candidates: frozenset[str]
    """Normalised field values that equal it (lower case, as decimal and hex)."""


@dataclass(frozen=True, slots=True)
class Coordinate:
    """One axis of the handset's location, with the tolerance a decimal at p places gets (10**-p)."""

    axis: Literal["lat", "lon"]
    degrees: float
    extra: float

    def matches(self, value: float, places: int) -> bool:
        """Whether ``value``, printed with ``places`` decimals after its trailing zeros are dropped, is
        this coordinate: within 10**-places (rounded or cut; 1e-5 at the finest, the precision a float32
        keeps), or, below 2 places, exactly what rounding or cutting it to 2-7 places gives (``60.0``
        is 59.99996 rounded to 4 places; ``59.9`` is not 59.913868)."""
        if places >= 2:
            return abs(value - self.degrees) <= 10.0 ** -min(places, 5) + self.extra + 1e-12
        if abs(value - self.degrees) <= self.extra + 1e-12:
            return True
        return any(
            abs(value - shown) < 1e-9
            for digits in range(2, 8)
            for shown in (round(self.degrees, digits), math.trunc(self.degrees * 10**digits) / 10**digits)
        )

    def short_forms(self) -> set[str]:
        """The texts of 2-7 place roundings that lost their trailing zeros below 2 places (``60.0``)."""
        out = set()
        for digits in range(2, 8):
            for shown in (round(self.degrees, digits), math.trunc(self.degrees * 10**digits) / 10**digits):
                text = repr(abs(shown))
                if "e" not in text and len(text.partition(".")[2]) < 2:
                    out.add(text)
        return out


_DECIMAL = re.compile(r"(-?)(\d{1,3})[.,](\d+)")
_INTEGER = re.compile(r"(-?)(\d{5,10})")


def coordinate_readings(text: str) -> list[tuple[float, int]]:
    """(value, significant places) readings of a field value that may be a coordinate: a decimal with a
    dot or a comma (a German-locale ``String.format``), or an E5, E6 or E7 integer."""
    decimal = _DECIMAL.fullmatch(text)
    if decimal is not None:
        sign, whole, fraction = decimal.groups()
        value = float(f"{sign}{whole}.{fraction}")
        return [(value, len(fraction.rstrip("0")))]
    integer = _INTEGER.fullmatch(text)
    if integer is None:
        return []
    number = int(text)
    zeros = len(text) - len(text.rstrip("0"))
    return [(number / 10**scale, scale - zeros) for scale in (5, 6, 7)]


@dataclass(slots=True)
class Expansion:
    """Everything the matcher and the field judge need for one identity."""

    forms: list[Form]
    keyed: list[KeyedValue]
    coordinates: list[Coordinate]


def _base_forms(identity: Identity) -> Iterator[tuple[Form, bool]]:
    """(form, transform it?) for each identifier: the notations before hashing and encoding."""

    def f(
        key: str,
        value: str,
        name: str,
        text: str,
        *,
        boundary: Boundary = "none",
        caseless: bool = False,
        transform: bool = True,
    ) -> tuple[Form, bool]:
        return Form(key, value, name, text.encode("utf-8", "surrogatepass"), caseless, boundary), transform

    for imei in identity.imei:
        body = imei[:14]
        full = body + luhn_digit(body) if len(imei) == 14 else imei
        yield f("imei", imei, "imei", full, boundary="digit")
        yield f("imei", imei, "imei-14", body, boundary="digit")
        yield f(
            "imei", imei, "imei-dashed", f"{full[:2]}-{full[2:8]}-{full[8:14]}-{full[14]}", transform=False
        )
        yield f(
            "imei", imei, "imei-spaced", f"{full[:2]} {full[2:8]} {full[8:14]} {full[14]}", transform=False
        )
        yield f("imei", imei, "imei-tac-snr", f"{full[:8]}-{full[8:14]}-{full[14]}", transform=False)
        yield Form("imei", imei, "imeisv", body.encode() + rb"\d\d", boundary="digit", regex=True), False
        if imei != full:
            yield f("imei", imei, "imei-15", full, boundary="digit")
    for sv in identity.imeisv:
        yield f("imeisv", sv, "imeisv", sv, boundary="digit")
        yield f("imeisv", sv, "imei-14", sv[:14], boundary="digit")
        yield f("imeisv", sv, "imei", sv[:14] + luhn_digit(sv[:14]), boundary="digit")
    for meid in identity.meid:
        yield f("meid", meid, "meid-hex", meid, boundary="hex", caseless=True)
        yield f(
            "meid", meid, "meid-decimal", f"{int(meid[:8], 16):010d}{int(meid[8:], 16):08d}", boundary="digit"
        )
    for imsi in identity.imsi:
        yield f("imsi", imsi, "imsi", imsi, boundary="digit")
        nibbles = ("9" if len(imsi) % 2 else "1") + imsi + ("" if len(imsi) % 2 else "F")
        swapped = _swap_nibbles(nibbles)  # EF_IMSI (3GPP TS 31.102 4.2.2): parity nibble, then BCD digits
        yield f("imsi", imsi, "imsi-ef", swapped, caseless=True, transform=False)
        yield Form("imsi", imsi, "imsi-bcd", bytes.fromhex(swapped)), False
    for iccid in identity.iccid:
        padded = iccid + "F" * (20 - len(iccid)) if len(iccid) < 20 else iccid
        yield f("iccid", iccid, "iccid", iccid, boundary="digit")
        grouped = " ".join(iccid[i : i + 4] for i in range(0, len(iccid), 4))
        yield f("iccid", iccid, "iccid-grouped", grouped, transform=False)  # as printed on the card
        if padded != iccid:
            yield f("iccid", iccid, "iccid-f", padded, caseless=True)
        yield f("iccid", iccid, "iccid-no-check", iccid[:-1], boundary="digit", transform=False)
        swapped = _swap_nibbles(padded if len(padded) % 2 == 0 else padded + "F")
        yield f("iccid", iccid, "iccid-swapped", swapped, caseless=True)  # EF_ICCID as read from the SIM
        yield Form("iccid", iccid, "iccid-bcd", bytes.fromhex(swapped)), False
    for number in identity.msisdn:
        yield from _msisdn_forms(number)
    for serial in identity.serial:
        if len(serial) >= 6:
            yield f("serial", serial, "serial", serial, boundary="alnum", caseless=True)
    for key in ("wifi_mac", "bt_mac", "bssid"):
        for mac in getattr(identity, key):
            pairs = [mac[i : i + 2] for i in range(0, 12, 2)]
            yield f(key, mac, "mac", mac, caseless=True)
            yield f(key, mac, "mac-colon", ":".join(pairs), caseless=True)
            yield f(key, mac, "mac-dash", "-".join(pairs), caseless=True)
            yield f(key, mac, "mac-dotted", f"{mac[:4]}.{mac[4:8]}.{mac[8:]}", caseless=True)
            yield f(key, mac, "mac-spaced", " ".join(pairs), caseless=True, transform=False)
            yield Form(key, mac, "mac-bytes", bytes.fromhex(mac)), False
            for case in (str.upper,):  # hashes are of the exact text: the other case is another base
                yield f(key, mac, "mac-upper", case(mac), transform=True)
                yield f(key, mac, "mac-colon-upper", case(":".join(pairs)), transform=True)
    for key in ("android_id", "gsf_id"):
        for hex_id in getattr(identity, key):
            value64 = int(hex_id, 16)
            yield f(key, hex_id, "hex", hex_id, caseless=True)
            if hex_id.lstrip("0") != hex_id and len(hex_id.lstrip("0")) >= 12:
                yield f(key, hex_id, "hex-unpadded", hex_id.lstrip("0"), boundary="hex", caseless=True)
            yield f(key, hex_id, "decimal", str(value64), boundary="digit")
            if value64 >= 2**63:
                yield f(key, hex_id, "decimal-signed", str(value64 - 2**64), boundary="digit")
            yield Form(key, hex_id, "varint", _varint(value64)), False  # protobuf, e.g. checkin android_id
            yield Form(key, hex_id, "fixed64", value64.to_bytes(8, "little")), False
            yield Form(key, hex_id, "uint64-be", value64.to_bytes(8, "big")), False
    for adid in identity.advertising_id:
        yield f("advertising_id", adid, "uuid", adid, caseless=True)
        yield f("advertising_id", adid, "uuid-hex", adid.replace("-", ""), caseless=True)
        yield Form("advertising_id", adid, "uuid-bytes", bytes.fromhex(adid.replace("-", ""))), False
    for ssid in identity.ssid:
        if len(ssid.encode()) >= 6:
            yield Form("ssid", ssid, "ssid", ssid.encode(), boundary="alnum"), True
    if identity.cell and identity.cell.cid is not None:
        cid = identity.cell.cid
        if cid >= 10**6:  # 7+ digits: specific enough to count anywhere
            yield f("cell", str(cid), "cid-decimal", str(cid), boundary="digit", transform=False)
        if cid >= 16**6:
            yield f("cell", str(cid), "cid-hex", f"{cid:x}", boundary="hex", caseless=True, transform=False)
            yield f(
                "cell", str(cid), "cid-hex8", f"{cid:08x}", boundary="hex", caseless=True, transform=False
            )


def _msisdn_forms(number: str) -> Iterator[tuple[Form, bool]]:
    def f(name: str, text: str, boundary: Boundary = "digit", transform: bool = True) -> tuple[Form, bool]:
        return Form("msisdn", number, name, text.encode(), boundary=boundary), transform

    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    digits = number.lstrip("+")
    yield f("e164", "+" + digits)
    yield f("e164-digits", digits)
    yield f("international-00", "00" + digits)
    if parsed is None:
        return
    national = str(parsed.national_number)
    formats = {
        "national": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        "international-spaced": phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
    }
    if len(national) >= 7:
        yield f("national-number", national)
    for name, text in formats.items():
        compact = re.sub(r"[^\d+]", "", text)
        if text != compact and len(compact.lstrip("+")) >= 7:
            yield f(name, text, transform=False)
        if compact.lstrip("+") != national and not compact.startswith("+") and len(compact) >= 7:
            yield f(name + "-compact", compact)  # with trunk prefix, e.g. UK 07911123456


def _swap_nibbles(hex_text: str) -> str:
    return "".join(hex_text[i + 1] + hex_text[i] for i in range(0, len(hex_text) - 1, 2))


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _transforms(base: Form) -> Iterator[Form]:
    """Hashes (hex of either case, base64), hex of the ASCII, URL encoding, and in-place base64."""
    text = base.pattern
    bases = [text]
    if base.caseless and text.lower() != text.upper():
        bases = [text.lower(), text.upper()]
    for variant in bases:
        label = f"{base.name}{'-upper' if variant is not text and variant == text.upper() else ''}"
        for algo in ("md5", "sha1", "sha256"):
            digest = hashlib.new(algo, variant).digest()
            yield Form(
                base.identifier, base.value, f"{algo}-hex({label})", digest.hex().encode(), caseless=True
            )
            yield Form(
                base.identifier, base.value, f"{algo}-base64({label})", base64.b64encode(digest).rstrip(b"=")
            )
            urlsafe = base64.urlsafe_b64encode(digest).rstrip(b"=")
            if urlsafe != base64.b64encode(digest).rstrip(b"="):
                yield Form(base.identifier, base.value, f"{algo}-base64url({label})", urlsafe)
    yield Form(base.identifier, base.value, f"hex-ascii({base.name})", text.hex().encode(), caseless=True)
    quoted = quote(text, safe="").encode()
    if quoted != text:
        yield Form(
            base.identifier, base.value, f"url({base.name})", quoted, caseless=True, boundary=base.boundary
        )
    if len(text) >= 9:
        for variant in _base64_inplace(text):
            yield Form(base.identifier, base.value, f"base64({base.name})", variant)


def _base64_inplace(text: bytes) -> Iterator[bytes]:
    """The base64 characters that ``text`` always turns into, at each of the 3 alignments it can sit at.

    A value inside a larger base64 blob that we did not decode (a decode limit,
    an odd framing) still shows as one of these runs.
    """
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + text)
        start = (shift * 4 + 2) // 3  # first output char that depends only on text
        usable = (shift + len(text)) // 3 * 4  # chars of complete 3-byte groups
        run = encoded[start:usable]
        if len(run) >= 12:
            yield run
            if run != run.replace(b"+", b"-").replace(b"/", b"_"):
                yield run.replace(b"+", b"-").replace(b"/", b"_")


def _keyed(identity: Identity) -> Iterator[KeyedValue]:
    def numeric(name: str, kind: str, number: int, hex_too: bool = True) -> KeyedValue:
        forms = {str(number)}
        if hex_too:
            forms |= {f"{number:x}", f"0x{number:x}", f"{number:08x}", f"{number:04x}"}
        return KeyedValue("cell", str(number), name, kind, frozenset(forms))

    cell = identity.cell
    if cell is not None:
        if cell.cid is not None:
            yield numeric("cid", "cell", cell.cid)
            if cell.cid > 0xFF:
                # Qualcomm's autoregistration client sends only the low 8 bits (self-registration-facts.md).
                yield numeric("cid-low8", "cell", cell.cid & 0xFF, hex_too=False)
                yield numeric("enb-id", "enb", cell.cid >> 8)
        for name in ("lac", "tac"):
            value = getattr(cell, name)
            if value is not None:
                yield numeric(name, "lac", value)
    for serial in identity.serial:
        yield KeyedValue("serial", serial, "serial", "serial", frozenset({serial.lower()}))
    for ssid in identity.ssid:
        yield KeyedValue("ssid", ssid, "ssid", "ssid", frozenset({ssid.lower()}))
    for number in identity.msisdn:
        digits = number.lstrip("+")
        candidates = {digits, "+" + digits, "00" + digits}
        try:
            parsed = phonenumbers.parse("+" + digits, None)
            candidates |= {str(parsed.national_number), "0" + str(parsed.national_number)}
        except phonenumbers.NumberParseException:
            pass
        yield KeyedValue("msisdn", number, "msisdn", "msisdn", frozenset(candidates))


def expand(identity: Identity) -> Expansion:
    """All forms of all identifiers, deduplicated (a value shared by two forms is matched once)."""
    forms: dict[tuple[bytes, bool, bool], Form] = {}
    for base, transform in _base_forms(identity):
        candidates = [base]
        if transform and len(base.pattern) >= HASH_MIN and not base.regex:
            candidates += list(_transforms(base))
        for form in candidates:
            forms.setdefault(
                (form.pattern.lower() if form.caseless else form.pattern, form.caseless, form.regex), form
            )
    coordinates = []
    if identity.location is not None:
        loc = identity.location
        coordinates = [Coordinate("lat", loc.lat, loc.tolerance), Coordinate("lon", loc.lon, loc.tolerance)]
    return Expansion(list(forms.values()), list(_keyed(identity)), coordinates)
