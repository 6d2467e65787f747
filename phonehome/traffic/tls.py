"""The first TLS handshake message of each direction (RFC 8446, RFC 5246): ClientHello and ServerHello.

The ClientHello is the one cleartext part of a TLS connection that names the
server (SNI) and shows what the client offers; the ServerHello tells the
version chosen. :class:`HandshakeReader` reads records from a reassembled TCP
stream, reassembles the first handshake message across records and segments,
and decides NOT_TLS from the first bytes so other streams cost nothing.
Hand-written: libraries that parse handshakes (cryptography, dpkt) either do
not expose a ClientHello or raise on the damaged and fuzzed ones captures hold.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass
from typing import Final

from phonehome.traffic.flow import TlsHello

HANDSHAKE: Final = 22
CLIENT_HELLO: Final = 1
SERVER_HELLO: Final = 2
EXT_SERVER_NAME: Final = 0
EXT_SUPPORTED_GROUPS: Final = 10
EXT_SIGNATURE_ALGORITHMS: Final = 13
EXT_ALPN: Final = 16
EXT_ENCRYPT_THEN_MAC: Final = 22
EXT_SUPPORTED_VERSIONS: Final = 43
EXT_KEY_SHARE: Final = 51
EXT_ECH: Final = 0xFE0D
HIDDEN_SNI_EXTENSIONS: Final = frozenset({EXT_ECH, *range(0xFE08, 0xFE0D), 0xFFCE})
"""ECH (RFC 9849, 0xfe0d), its drafts 8-12 (0xfe08-0xfe0c) and the older ESNI (0xffce):
each means the SNI in clear may be a decoy and the real name is encrypted."""

HRR_RANDOM: Final = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
"""The ServerHello.random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 4.1.3)."""

HANDSHAKE_LIMIT: Final = 256 << 10
"""Largest first handshake message reassembled (post-quantum ClientHellos reach ~10 KB)."""
_RECORD_MAX: Final = (1 << 14) + 2048
_HEADER: Final = struct.Struct("!BHH")


class ReadState(enum.Enum):
    NEED_MORE = "need-more"
    DONE = "done"
    NOT_TLS = "not-tls"


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a ... 0xfafa): noise a client adds, never a real offer."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class HandshakeReader:
    """Reads one direction of a TCP stream up to its first complete handshake message.

    Client side: ``hello`` is the parsed ClientHello (None if it could not be
    parsed); server side: ``server_version`` is the version the ServerHello
    selected. ``consumed`` counts the stream bytes of the records read, so the
    caller knows which bytes were handshake (for instance to scan them).
    """

    def __init__(self, from_client: bool, limit: int = HANDSHAKE_LIMIT) -> None:
        self.from_client = from_client
        self.limit = limit
        self.state = ReadState.NEED_MORE
        self.hello: TlsHello | None = None
        self.server_version: int | None = None
        self.consumed = 0
        self.proxy_header = 0
        """Bytes of a PROXY protocol header (haproxy) skipped before the client's first record."""
        self.error: str | None = None
        """Why a TLS stream's handshake could not be read (DONE without a hello), for diagnostics."""
        self._buf = bytearray()
        self._message = bytearray()

    def feed(self, data: bytes) -> ReadState:
        """Adds in-order stream bytes; returns the state (DONE and NOT_TLS are final)."""
        if self.state is not ReadState.NEED_MORE:
            return self.state
        fresh = not self._buf and not self.consumed
        if (
            fresh
            and not (self.from_client and data[:1] in (b"P", b"\r"))
            and not self._plausible_start(data[:6])
        ):
            return self._finish(ReadState.NOT_TLS)  # decided before copying anything
        buf = self._buf
        buf += data
        if self.from_client and not self.consumed and buf and buf[0] in (0x50, 0x0D):
            skipped = _proxy_header(buf)
            if skipped is None:
                return ReadState.NEED_MORE
            if skipped:
                del buf[:skipped]
                self.consumed = self.proxy_header = skipped
        if self.consumed == self.proxy_header and not self._message and not self._plausible_start(buf[:6]):
            return self._finish(ReadState.NOT_TLS)
        if self.from_client and self.consumed == self.proxy_header and buf and buf[0] & 0x80:
            return self._sslv2()
        pos = 0
        while len(buf) - pos >= 5:
            ctype: int
            version: int
            length: int
            ctype, version, length = _HEADER.unpack_from(buf, pos)
            if version >> 8 != 3 or length > _RECORD_MAX:
                first = self.consumed == self.proxy_header
                return self._finish(ReadState.NOT_TLS if first else ReadState.DONE, "bad record")
            if ctype != HANDSHAKE:
                return self._finish(ReadState.DONE, f"record type {ctype} before the first handshake message")
            end = pos + 5 + length
            if len(buf) < end:
                break
            self._message += buf[pos + 5 : end]
            pos = end
            self.consumed += 5 + length
            state = self._try_message()
            if state is not ReadState.NEED_MORE:
                return state
        del buf[:pos]
        return ReadState.NEED_MORE

    def _plausible_start(self, buf: bytes | bytearray) -> bool:
        """``buf``, the stream's first bytes, can begin the expected handshake (decided from 1 to 6 bytes)."""
        if not buf:
            return True
        if self.from_client and buf[0] & 0x80:
            if len(buf) >= 3 and buf[2] != CLIENT_HELLO:
                return False
            return len(buf) < 5 or (buf[3], buf[4]) == (0, 2) or (buf[3] == 3 and buf[4] <= 4)
        if buf[0] != HANDSHAKE:
            return False
        if (len(buf) >= 2 and buf[1] != 3) or (len(buf) >= 3 and buf[2] > 4):
            return False
        return len(buf) < 6 or buf[5] == (CLIENT_HELLO if self.from_client else SERVER_HELLO)

    def _try_message(self) -> ReadState:
        message = self._message
        if len(message) < 4:
            return ReadState.NEED_MORE
        length = int.from_bytes(message[1:4], "big")
        if length > self.limit:
            return self._finish(
                ReadState.DONE, f"first handshake message of {length} bytes is over the limit"
            )
        if len(message) < 4 + length:
            return ReadState.NEED_MORE
        body = bytes(message[4 : 4 + length])
        if message[0] == CLIENT_HELLO and self.from_client:
            self.hello = parse_client_hello(body)
        elif message[0] == SERVER_HELLO and not self.from_client:
            self.server_version = parse_server_hello(body)
        return self._finish(ReadState.DONE, None if self.hello or self.server_version else "unparsable hello")

    def _sslv2(self) -> ReadState:
        """SSL 2.0-compatible ClientHello (RFC 5246 appendix E.2), still sent by some old stacks."""
        buf = self._buf
        if len(buf) < 2:
            return ReadState.NEED_MORE
        length = ((buf[0] & 0x7F) << 8) | buf[1]
        if len(buf) < 2 + length:
            return ReadState.NEED_MORE
        self.consumed += 2 + length
        self.hello = parse_sslv2_hello(bytes(buf[2 : 2 + length]))
        return self._finish(ReadState.DONE, None if self.hello else "bad SSLv2 hello")

    def _finish(self, state: ReadState, error: str | None = None) -> ReadState:
        self.state = state
        self.error = error if state is ReadState.DONE else None
        self._buf = bytearray()
        self._message = bytearray()
        return state


