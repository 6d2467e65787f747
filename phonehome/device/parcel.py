"""``service call iphonesubinfo``: which transaction to call per Android release, and its reply Parcel.

``service call`` (AOSP frameworks/native/cmds/service) prints the reply
Parcel through libbinder's ``Parcel::print``: ``Result: Parcel(`` then a
hexdump of little-endian 32-bit words (one line when short, else lines of
``0xOFFSET: w w w w 'text'``), ``NULL`` for an empty reply, or ``Error: 0x..``.
A reply is the exception code (0: none; -128: a reply header follows), then
``Parcel.writeString``: a length in UTF-16 units (-1: null), UTF-16LE, NUL,
padding to 4 bytes. On Android 10+ the shell user gets a SecurityException
(code -1 and its message) for device identifiers.

Transaction numbers are the 1-based order of methods in IPhoneSubInfo.aidl,
which changed between releases and which OEMs extend, so a value read here is
always checked for its form before it is believed (`phonehome.device.identity`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

EX_SECURITY = -1
EX_HAS_REPLY_HEADER = -128
MAX_STRING_UNITS = 4096  # longer than any identifier; bounds a hostile or garbled length word
_WORD = re.compile(r"^[0-9a-fA-F]{8}$")
SHELL_PACKAGE = "com.android.shell"

EXCEPTIONS = {
    -1: "SecurityException",
    -2: "BadParcelableException",
    -3: "IllegalArgumentException",
    -4: "NullPointerException",
    -5: "IllegalStateException",
    -6: "NetworkOnMainThreadException",
    -7: "UnsupportedOperationException",
    -8: "ServiceSpecificException",
    -9: "ParcelableException",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """A decoded reply: a string (None for null/empty), or an exception, or a transport error."""

    value: str | None = None
    exception: str | None = None  # "SecurityException: getDeviceId: The user 2000 does not meet ..."
    error: str | None = None  # "Error: 0xffffffb6" (no such transaction), unparseable text...

    @property
    def denied(self) -> bool:
        return self.exception is not None and self.exception.startswith("SecurityException")


def parcel_bytes(text: str) -> bytes | None:
    """The bytes of a printed Parcel; None when the text holds no hexdump (NULL, Error, junk)."""
    if "Parcel(" not in text:
        return None
    body = text.split("Parcel(", 1)[1]
    words: list[int] = []
    for raw_line in body.splitlines():
        line = raw_line.strip()
        if re.match(r"^0x[0-9a-fA-F]+:", line):
            line = line.split(":", 1)[1]
        for token in line.split():
            if token.startswith("'") or not _WORD.match(token):
                break
            words.append(int(token, 16))
    if not words:
        return None
    return struct.pack(f"<{len(words)}I", *words)


def _read_string16(data: bytes, offset: int) -> tuple[str | None, int]:
    if offset + 4 > len(data):
        return None, offset
    (units,) = struct.unpack_from("<i", data, offset)
    offset += 4
    if units < 0:
        return None, offset
    if units > MAX_STRING_UNITS or offset + units * 2 > len(data):
        raise ValueError(f"string of {units} UTF-16 units does not fit the {len(data)}-byte parcel")
    text = data[offset : offset + units * 2].decode("utf-16-le", errors="replace")
    return text, offset + ((units + 1) * 2 + 3) // 4 * 4


def decode_reply(text: str) -> Reply:
    """The result of one ``service call ... `` print (never raises: device output is untrusted)."""
    stripped = text.strip()
    match = re.search(r"Parcel\(\s*Error: (0x[0-9a-fA-F]+)[^)]*\)", stripped)
    if match:
        return Reply(error=f"Error: {match.group(1)}")
    if re.search(r"Parcel\(\s*NULL\s*\)", stripped):
        return Reply(error="empty reply (NULL)")
    data = parcel_bytes(stripped)
    if data is None:
        return Reply(error=f"not a Parcel: {stripped[:120]!r}")
    try:
        (code,) = struct.unpack_from("<i", data, 0)
        offset = 4
        if code == EX_HAS_REPLY_HEADER:  # Parcel.readExceptionCode: a header to skip, then no exception
            if len(data) < 8:
                return Reply(error="truncated reply header")
            (size,) = struct.unpack_from("<i", data, 4)
            offset = 8 + max(size, 0)
            code = 0
        if code != 0:
            message, _ = _read_string16(data, offset)
            name = EXCEPTIONS.get(code, f"exception {code}")
            return Reply(exception=f"{name}: {message}" if message else name)
        value, _ = _read_string16(data, offset)
        return Reply(value=value or None)
    except (ValueError, struct.error) as exc:
        return Reply(error=f"garbled Parcel: {exc}")


# IPhoneSubInfo.aidl method order per release (transaction = index + 1). Sources: AOSP
# frameworks/base telephony/java/com/android/internal/telephony/IPhoneSubInfo.aidl at each release.
_API_14_17 = ("getDeviceId", "getDeviceSvn", "getSubscriberId", "getIccSerialNumber", "getLine1Number")
_API_18_20 = ("getDeviceId", "getDeviceSvn", "getSubscriberId", "getGroupIdLevel1", "getIccSerialNumber",
              "getLine1Number")  # fmt: skip
_API_21 = ("getDeviceId", "getDeviceIdForSubscriber", "getImeiForSubscriber", "getDeviceSvn",
           "getSubscriberId", "getSubscriberIdForSubscriber", "getGroupIdLevel1",
           "getGroupIdLevel1ForSubscriber", "getIccSerialNumber", "getIccSerialNumberForSubscriber",
           "getLine1Number", "getLine1NumberForSubscriber")  # fmt: skip
_API_22_25 = ("getDeviceId", "getNaiForSubscriber", "getDeviceIdForPhone", "getImeiForSubscriber",
              "getDeviceSvn", "getDeviceSvnUsingSubId", "getSubscriberId", "getSubscriberIdForSubscriber",
              "getGroupIdLevel1", "getGroupIdLevel1ForSubscriber", "getIccSerialNumber",
              "getIccSerialNumberForSubscriber", "getLine1Number", "getLine1NumberForSubscriber")  # fmt: skip
_API_26_29 = ("getDeviceId", "getNaiForSubscriber", "getDeviceIdForPhone", "getImeiForSubscriber",
              "getDeviceSvn", "getDeviceSvnUsingSubId", "getSubscriberId", "getSubscriberIdForSubscriber",
              "getGroupIdLevel1ForSubscriber", "getIccSerialNumber", "getIccSerialNumberForSubscriber",
              "getLine1Number", "getLine1NumberForSubscriber")  # fmt: skip
_API_30_35 = ("getDeviceId", "getDeviceIdWithFeature", "getNaiForSubscriber", "getDeviceIdForPhone",
              "getImeiForSubscriber", "getDeviceSvn", "getDeviceSvnUsingSubId", "getSubscriberId",
              "getSubscriberIdWithFeature", "getSubscriberIdForSubscriber", "getGroupIdLevel1ForSubscriber",
              "getIccSerialNumber", "getIccSerialNumberWithFeature", "getIccSerialNumberForSubscriber",
              "getLine1Number", "getLine1NumberForSubscriber")  # fmt: skip
_API_36_UP = ("getDeviceId", "getDeviceIdWithFeature", "getNaiForSubscriber", "getDeviceIdForPhone",
              "getImeiForSubscriber", "getDeviceSvn", "getDeviceSvnUsingSubId", "getSubscriberId",
              "getSubscriberIdWithFeature", "getSubscriberIdForSubscriber", "getGroupIdLevel1ForSubscriber",
              "getGroupIdLevel2ForSubscriber", "getIccSerialNumber", "getIccSerialNumberWithFeature",
              "getIccSerialNumberForSubscriber", "getLine1Number", "getLine1NumberForSubscriber")  # fmt: skip


def methods_for(sdk: int) -> tuple[str, ...]:
    """IPhoneSubInfo methods in transaction order for API level ``sdk`` (0: unknown -> the oldest)."""
    for low, table in ((36, _API_36_UP), (30, _API_30_35), (26, _API_26_29), (22, _API_22_25),
                       (21, _API_21), (18, _API_18_20)):  # fmt: skip
        if sdk >= low:
            return table
    return _API_14_17


def transaction(sdk: int, method: str) -> int | None:
    methods = methods_for(sdk)
    return methods.index(method) + 1 if method in methods else None


@dataclass(frozen=True, slots=True)
class Call:
    """One ``service call iphonesubinfo`` to make: what it reads, for which slot or subscription."""

    field: str  # imei, svn, imsi, iccid, msisdn
    method: str
    argv: tuple[str, ...]
    slot: int | None = None

    @property
    def label(self) -> str:
        return " ".join(self.argv)


def _call(sdk: int, field: str, method: str, index: int | None) -> Call | None:
    code = transaction(sdk, method)
    if code is None:
        return None
    args: list[str] = []
    if index is not None:
        args += ["i64" if sdk == 21 else "i32", str(index)]  # Android 5.0 took long subIds
    if sdk >= 23:  # Android 6 added the calling package (AppOps checks it against the caller's uid)
        args += ["s16", SHELL_PACKAGE]
    return Call(field, method, ("service", "call", "iphonesubinfo", str(code), *args), index)


def plan(sdk: int, slots: int) -> list[Call]:
    """The calls that read IMEI per slot, the SVN, and IMSI/ICCID/MSISDN of the default and each SIM.

    Subscription ids are not slot numbers (they grow with every SIM ever
    inserted); 1..slots covers a handset's first SIMs and the default-SIM
    calls cover the one in use. Extra arguments are left out (read as null),
    since Android 13+ rejects a Parcel with unread data.
    """
    calls: list[Call | None] = []
    if transaction(sdk, "getDeviceIdForPhone"):
        calls += [_call(sdk, "imei", "getDeviceIdForPhone", slot) for slot in range(slots)]
    else:
        calls.append(_call(sdk, "imei", "getDeviceId", None))
    calls.append(_call(sdk, "svn", "getDeviceSvn", None))
    for field, default, per_sub in (
        ("imsi", "getSubscriberId", "getSubscriberIdForSubscriber"),
        ("iccid", "getIccSerialNumber", "getIccSerialNumberForSubscriber"),
        ("msisdn", "getLine1Number", "getLine1NumberForSubscriber"),
    ):
        calls.append(_call(sdk, field, default, None))
        if transaction(sdk, per_sub) and slots > 1:
            calls += [_call(sdk, field, per_sub, sub) for sub in range(1, slots + 1)]
    return [c for c in calls if c is not None]
