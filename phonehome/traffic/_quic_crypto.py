"""QUIC Initial packet protection (RFC 9001 5): salts per version, key derivation, header protection.

Shared by the Initial tracker and the builder that makes test and benchmark
Initials. AES-GCM and AES-ECB come from ``cryptography``; HKDF is written out
with ``hmac`` because an Initial needs only single-block expansions, and that
is several times faster than building HKDF objects per key (the digest is named
by a string: the shortest way into OpenSSL).
"""

from __future__ import annotations

import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF
Q050, T050, T051 = 0x51303530, 0x54303530, 0x54303531

SALT_DRAFT22 = bytes.fromhex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")
SALT_DRAFT23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
SALT_DRAFT29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")
SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
SALT_Q050 = bytes.fromhex("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45")
SALT_T050 = bytes.fromhex("7ff579e5acd072915580304c43a2367c60488310")
SALT_T051 = bytes.fromhex("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d")
FALLBACK_SALTS = (SALT_V1, SALT_DRAFT29, SALT_DRAFT23, SALT_DRAFT22)
"""Tried in turn for versions whose salt we cannot be sure of (mvfst's experimental ones)."""

_VARINT = struct.Struct("!Q")


def salt_for(version: int) -> bytes | None:
    """The Initial salt a version uses (Wireshark's packet-quic.c has the same table); None: unknown."""
    if version in (QUIC_V1, 0xFF000021, 0xFF000022):
        return SALT_V1
    if version == QUIC_V2:
        return SALT_V2
    if version >> 8 == 0xFF0000 and 22 <= version & 0xFF <= 32:
        draft = version & 0xFF
        return SALT_DRAFT22 if draft == 22 else SALT_DRAFT23 if draft <= 28 else SALT_DRAFT29
    if version == 0xFACEB001:  # mvfst on draft 22
        return SALT_DRAFT22
    if version in (0xFACEB002, 0xFACEB00E):  # mvfst on draft 27, and its experimental version
        return SALT_DRAFT23
    if version >> 8 == 0xFACEB0:
        return SALT_V1  # later mvfst versions are v1 aliases; other salts are tried on failure
    if (version & 0x0F0F0F0F) == 0x0A0A0A0A:  # RFC 9000 15 greased version: Wireshark assumes draft 29
        return SALT_DRAFT29
    return {Q050: SALT_Q050, T050: SALT_T050, T051: SALT_T051}.get(version)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """RFC 9000 16 variable-length integer at ``pos``: (value, next position); IndexError when cut."""
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise IndexError("varint cut")
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


def encode_varint(value: int) -> bytes:
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return struct.pack("!H", 0x4000 | value)
    if value < 0x40000000:
        return struct.pack("!I", 0x80000000 | value)
    return _VARINT.pack(0xC000000000000000 | value)


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for length <= 32."""
    info = struct.pack("!HB", length, 6 + len(label)) + b"tls13 " + label + b"\x00"
    return hmac.digest(secret, info + b"\x01", "sha256")[:length]


class InitialKeys:
    """Client Initial packet protection keys derived from one Destination Connection ID."""

    __slots__ = ("aead", "hp", "iv")

    def __init__(self, dcid: bytes, salt: bytes, v2: bool) -> None:
        initial = hmac.digest(salt, dcid, "sha256")
        secret = _expand_label(initial, b"client in", 32)
        prefix = b"quicv2 " if v2 else b"quic "
        self.aead = AESGCM(_expand_label(secret, prefix + b"key", 16))
        self.iv = _expand_label(secret, prefix + b"iv", 12)
        hp_key = _expand_label(secret, prefix + b"hp", 16)
        self.hp: CipherContext = Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor()  # noqa: S305 RFC 9001 5.4.3

    def nonce(self, pn: int) -> bytes:
        return (int.from_bytes(self.iv, "big") ^ pn).to_bytes(12, "big")


def decode_packet_number(truncated: int, length: int, largest: int) -> int:
    """RFC 9000 appendix A.3."""
    expected = largest + 1
    window = 1 << (8 * length)
    half = window // 2
    candidate = (expected & ~(window - 1)) | truncated
    if candidate <= expected - half and candidate < (1 << 62) - window:
        return candidate + window
    if candidate > expected + half and candidate >= window:
        return candidate - window
    return candidate


def seal_initial(
    keys: InitialKeys, version: int, dcid: bytes, frames: bytes, *, scid: bytes, pn: int
) -> bytes:
    """One Initial packet (RFC 9001 5.3, 5.4) with a 2-byte packet number, padded to 1200 bytes."""
    pn_len = 2
    header_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + pn_len
    padding = max(0, 1200 - header_len - len(frames) - 16)
    plaintext = frames + bytes(padding)
    first = 0xC0 | ((1 if version == QUIC_V2 else 0) << 4) | (pn_len - 1)
    header = (
        bytes([first])
        + struct.pack("!I", version)
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + b"\x00"
        + struct.pack("!H", 0x4000 | (pn_len + len(plaintext) + 16))
    )
    pn_bytes = pn.to_bytes(pn_len, "big")
    sealed = keys.aead.encrypt(keys.nonce(pn), plaintext, header + pn_bytes)
    mask = keys.hp.update(sealed[4 - pn_len : 20 - pn_len])
    protected_first = bytes([first ^ (mask[0] & 0x0F)])
    protected_pn = bytes(b ^ m for b, m in zip(pn_bytes, mask[1:], strict=False))
    return protected_first + header[1:] + protected_pn + sealed