_PROXY_V1_START: Final = b"PROXY "
_PROXY_V2: Final = b"\r\n\r\n\x00\r\nQUIT\n"


def _proxy_header(buf: bytearray) -> int | None:
    """Length of a PROXY protocol v1/v2 header starting ``buf`` (0: none; None: cannot tell yet).

    A load balancer may prefix the client's stream with it (haproxy.org proxy-protocol.txt).
    """
    if buf[:1] == b"P":
        if len(buf) < 6:
            return None if _PROXY_V1_START.startswith(bytes(buf)) else 0
        if buf[:6] != _PROXY_V1_START:
            return 0
        end = buf.find(b"\r\n", 0, 108)
        if end < 0:
            return None if len(buf) < 108 else 0
        return end + 2
    if len(buf) < 16:
        return None if _PROXY_V2.startswith(bytes(buf[:12])) else 0
    if buf[:12] != _PROXY_V2:
        return 0
    return 16 + ((buf[14] << 8) | buf[15])


def parse_client_hello(body: bytes) -> TlsHello | None:
    """The ClientHello handshake body (after the 4-byte handshake header); None if too short.

    A body cut inside its extensions still gives what precedes the cut.
    """
    n = len(body)
    if n < 35:
        return None
    hello = TlsHello(sni=None, legacy_version=(body[0] << 8) | body[1])
    pos = 35 + body[34]
    if pos + 2 > n:
        return hello
    suites_len = (body[pos] << 8) | body[pos + 1]
    suites = body[pos + 2 : pos + 2 + suites_len]
    count = len(suites) // 2
    hello.cipher_suites = [s for s in struct.unpack_from(f"!{count}H", suites) if not is_grease(s)]
    pos += 2 + suites_len
    if pos >= n:
        return hello
    pos += 1 + body[pos]
    if pos + 2 > n:
        return hello
    end = min(n, pos + 2 + ((body[pos] << 8) | body[pos + 1]))
    pos += 2
    while pos + 4 <= end:
        ext_type = (body[pos] << 8) | body[pos + 1]
        ext_len = (body[pos + 2] << 8) | body[pos + 3]
        data = body[pos + 4 : min(end, pos + 4 + ext_len)]
        pos += 4 + ext_len
        if ext_type == EXT_SERVER_NAME:
            hello.sni = _server_name(data)
        elif ext_type == EXT_ALPN:
            hello.alpn = [proto.decode("ascii", "replace") for proto in _vector_items(data[2:], 1)]
        elif ext_type == EXT_SUPPORTED_VERSIONS and data:
            listed = data[1 : 1 + data[0]]
            versions = struct.unpack_from(f"!{len(listed) // 2}H", listed)
            hello.versions = [v for v in versions if not is_grease(v)]
        elif ext_type in HIDDEN_SNI_EXTENSIONS:
            hello.ech = True
    return hello


