"""The fastboot protocol over TCP, device side, as a playbook: bytes in, bytes out, no I/O.

AOSP ``fastboot/README.md``: over TCP the host first sends the 4-byte
handshake ``FB01`` and the device answers with its own (``FB`` + a two-digit
version); every packet after that carries an 8-byte big-endian length. The
host sends one command per packet (``getvar:product``, ``download:0000a000``,
``flash:system``...); the device answers ``INFO`` lines, then ``OKAY``,
``FAIL`` or ``DATA`` + 8 hex digits (ready to receive that many bytes), each
followed by text. `FastbootConnection` keeps one connection's state;
`Device` is what answers the commands (the virtual handset's bootloader).
The host is hostile input too: sizes are bounded and a malformed packet ends
the connection, never the handset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

HANDSHAKE = b"FB01"
"""What this device answers to the host's handshake (protocol version 1)."""
HEADER = struct.Struct(">Q")
MAX_COMMAND = 4096
"""The longest command packet (AOSP: 64 bytes over USB; the TCP transport allows more)."""
MAX_REPLY_TEXT = 252
"""A reply is at most 256 bytes: a 4-byte status and its text."""
DEFAULT_MAX_DOWNLOAD = 64 * 1024 * 1024


class FastbootFailure(Exception):
    """A command the device refuses: its text is the ``FAIL`` reply (``remote: '...'`` on the host)."""


class ProtocolError(ValueError):
    """Bytes that are not fastboot over TCP; the connection ends."""


@dataclass(frozen=True, slots=True)
class Reboot:
    """What the device does once its ``OKAY`` to a reboot command is sent."""

    target: str
    """``system``, ``bootloader`` or ``recovery``."""


class Device(Protocol):
    """The bootloader side: answers variables, erases, flashes and reboots."""

    def getvar(self, name: str) -> str:
        """The variable's value; `FastbootFailure` for one it does not know."""
        ...

    def variables(self) -> dict[str, str]:
        """Every variable, for ``getvar:all``."""
        ...

    def erase(self, partition: str) -> None: ...

    def flash(self, partition: str, image: bytes) -> None: ...

    def oem(self, command: str) -> list[str]:
        """``oem COMMAND``: the INFO lines it prints (`FastbootFailure` for an unknown one)."""
        ...


def frame(payload: bytes) -> bytes:
    """One TCP packet: the 8-byte big-endian length, then the payload."""
    return HEADER.pack(len(payload)) + payload


def reply(status: bytes, text: str = "") -> bytes:
    """``OKAY``/``FAIL``/``INFO`` + text (ASCII, cut to fit 256 bytes), framed."""
    data = text.encode("ascii", "replace")[:MAX_REPLY_TEXT]
    return frame(status + data)


@dataclass
class FastbootConnection:
    """One host connection: `receive` takes what arrived, returns what to send back."""

    device: Device
    max_download: int = DEFAULT_MAX_DOWNLOAD
    on_command: Callable[[str], None] = lambda command: None
    """Told every command the host sent (the handset's log)."""
    closed: bool = False
    """The connection must end (a protocol error, or a reboot was answered)."""
    reboot: Reboot | None = None
    """Set when a reboot was answered: the device does it once the reply is sent."""
    _buffer: bytearray = field(default_factory=bytearray)
    _shaken: bool = False
    _expect: int | None = None
    """The payload length of the packet being received (None: a header is next)."""
    _download: bytearray | None = None
    _download_size: int = 0
    _data: bytes = b""
    """The last download, which ``flash`` writes."""

    def receive(self, data: bytes) -> bytes:
        """Bytes from the host -> bytes to send to it. After `closed`, nothing more is read."""
        if self.closed:
            return b""
        self._buffer += data
        out = bytearray()
        try:
            if not self._shaken:
                if len(self._buffer) < len(HANDSHAKE):
                    return b""
                hello, self._buffer = bytes(self._buffer[:4]), self._buffer[4:]
                if hello[:2] != b"FB" or not hello[2:].isdigit():
                    raise ProtocolError(f"not a fastboot handshake: {hello!r}")
                self._shaken = True
                out += HANDSHAKE
            while not self.closed:
                packet = self._packet()
                if packet is None:
                    break
                out += self._handle(packet)
        except ProtocolError:
            self.closed = True
        return bytes(out)

    def _packet(self) -> bytes | None:
        if self._expect is None:
            if len(self._buffer) < HEADER.size:
                return None
            (length,) = HEADER.unpack_from(self._buffer)
            limit = self._download_size - len(self._download) if self._download is not None else MAX_COMMAND
            if length > limit:
                raise ProtocolError(f"a packet of {length} bytes where at most {limit} may come")
            del self._buffer[: HEADER.size]
            self._expect = int(length)
        if len(self._buffer) < self._expect:
            return None
        packet = bytes(self._buffer[: self._expect])
        del self._buffer[: self._expect]
        self._expect = None
        return packet

    def _handle(self, packet: bytes) -> bytes:
        if self._download is not None:
            self._download += packet
            if len(self._download) < self._download_size:
                return b""
            self._data, self._download = bytes(self._download), None
            return reply(b"OKAY")
        try:
            command = packet.decode("ascii")
        except UnicodeDecodeError:
            return reply(b"FAIL", "command is not ASCII")
        self.on_command(command)
        try:
            return self._command(command)
        except FastbootFailure as exc:
            return reply(b"FAIL", str(exc))

    def _command(self, command: str) -> bytes:
        name, _, arg = command.partition(":")
        if name == "getvar":
            if arg == "all":
                lines = [reply(b"INFO", f"{k}: {v}") for k, v in sorted(self.device.variables().items())]
                return b"".join(lines) + reply(b"OKAY")
            return reply(b"OKAY", self.device.getvar(arg))
        if name == "download":
            return self._start_download(arg)
        if name == "flash":
            self.device.flash(arg, self._data)
            return reply(b"OKAY")
        if name == "erase":
            self.device.erase(arg)
            return reply(b"OKAY")
        if command.startswith("oem "):
            lines = [reply(b"INFO", line) for line in self.device.oem(command[4:].strip())]
            return b"".join(lines) + reply(b"OKAY")
        target = {
            "reboot": "system",
            "continue": "system",
            "reboot-bootloader": "bootloader",
            "reboot-recovery": "recovery",
        }.get(command)
        if command.startswith("reboot:"):
            target = {"bootloader": "bootloader", "recovery": "recovery", "": "system"}.get(arg)
        if target is None:
            raise FastbootFailure(f"unknown command {command[:64]}")
        self.reboot = Reboot(target)
        self.closed = True
        return reply(b"OKAY")

    def _start_download(self, arg: str) -> bytes:
        if len(arg) != 8:
            raise FastbootFailure("download: expects 8 hex digits")
        try:
            size = int(arg, 16)
        except ValueError:
            raise FastbootFailure("download: expects 8 hex digits") from None
        if size > self.max_download:
            raise FastbootFailure(f"data too large ({size} > {self.max_download} bytes)")
        if size == 0:
            self._data = b""
            return reply(b"OKAY")
        self._download, self._download_size = bytearray(), size
        return frame(f"DATA{size:08x}".encode())
