"""The ClientHello inside QUIC Initial packets (RFC 9000, RFC 9001, RFC 9369), and gQUIC's CHLO.

QUIC encrypts even its first packets, but with keys anyone can derive from
the client's first Destination Connection ID (RFC 9001 5.2): that is how a
passive observer, Wireshark included, reads the server name a QUIC client
asks for. :class:`QuicInitialTracker` follows one UDP flow, decrypts the
client's Initial packets, reassembles their CRYPTO frames (split, out of
order, duplicated, coalesced) and parses the ClientHello. Versions: QUIC v1,
v2, IETF drafts 22-34, Facebook mvfst, Google T050/T051 (TLS) and
Q050 (CHLO inside Initial encryption); older gQUIC (Q043, Q046...) sends its
CHLO in clear and is read as such.

Packet protection lives in ``_quic_crypto``.
"""

from __future__ import annotations

import os
import re
import struct

from cryptography.exceptions import InvalidTag

from phonehome.traffic._quic_crypto import (
    FALLBACK_SALTS,
    Q050,
    QUIC_V1,
    QUIC_V2,
    T050,
    T051,
    InitialKeys,
    decode_packet_number,
    encode_varint,
    read_varint,
    salt_for,
    seal_initial,
)
from phonehome.traffic.flow import TlsHello
from phonehome.traffic.tls import (
    CLIENT_HELLO,
    HANDSHAKE_LIMIT,
    build_client_hello_message,
    parse_client_hello,
)

__all__ = [
    "Q050",
    "QUIC_V1",
    "QUIC_V2",
    "T050",
    "T051",
    "QuicInitialTracker",
    "build_initial",
    "initial_dcid",
    "looks_like_quic",
    "tracker_key",
]

_MAX_CID = 20
_MAX_KEYS = 4
_NOT_ZERO = re.compile(rb"[^\x00]")


def _is_gquic_clear(datagram: bytes) -> bool:
    """gQUIC before Q050: a version in clear (Q046: in a long header; older: after an 8-byte
    connection ID in the public header), and the CHLO unencrypted."""
    if len(datagram) < 13:
        return False
    flags = datagram[0]
    if flags & 0xC0 == 0xC0:
        version = datagram[1:5]
    elif flags & 0x09 == 0x09 and not flags & 0x80:
        version = datagram[9:13]
    else:
        return False
    return version[:2] == b"Q0" and version[2:].isdigit() and version < b"Q050"


def looks_like_quic(datagram: bytes) -> bool:
    """The datagram starts with a QUIC long header of a version we know, or a gQUIC public header.

    Decided from the first bytes; a flow's first datagram is normally the client's Initial.
    """
    if len(datagram) < 7:
        return False
    first = datagram[0]
    if first & 0x80:
        version = int.from_bytes(datagram[1:5], "big")
        if datagram[5] <= _MAX_CID and (version == 0 or salt_for(version) is not None):
            return True
    return _is_gquic_clear(datagram)


def initial_dcid(datagram: bytes) -> bytes | None:
    """The Destination Connection ID of a datagram opening with a long-header packet (RFC 9000 17.2)."""
    if len(datagram) < 7 or not datagram[0] & 0x80:
        return None
    length = datagram[5]
    if length > _MAX_CID or len(datagram) < 6 + length:
        return None
    return datagram[6 : 6 + length]


def tracker_key(datagram: bytes) -> bytes | None:
    """What tells a client's QUIC connections apart on one flow: an Initial's DCID (a gQUIC public
    header in clear: empty); None for datagrams that cannot open a connection (short headers)."""
    if _is_gquic_clear(datagram):
        return b""
    return initial_dcid(datagram)