def parse_sslv2_hello(body: bytes) -> TlsHello | None:
    """An SSL 2.0-compatible ClientHello record body (RFC 5246 E.2); None if it is not one."""
    if len(body) < 9 or body[0] != CLIENT_HELLO:
        return None
    version, specs_len, _sid_len, _challenge_len = struct.unpack_from("!HHHH", body, 1)
    specs = body[9 : 9 + specs_len]
    suites = [
        (specs[i + 1] << 8) | specs[i + 2]
        for i in range(0, len(specs) - 2, 3)
        if specs[i] == 0 and not is_grease((specs[i + 1] << 8) | specs[i + 2])
    ]
    return TlsHello(sni=None, legacy_version=version, cipher_suites=suites)


def _vector_items(data: bytes, size_len: int) -> list[bytes]:
    """Items of a TLS vector of length-prefixed items (prefix of ``size_len`` bytes)."""
    items = []
    pos = 0
    while pos + size_len <= len(data):
        length = int.from_bytes(data[pos : pos + size_len], "big")
        items.append(data[pos + size_len : pos + size_len + length])
        pos += size_len + length
    return items


def _server_name(data: bytes) -> str | None:
    """The host_name entry of a server_name extension (RFC 6066 3), lower case, without trailing dot.

    Rendered as tshark 4.0 shows it (ASCII; each byte over 0x7f becomes U+FFFD), so that names
    compare with Wireshark's; names are ASCII by RFC 6066 (IDNs travel as A-labels).
    """
    pos = 2
    while pos + 3 <= len(data):
        name_type = data[pos]
        length = (data[pos + 1] << 8) | data[pos + 2]
        if name_type == 0:
            name = data[pos + 3 : pos + 3 + length].decode("ascii", "replace").lower().rstrip(".")
            return name or None
        pos += 3 + length
    return None


def parse_server_hello(body: bytes) -> int | None:
    """The version a ServerHello body selected: supported_versions when present, else legacy_version."""
    hello = parse_server_hello_message(body)
    return hello.version if hello is not None else None


