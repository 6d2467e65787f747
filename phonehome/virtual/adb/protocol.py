"""The ADB transport's messages (AOSP adb/protocol.txt): a 24-byte header and a payload.

Pure: no I/O, so the framing is tested with byte strings and fuzzed. Both sides
of a connection speak it; the virtual handset is the device side.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

COMMAND_NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_STLS: "STLS",
}

A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001  # from this version on, data_check is 0 and not verified
MAX_PAYLOAD_V1 = 4096  # CNXN and AUTH payloads must fit this before the sizes are agreed
MAX_PAYLOAD = 1024 * 1024

# AUTH arg0
AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
TOKEN_SIZE = 20

HEADER = struct.Struct("<6I")


class ProtocolError(ValueError):
    """Bytes that are not an ADB message; the connection cannot continue."""


@dataclass(frozen=True, slots=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")

    def __repr__(self) -> str:
        shown = self.data[:40]
        more = "..." if len(self.data) > 40 else ""
        return f"Message({self.name}, {self.arg0:#x}, {self.arg1:#x}, {shown!r}{more})"


def checksum(data: bytes) -> int:
    """The byte sum adb used before A_VERSION_SKIP_CHECKSUM."""
    return sum(data) & 0xFFFFFFFF


def encode(msg: Message, with_checksum: bool = False) -> bytes:
    check = checksum(msg.data) if with_checksum else 0
    header = HEADER.pack(msg.command, msg.arg0, msg.arg1, len(msg.data), check, msg.command ^ 0xFFFFFFFF)
    return header + msg.data


class MessageReader:
    """Incremental decoder: feed bytes as they arrive, take whole messages out.

    Bounded: a header announcing more than ``max_payload`` bytes is an error, so
    hostile input cannot make it buffer without limit.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            command, arg0, arg1, length, _check, magic = HEADER.unpack_from(self._buf)
            if magic != command ^ 0xFFFFFFFF:
                raise ProtocolError(f"bad magic {magic:#010x} for command {command:#010x}")
            if command not in COMMAND_NAMES:
                raise ProtocolError(f"unknown command {command:#010x}")
            if length > self.max_payload:
                raise ProtocolError(f"payload of {length} bytes exceeds the maximum {self.max_payload}")
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            out.append(Message(command, arg0, arg1, bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def parse_banner(payload: bytes) -> tuple[str, dict[str, str]]:
    """``"host::features=a,b"`` -> ("host", {"features": "a,b"}); tolerant of a trailing NUL."""
    text = payload.rstrip(b"\0").decode("utf-8", "replace")
    state, _, rest = text.partition(":")
    _, _, props = rest.partition(":")
    fields = {}
    for item in props.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            fields[key] = value
    return state, fields