class QuicInitialTracker:
    """Follows one UDP flow until the client's ClientHello (or gQUIC CHLO) is complete.

    Memory is bounded by ``limit`` bytes of CRYPTO data and a few key sets;
    garbage never raises. After the hello was returned, further datagrams are
    ignored.
    """

    def __init__(self, limit: int = HANDSHAKE_LIMIT) -> None:
        self.limit = limit
        self.version: int | None = None
        """Version of the client's first long-header packet."""
        self.hello: TlsHello | None = None
        self.message = b""
        """The ClientHello as the client sent it in CRYPTO frames (decrypted, reassembled), once complete:
        every extension of it (ALPN, transport parameters, unknown ones) for the observer to scan."""
        self.done = False
        self.decrypted = 0
        """Client Initial packets decrypted so far (0 on a flow we could not read)."""
        self._keys: dict[bytes, InitialKeys] = {}
        self._original_dcid: bytes | None = None
        self._salt: bytes | None = None
        self._largest_pn = -1
        self._crypto = bytearray()
        self._pending: dict[int, bytes] = {}
        self._pending_bytes = 0

    def feed(self, datagram: bytes, from_client: bool, frame: int) -> TlsHello | None:
        """The ClientHello, on the datagram that completes it; None before and after."""
        if self.done or not from_client:
            return None
        try:
            hello = self._datagram(datagram)
        except (IndexError, ValueError, struct.error):
            return None
        if hello is not None:
            hello.frame = frame
            self.hello = hello
            self.done = True
            self._crypto = bytearray()
            self._pending = {}
        return hello

    def _datagram(self, datagram: bytes) -> TlsHello | None:
        if _is_gquic_clear(datagram):
            return _chlo_hello(datagram)
        pos = 0
        while pos + 7 <= len(datagram) and datagram[pos] & 0x80:
            first = datagram[pos]
            version = int.from_bytes(datagram[pos + 1 : pos + 5], "big")
            if version == 0:
                return None
            if self.version is None:
                self.version = version
            v2 = version == QUIC_V2
            dcid_len = datagram[pos + 5]
            if dcid_len > _MAX_CID:
                return None
            dcid = datagram[pos + 6 : pos + 6 + dcid_len]
            cur = pos + 6 + dcid_len
            scid_len = datagram[cur]
            cur += 1 + scid_len
            packet_type = (first >> 4) & 3
            if packet_type == (0 if v2 else 3):  # Retry: no length field, ends the datagram
                return None
            initial = packet_type == (1 if v2 else 0)
            if initial:
                token_len, cur = read_varint(datagram, cur)
                cur += token_len
            length, cur = read_varint(datagram, cur)
            end = cur + length
            if end > len(datagram):
                return None
            if initial:
                payload = self._open(datagram, (pos, cur, end), dcid, version)
                if payload is not None:
                    hello = self._frames(payload, version)
                    if hello is not None:
                        return hello
            pos = end
        return None

    def _open(self, datagram: bytes, span: tuple[int, int, int], dcid: bytes, version: int) -> bytes | None:
        """The decrypted payload of the Initial packet at ``start``, None if no key fits."""
        if self._original_dcid is None:
            self._original_dcid = dcid
        # Keys stay those of the client's first DCID even after it switches to the
        # server's chosen ID (RFC 9001 5.2); a Retry makes new ones from the new DCID.
        candidates = [self._original_dcid] if dcid == self._original_dcid else [self._original_dcid, dcid]
        for cid in candidates:
            for salt in self._salts(version):
                keys = self._keys_for(cid, salt, version == QUIC_V2)
                payload = self._unprotect(datagram, span, keys)
                if payload is not None:
                    self._salt = salt
                    self.decrypted += 1
                    return payload
        return None

    def _salts(self, version: int) -> tuple[bytes, ...]:
        if self._salt is not None:
            return (self._salt,)
        salt = salt_for(version)
        if salt is None:
            return ()
        if version >> 8 == 0xFACEB0:
            return (salt, *(s for s in FALLBACK_SALTS if s != salt))
        return (salt,)

    def _keys_for(self, dcid: bytes, salt: bytes, v2: bool) -> InitialKeys:
        key = salt + dcid
        keys = self._keys.get(key)
        if keys is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.pop(next(iter(self._keys)))
            keys = self._keys[key] = InitialKeys(dcid, salt, v2)
        return keys

    def _unprotect(self, datagram: bytes, span: tuple[int, int, int], keys: InitialKeys) -> bytes | None:
        start, pn_offset, end = span
        sample = datagram[pn_offset + 4 : pn_offset + 20]
        if len(sample) < 16:
            return None
        mask = keys.hp.update(sample)
        first = datagram[start] ^ (mask[0] & 0x0F)
        pn_len = (first & 3) + 1
        pn_bytes = bytes(
            b ^ m for b, m in zip(datagram[pn_offset : pn_offset + pn_len], mask[1:], strict=False)
        )
        pn = decode_packet_number(int.from_bytes(pn_bytes, "big"), pn_len, self._largest_pn)
        header = bytes([first]) + datagram[start + 1 : pn_offset] + pn_bytes
        try:
            payload = keys.aead.decrypt(keys.nonce(pn), datagram[pn_offset + pn_len : end], header)
        except (InvalidTag, ValueError):
            return None
        self._largest_pn = max(self._largest_pn, pn)
        return payload

    def _frames(self, payload: bytes, version: int) -> TlsHello | None:
        """Walks an Initial's frames, keeping CRYPTO data (RFC 9000 19); stops at a frame it cannot skip.

        Google's Q050/T050/T051 number frames the gQUIC way: CRYPTO is 0x08, PING 0x07.
        """
        gquic = version in (Q050, T050, T051)
        crypto_type, ping_type = (0x08, 0x07) if gquic else (0x06, 0x01)
        pos = 0
        n = len(payload)
        while pos < n:
            frame_type = payload[pos]
            if frame_type == 0x00:  # PADDING: skip the run at C speed
                match = _NOT_ZERO.search(payload, pos)
                pos = match.start() if match else n
            elif frame_type == ping_type:
                pos += 1
            elif frame_type in (0x02, 0x03) and not gquic:  # ACK, ACK with ECN counts
                pos += 1
                _, pos = read_varint(payload, pos)
                _, pos = read_varint(payload, pos)
                ranges, pos = read_varint(payload, pos)
                _, pos = read_varint(payload, pos)
                for _ in range(min(ranges, n) * 2 + (3 if frame_type == 0x03 else 0)):
                    _, pos = read_varint(payload, pos)
            elif frame_type == crypto_type:
                offset, pos = read_varint(payload, pos + 1)
                length, pos = read_varint(payload, pos)
                self._add_crypto(offset, payload[pos : pos + length])
                pos += length
            else:
                break
        return self._try_hello(version)

    def _add_crypto(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.limit:
            return
        have = len(self._crypto)
        if offset > have:
            if self._pending_bytes + len(data) <= self.limit and len(data) > len(
                self._pending.get(offset, b"")
            ):
                self._pending_bytes += len(data) - len(self._pending.get(offset, b""))
                self._pending[offset] = data
            return
        if offset + len(data) > have:
            self._crypto += data[have - offset :]
        while self._pending:
            have = len(self._crypto)
            ready = [o for o in self._pending if o <= have]
            if not ready:
                break
            for o in ready:
                piece = self._pending.pop(o)
                self._pending_bytes -= len(piece)
                if o + len(piece) > len(self._crypto):
                    self._crypto += piece[len(self._crypto) - o :]

    def _try_hello(self, version: int) -> TlsHello | None:
        crypto = self._crypto
        if len(crypto) < 4:
            return None
        if version == Q050 and crypto[:4] == b"CHLO":
            hello = _chlo_hello(bytes(crypto))
            if hello is not None:
                self.message = bytes(crypto)
            return hello
        if crypto[0] != CLIENT_HELLO:
            self.done = True
            return None
        length = int.from_bytes(crypto[1:4], "big")
        if len(crypto) < 4 + length:
            return None
        self.message = bytes(crypto[: 4 + length])
        return parse_client_hello(self.message[4:])


def _chlo_hello(data: bytes) -> TlsHello | None:
    """A gQUIC CHLO handshake message in ``data`` (tag-value map, little-endian; SNI tag) as a TlsHello.

    Only the server name applies: gQUIC's crypto offers no TLS versions or suites.
    """
    start = data.find(b"CHLO")
    if start < 0 or start + 8 > len(data):
        return None
    count = int.from_bytes(data[start + 4 : start + 6], "little")
    if count > 128:
        return None
    table = start + 8
    values = table + 8 * count
    if values > len(data):
        return None
    previous = 0
    for i in range(count):
        tag = data[table + 8 * i : table + 8 * i + 4]
        end = int.from_bytes(data[table + 8 * i + 4 : table + 8 * i + 8], "little")
        if end < previous or values + end > len(data):
            return None
        if tag == b"SNI\x00":
            name = data[values + previous : values + end].decode("ascii", "replace").lower().rstrip(".")
            return TlsHello(sni=name or None)
        previous = end
    return TlsHello(sni=None)


# -- builder (tests and benchmarks) ----------------------------------------------------------------------


def build_initial(
    sni: str | None,
    version: int = 1,
    dcid: bytes | None = None,
    *,
    scid: bytes = b"",
    split: int = 1,
    reorder: bool = False,
    duplicate: bool = False,
    alpn: tuple[str, ...] = ("h3",),
    ech: bool = False,
    first_pn: int = 0,
    transport_parameters: bytes | None = None,
) -> list[bytes]:
    """A client's first flight: sealed Initial packets, one per datagram, padded to 1200 bytes.

    The ClientHello is cut into ``split`` CRYPTO frames, one per packet;
    ``reorder`` sends them last first, ``duplicate`` sends the first one twice.
    ``version`` 1 and 2 mean QUIC v1 and v2; other values are sent as given.
    """
    version = {1: QUIC_V1, 2: QUIC_V2}.get(version, version)
    salt = salt_for(version)
    if salt is None:
        raise ValueError(f"no Initial salt known for QUIC version {version:#010x}")
    dcid = os.urandom(8) if dcid is None else dcid
    v2 = version == QUIC_V2
    keys = InitialKeys(dcid, salt, v2)
    params = transport_parameters
    if params is None:
        params = b"\x04\x04\x80\x10\x00\x00\x01\x04\x80\x00\x75\x30"  # initial_max_data, max_idle_timeout
    message = build_client_hello_message(sni, alpn, (0x0304,), ech=ech, extra_extensions=[(0x39, params)])
    size = -(-len(message) // max(1, split))
    pieces = [(i, message[i : i + size]) for i in range(0, len(message), size)]
    packets = []
    for number, (offset, piece) in enumerate(pieces, start=first_pn):
        frames = b"\x06" + encode_varint(offset) + encode_varint(len(piece)) + piece
        packets.append(seal_initial(keys, version, dcid, frames, scid=scid, pn=number))
    if reorder:
        packets.reverse()
    if duplicate:
        packets.insert(1, packets[0])
    return packets