@dataclass(slots=True, init=False)
class ServerHello:
    """What decryption needs from a ServerHello (RFC 8446 4.1.3, RFC 5246 7.4.1.3)."""

    version: int
    """The version selected: supported_versions when present, else legacy_version."""
    random: bytes
    """The 32-byte server random (with a HelloRetryRequest: the fixed ``HRR_RANDOM``)."""
    cipher_suite: int | None
    """The suite selected; None when the body ends before it."""
    encrypt_then_mac: bool = False
    """The encrypt_then_mac extension (RFC 7366) was echoed: CBC records carry their MAC last."""

    # Written out, not generated by the dataclass (nor frozen, which a written-out __init__ cannot
    # be when interpreted): see phonehome.traffic._compiled.
    def __init__(
        self, version: int, random: bytes, cipher_suite: int | None, encrypt_then_mac: bool = False
    ) -> None:
        self.version = version
        self.random = random
        self.cipher_suite = cipher_suite
        self.encrypt_then_mac = encrypt_then_mac

    @property
    def retry(self) -> bool:
        """A HelloRetryRequest: the client sends a second ClientHello, and a real ServerHello follows."""
        return self.random == HRR_RANDOM


def parse_server_hello_message(body: bytes) -> ServerHello | None:
    """A ServerHello body (after the 4-byte handshake header); None if too short for its random."""
    n = len(body)
    if n < 35:
        return None
    version = (body[0] << 8) | body[1]
    random = bytes(body[2:34])
    pos = 35 + body[34]
    suite = (body[pos] << 8) | body[pos + 1] if pos + 2 <= n else None
    pos += 3
    etm = False
    if pos + 2 > n:
        return ServerHello(version, random, suite)
    end = min(n, pos + 2 + ((body[pos] << 8) | body[pos + 1]))
    pos += 2
    selected = None
    while pos + 4 <= end:
        ext_type = (body[pos] << 8) | body[pos + 1]
        ext_len = (body[pos + 2] << 8) | body[pos + 3]
        if ext_type == EXT_SUPPORTED_VERSIONS and ext_len == 2 and pos + 6 <= end and selected is None:
            selected = (body[pos + 4] << 8) | body[pos + 5]
        elif ext_type == EXT_ENCRYPT_THEN_MAC:
            etm = True
        pos += 4 + ext_len
    return ServerHello(selected if selected is not None else version, random, suite, etm)


# -- builders (tests and benchmarks) ---------------------------------------------------------------------

DEFAULT_SUITES: Final = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def _vec(data: bytes, size_len: int) -> bytes:
    return len(data).to_bytes(size_len, "big") + data


