"""Binder Parcels as ``service call`` prints them, and the iphonesubinfo transactions per release.

``service call iphonesubinfo N`` prints the reply Parcel as a hexdump of
32-bit little-endian words next to its bytes (AOSP frameworks/native
cmds/service, libbinder Parcel::print): strings are UTF-16 with a length word
and a NUL, padded to four bytes. Real tools (and phonehome's device layer)
read identifiers out of that text, so it must be byte-exact. Transaction
numbers are the order of methods in IPhoneSubInfo.aidl, which changes between
releases; on Android 10+ the shell user gets a SecurityException Parcel.
"""

from __future__ import annotations

import struct

EX_SECURITY = -1
UNKNOWN_TRANSACTION = -74  # BAD_TYPE: 0xffffffb6, "Not a data message"

# The first methods of IPhoneSubInfo.aidl (transaction = position + 1), per SDK range.
_AIDL_26_29 = (
    "getDeviceId",
    "getNaiForSubscriber",
    "getDeviceIdForPhone",
    "getImeiForSubscriber",
    "getDeviceSvn",
    "getDeviceSvnUsingSubId",
    "getSubscriberId",
    "getSubscriberIdForSubscriber",
    "getGroupIdLevel1ForSubscriber",
    "getIccSerialNumber",
    "getIccSerialNumberForSubscriber",
    "getLine1Number",
    "getLine1NumberForSubscriber",
    "getLine1AlphaTag",
    "getLine1AlphaTagForSubscriber",
    "getMsisdn",
    "getMsisdnForSubscriber",
    "getVoiceMailNumber",
    "getVoiceMailNumberForSubscriber",
)
_AIDL_30_UP = (
    "getDeviceId",
    "getDeviceIdWithFeature",
    "getNaiForSubscriber",
    "getDeviceIdForPhone",
    "getImeiForSubscriber",
    "getDeviceSvn",
    "getDeviceSvnUsingSubId",
    "getSubscriberId",
    "getSubscriberIdWithFeature",
    "getSubscriberIdForSubscriber",
    "getGroupIdLevel1ForSubscriber",
    "getIccSerialNumber",
    "getIccSerialNumberWithFeature",
    "getIccSerialNumberForSubscriber",
    "getLine1Number",
    "getLine1NumberForSubscriber",
    "getLine1AlphaTag",
    "getLine1AlphaTagForSubscriber",
    "getMsisdn",
    "getMsisdnForSubscriber",
    "getVoiceMailNumber",
    "getVoiceMailNumberForSubscriber",
)
# Which identifier each method returns, and whether it takes a subscription/phone index first.
METHOD_FIELDS: dict[str, tuple[str, str]] = {
    "getDeviceId": ("imei", "default"),
    "getDeviceIdWithFeature": ("imei", "default"),
    "getDeviceIdForPhone": ("imei", "phone"),
    "getImeiForSubscriber": ("imei", "subscription"),
    "getNaiForSubscriber": ("nai", "subscription"),
    "getDeviceSvn": ("svn", "default"),
    "getDeviceSvnUsingSubId": ("svn", "subscription"),
    "getSubscriberId": ("imsi", "default"),
    "getSubscriberIdWithFeature": ("imsi", "default"),
    "getSubscriberIdForSubscriber": ("imsi", "subscription"),
    "getGroupIdLevel1ForSubscriber": ("gid1", "subscription"),
    "getIccSerialNumber": ("iccid", "default"),
    "getIccSerialNumberWithFeature": ("iccid", "default"),
    "getIccSerialNumberForSubscriber": ("iccid", "subscription"),
    "getLine1Number": ("msisdn", "default"),
    "getLine1NumberForSubscriber": ("msisdn", "subscription"),
    "getLine1AlphaTag": ("alpha", "default"),
    "getLine1AlphaTagForSubscriber": ("alpha", "subscription"),
    "getMsisdn": ("msisdn", "default"),
    "getMsisdnForSubscriber": ("msisdn", "subscription"),
    "getVoiceMailNumber": ("voicemail", "default"),
    "getVoiceMailNumberForSubscriber": ("voicemail", "subscription"),
}
# Identifiers that Android 10+ (TelephonyPermissions.checkReadDeviceIdentifiers) hides from the shell.
PROTECTED_FIELDS = frozenset({"imei", "imsi", "iccid", "nai"})


def iphonesubinfo_methods(sdk: int) -> tuple[str, ...]:
    """IPhoneSubInfo's methods in transaction order for API level ``sdk`` (26 and up)."""
    return _AIDL_30_UP if sdk >= 30 else _AIDL_26_29


def method_for(sdk: int, code: int) -> str | None:
    methods = iphonesubinfo_methods(sdk)
    return methods[code - 1] if 1 <= code <= len(methods) else None


def write_string16(value: str | None) -> bytes:
    """Parcel.writeString: length in UTF-16 units (-1 for null), UTF-16LE, NUL, pad to 4 bytes."""
    if value is None:
        return struct.pack("<i", -1)
    encoded = value.encode("utf-16-le")
    data = struct.pack("<i", len(encoded) // 2) + encoded + b"\0\0"
    return data + bytes(-len(data) % 4)


def string_reply(value: str | None) -> bytes:
    """A reply Parcel: no exception, then the string."""
    return struct.pack("<i", 0) + write_string16(value)


def exception_reply(code: int, message: str) -> bytes:
    """Parcel.writeException: code, message, then an empty remote stack trace header (API 30+ form)."""
    return struct.pack("<i", code) + write_string16(message) + struct.pack("<i", 0)


def format_parcel(data: bytes) -> str:
    """``Result: Parcel(...)`` as ``service call`` prints it."""
    if len(data) <= 16:
        words, text = _hex_line(data)
        return f"Result: Parcel({words}   '{text}')"
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        words, text = _hex_line(chunk)
        missing = (16 - len(chunk) + 3) // 4
        words += " " * (9 * missing)
        lines.append(f"  0x{offset:08x}: {words} '{text.ljust(16)}'")
    return "Result: Parcel(\n" + "\n".join(lines) + ")"


def format_error(status: int, message: str) -> str:
    return f'Result: Parcel(Error: 0x{status & 0xFFFFFFFF:08x} "{message}")'


def _hex_line(chunk: bytes) -> tuple[str, str]:
    padded = chunk + bytes(-len(chunk) % 4)
    words = " ".join(f"{w:08x}" for w in struct.unpack(f"<{len(padded) // 4}I", padded))
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
    return words, text


def parse_parcel_text(text: str) -> bytes:
    """The bytes of a printed Parcel (the inverse of `format_parcel`, for tests and tools)."""
    body = text.split("Parcel(", 1)[1]
    words: list[int] = []
    for raw_line in body.splitlines() or [body]:
        line = raw_line.split(":", 1)[1] if raw_line.strip().startswith("0x") else raw_line
        hex_part = line.split("'", 1)[0]
        words.extend(int(w, 16) for w in hex_part.split())
    return struct.pack(f"<{len(words)}I", *words)