def build_client_hello_message(
    sni: str | bytes | None,
    alpn: tuple[str, ...] | list[str] = (),
    versions: tuple[int, ...] | list[int] = (0x0304, 0x0303),
    *,
    ech: bool = False,
    cipher_suites: tuple[int, ...] | list[int] = DEFAULT_SUITES,
    grease: bool = False,
    legacy_version: int = 0x0303,
    extra_extensions: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]] = (),
    padding: int = 0,
    random: bytes | None = None,
) -> bytes:
    """A ClientHello handshake message (4-byte header included), as a browser would shape it."""
    extensions = []
    if grease:
        extensions.append(_ext(0x2A2A, b""))
    if sni is not None:
        name = sni.encode() if isinstance(sni, str) else sni
        extensions.append(_ext(EXT_SERVER_NAME, _vec(b"\x00" + _vec(name, 2), 2)))
    extensions.append(_ext(EXT_SUPPORTED_GROUPS, _vec(struct.pack("!3H", 0x001D, 0x0017, 0x0018), 2)))
    extensions.append(
        _ext(EXT_SIGNATURE_ALGORITHMS, _vec(struct.pack("!4H", 0x0403, 0x0804, 0x0401, 0x0503), 2))
    )
    if alpn:
        extensions.append(_ext(EXT_ALPN, _vec(b"".join(_vec(p.encode(), 1) for p in alpn), 2)))
    if versions:
        listed = ([0x3A3A] if grease else []) + list(versions)
        extensions.append(_ext(EXT_SUPPORTED_VERSIONS, _vec(struct.pack(f"!{len(listed)}H", *listed), 1)))
        if 0x0304 in versions:
            extensions.append(_ext(EXT_KEY_SHARE, _vec(struct.pack("!HH", 0x001D, 32) + os.urandom(32), 2)))
    extensions.extend(_ext(t, d) for t, d in extra_extensions)
    if ech:
        extensions.append(
            _ext(EXT_ECH, b"\x00\x00\x01\x00\x01\x2a" + _vec(os.urandom(32), 2) + _vec(os.urandom(144), 2))
        )
    if padding:
        extensions.append(_ext(21, bytes(padding)))
    suites = ([0x5A5A] if grease else []) + list(cipher_suites)
    body = (
        struct.pack("!H", legacy_version)
        + (random if random is not None else os.urandom(32))
        + _vec(os.urandom(32), 1)
        + _vec(struct.pack(f"!{len(suites)}H", *suites), 2)
        + b"\x01\x00"
        + _vec(b"".join(extensions), 2)
    )
    return bytes([CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body


def as_records(message: bytes, count: int = 1, record_version: int = 0x0301) -> bytes:
    """``message`` as ``count`` handshake records of near-equal size (the split a huge hello needs)."""
    size = max(1, -(-len(message) // max(1, count)))
    size = min(size, 1 << 14)
    return b"".join(
        _HEADER.pack(HANDSHAKE, record_version, len(message[i : i + size])) + message[i : i + size]
        for i in range(0, len(message), size)
    )


def build_client_hello(
    sni: str | bytes | None,
    alpn: tuple[str, ...] | list[str] = (),
    versions: tuple[int, ...] | list[int] = (0x0304, 0x0303),
    ech: bool = False,
    *,
    records: int = 1,
    record_version: int = 0x0301,
    cipher_suites: tuple[int, ...] | list[int] = DEFAULT_SUITES,
    grease: bool = False,
    padding: int = 0,
    random: bytes | None = None,
) -> bytes:
    """A ClientHello as the TLS records a client writes on the stream, split into ``records`` records."""
    message = build_client_hello_message(
        sni,
        alpn,
        versions,
        ech=ech,
        cipher_suites=cipher_suites,
        grease=grease,
        padding=padding,
        random=random,
    )
    return as_records(message, records, record_version)


def build_server_hello(
    version: int, cipher_suite: int = 0x1301, *, random: bytes | None = None, encrypt_then_mac: bool = False
) -> bytes:
    """A ServerHello record selecting ``version`` (TLS 1.3 through supported_versions, as RFC 8446 4.1.3)."""
    extensions = _ext(EXT_ENCRYPT_THEN_MAC, b"") if encrypt_then_mac else b""
    legacy = version
    if version >= 0x0304:
        legacy = 0x0303
        extensions = _ext(EXT_SUPPORTED_VERSIONS, struct.pack("!H", version)) + _ext(
            EXT_KEY_SHARE, struct.pack("!HH", 0x001D, 32) + os.urandom(32)
        )
    body = (
        struct.pack("!H", legacy)
        + (random if random is not None else os.urandom(32))
        + _vec(os.urandom(32), 1)
        + struct.pack("!HB", cipher_suite, 0)
    )
    body += _vec(extensions, 2)
    message = bytes([SERVER_HELLO]) + len(body).to_bytes(3, "big") + body
    return as_records(message, 1, 0x0303)


def find_client_hello(payload: bytes, start: int = 0) -> TlsHello | None:
    """A ClientHello in one TLS record somewhere in ``payload`` (TLS carried inside another
    protocol's datagrams, as RDP over UDP does); None when there is none."""
    pos = payload.find(b"\x16\x03", start)
    while 0 <= pos <= len(payload) - 9:
        length = (payload[pos + 3] << 8) | payload[pos + 4]
        if payload[pos + 2] <= 4 and payload[pos + 5] == CLIENT_HELLO and pos + 5 + length <= len(payload):
            hs_len = int.from_bytes(payload[pos + 6 : pos + 9], "big")
            if hs_len + 4 <= length:
                hello = parse_client_hello(payload[pos + 9 : pos + 9 + hs_len])
                if hello is not None:
                    return hello
        pos = payload.find(b"\x16\x03", pos + 1)
    return None
