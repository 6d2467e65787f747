"""TLS record protection from known secrets: cipher suites, key derivation, opening and sealing records.

TLS 1.3 (RFC 8446 5.2-5.3, 7.1-7.3): keys from traffic secrets by
HKDF-Expand-Label, AEAD with a per-record nonce, the inner content type at the
end of the plaintext. TLS 1.0-1.2 (RFC 5246 5, 6.2.3, 6.3; RFC 2246 5):
keys from the master secret by the PRF, AEAD (GCM RFC 5288, CCM RFC 6655,
ChaCha20-Poly1305 RFC 7905) or CBC with HMAC (MAC-then-encrypt, or
encrypt-then-MAC by RFC 7366). The ciphers are the ``cryptography``
package's; the record glue is hand-written, as no maintained library opens
TLS records from a key log without running the handshake itself.
Opening never raises: a record that does not authenticate gives None.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

APPLICATION_DATA = 23
TLS12 = 0x0303
TLS13 = 0x0304


@dataclass(frozen=True, slots=True)
class Suite:
    """What record protection needs to know of a cipher suite (IANA TLS Cipher Suites registry)."""

    code: int
    cipher: str
    """``gcm``, ``ccm``, ``ccm8``, ``chacha`` (AEAD); ``cbc`` (AES), ``3des`` (CBC)."""
    key_len: int
    hash: str
    """The PRF's (TLS 1.2) or HKDF's (TLS 1.3) hash: ``sha256`` or ``sha384``."""
    mac: str | None = None
    """CBC suites: the HMAC's hash (``sha1``, ``sha256``, ``sha384``)."""

    @property
    def tls13(self) -> bool:
        return self.code >> 8 == 0x13


def _table() -> dict[int, Suite]:
    rows: list[Suite] = [
        Suite(0x1301, "gcm", 16, "sha256"),
        Suite(0x1302, "gcm", 32, "sha384"),
        Suite(0x1303, "chacha", 32, "sha256"),
        Suite(0x1304, "ccm", 16, "sha256"),
        Suite(0x1305, "ccm8", 16, "sha256"),
    ]
    # AES-GCM (RFC 5288, 5487, 8442): AES-128 with SHA-256, AES-256 with SHA-384.
    for low, high in ((0x009C, 0x009D), (0x009E, 0x009F), (0x00A2, 0x00A3), (0x00A8, 0x00A9), (0x00AA, 0x00AB),
                      (0x00AC, 0x00AD), (0xC02B, 0xC02C), (0xC02D, 0xC02E), (0xC02F, 0xC030), (0xC031, 0xC032),
                      (0xD001, 0xD002)):  # fmt: skip
        rows += [Suite(low, "gcm", 16, "sha256"), Suite(high, "gcm", 32, "sha384")]
    rows += [Suite(code, "chacha", 32, "sha256") for code in range(0xCCA8, 0xCCAF)]
    # AES-CCM (RFC 6655, 7251): pairs of AES-128/AES-256, all with the SHA-256 PRF.
    for low, kind in ((0xC09C, "ccm"), (0xC09E, "ccm"), (0xC0A0, "ccm8"), (0xC0A2, "ccm8"), (0xC0A4, "ccm"),
                      (0xC0A6, "ccm"), (0xC0A8, "ccm8"), (0xC0AA, "ccm8"), (0xC0AC, "ccm"), (0xC0AE, "ccm8")):  # fmt: skip
        rows += [Suite(low, kind, 16, "sha256"), Suite(low + 1, kind, 32, "sha256")]
    for code in (0x002F, 0x0030, 0x0031, 0x0032, 0x0033, 0x008C, 0x0090, 0x0094, 0xC004, 0xC009, 0xC00E, 0xC013,
                 0xC035):  # fmt: skip
        rows.append(Suite(code, "cbc", 16, "sha256", "sha1"))
    for code in (0x0035, 0x0036, 0x0037, 0x0038, 0x0039, 0x008D, 0x0091, 0x0095, 0xC005, 0xC00A, 0xC00F, 0xC014,
                 0xC036):  # fmt: skip
        rows.append(Suite(code, "cbc", 32, "sha256", "sha1"))
    for code in (0x003C, 0x003E, 0x003F, 0x0040, 0x0067, 0x00AE, 0x00B2, 0x00B6, 0xC023, 0xC025, 0xC027, 0xC029,
                 0xC037):  # fmt: skip
        rows.append(Suite(code, "cbc", 16, "sha256", "sha256"))
    for code in (0x003D, 0x0068, 0x0069, 0x006A, 0x006B):
        rows.append(Suite(code, "cbc", 32, "sha256", "sha256"))
    for code in (0x00AF, 0x00B3, 0x00B7, 0xC024, 0xC026, 0xC028, 0xC02A, 0xC038):
        rows.append(Suite(code, "cbc", 32, "sha384", "sha384"))
    for code in (0x000A, 0x000D, 0x0010, 0x0013, 0x0016, 0x008B, 0xC003, 0xC008, 0xC00D, 0xC012, 0xC034):
        rows.append(Suite(code, "3des", 24, "sha256", "sha1"))
    return {suite.code: suite for suite in rows}


SUITES = _table()
"""The cipher suites that can be decrypted, by code; others are named in an anomaly instead."""
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "md5": hashlib.md5}
_SEQ = struct.Struct("!Q")


class RecordCipher(Protocol):
    """One direction's record protection under one set of keys."""

    explicit: int
    """Bytes at the start of a record's fragment that are not ciphertext of its plaintext (an explicit
    nonce or a CBC IV): the plaintext's first byte sits this far past the record header."""

    def open(self, seq: int, header: bytes, fragment: bytes) -> bytes | None:
        """The plaintext of one record (TLS 1.3: TLSInnerPlaintext), or None when it does not authenticate."""

    def seal(self, seq: int, content_type: int, version: int, plaintext: bytes) -> bytes:
        """One whole record (header included) carrying ``plaintext`` (TLS 1.3: TLSInnerPlaintext)."""


# -- TLS 1.3 ---------------------------------------------------------------------------------------------


def expand_label(secret: bytes, label: bytes, context: bytes, length: int, hash_name: str) -> bytes:
    """HKDF-Expand-Label (RFC 8446 7.1), written out with ``hmac`` (faster than an HKDF object per key)."""
    info = struct.pack("!HB", length, 6 + len(label)) + b"tls13 " + label + bytes([len(context)]) + context
    digest = _HASHES[hash_name]
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes([counter]), digest)
        out += block
        counter += 1
    return out[:length]


def next_traffic_secret(secret: bytes, suite: Suite) -> bytes:
    """application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 7.2)."""
    return expand_label(secret, b"traffic upd", b"", len(secret), suite.hash)


def _aead(suite: Suite, key: bytes) -> AESGCM | ChaCha20Poly1305 | AESCCM:
    if suite.cipher == "gcm":
        return AESGCM(key)
    if suite.cipher == "chacha":
        return ChaCha20Poly1305(key)
    return AESCCM(key, tag_length=8 if suite.cipher == "ccm8" else 16)


class Tls13Cipher:
    """TLS 1.3 record protection from one traffic secret (RFC 8446 5.2, 5.3, 7.3)."""

    __slots__ = ("aead", "iv", "secret", "suite")

    explicit = 0

    def __init__(self, secret: bytes, suite: Suite) -> None:
        self.secret = secret
        self.suite = suite
        self.aead = _aead(suite, expand_label(secret, b"key", b"", suite.key_len, suite.hash))
        self.iv = int.from_bytes(expand_label(secret, b"iv", b"", 12, suite.hash), "big")

    def open(self, seq: int, header: bytes, fragment: bytes) -> bytes | None:
        try:
            return self.aead.decrypt((self.iv ^ seq).to_bytes(12, "big"), fragment, header)
        except (InvalidTag, ValueError):  # ValueError: shorter than a tag
            return None

    def seal(self, seq: int, content_type: int, version: int, plaintext: bytes) -> bytes:
        """``plaintext`` is TLSInnerPlaintext (content, type, padding); the outer type is application_data."""
        tag = 8 if self.suite.cipher == "ccm8" else 16
        header = struct.pack("!BHH", APPLICATION_DATA, TLS12, len(plaintext) + tag)
        return header + self.aead.encrypt((self.iv ^ seq).to_bytes(12, "big"), plaintext, header)

    def updated(self) -> Tls13Cipher:
        """The keys after a KeyUpdate."""
        return Tls13Cipher(next_traffic_secret(self.secret, self.suite), self.suite)


def inner_plaintext(data: bytes) -> tuple[int, bytes] | None:
    """(content type, content) of a TLSInnerPlaintext: zeros stripped from the end (RFC 8446 5.4)."""
    end = len(data.rstrip(b"\x00"))
    if end == 0:
        return None
    return data[end - 1], data[: end - 1]


# -- TLS 1.0-1.2 -----------------------------------------------------------------------------------------


def _p_hash(secret: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """P_hash of RFC 5246 5."""
    digest = _HASHES[hash_name]
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, digest)
        out += hmac.digest(secret, a + seed, digest)
    return out[:length]


def prf(secret: bytes, label: bytes, seed: bytes, length: int, *, version: int, hash_name: str) -> bytes:
    """The TLS PRF: P_<hash> in TLS 1.2 (RFC 5246 5), P_MD5 xor P_SHA1 before (RFC 2246 5)."""
    if version >= TLS12:
        return _p_hash(secret, label + seed, length, hash_name)
    half = (len(secret) + 1) // 2
    md5 = _p_hash(secret[:half], label + seed, length, "md5")
    sha = _p_hash(secret[len(secret) - half :], label + seed, length, "sha1")
    return bytes(a ^ b for a, b in zip(md5, sha, strict=True))


class Tls12Aead:
    """AEAD records of TLS 1.2: GCM and CCM with an 8-byte explicit nonce, ChaCha20-Poly1305 without."""

    __slots__ = ("aead", "explicit", "iv", "suite", "tag")

    def __init__(self, suite: Suite, key: bytes, iv: bytes) -> None:
        self.suite = suite
        self.aead = _aead(suite, key)
        self.iv = iv
        self.explicit = 0 if suite.cipher == "chacha" else 8
        self.tag = 8 if suite.cipher == "ccm8" else 16

    def _nonce(self, seq: int, fragment: bytes) -> bytes:
        if self.explicit:
            return self.iv + fragment[:8]  # RFC 5288 3: salt, then the explicit part
        return (int.from_bytes(self.iv, "big") ^ seq).to_bytes(12, "big")  # RFC 7905 2

    def open(self, seq: int, header: bytes, fragment: bytes) -> bytes | None:
        length = len(fragment) - self.explicit - self.tag
        if length < 0:
            return None
        aad = _SEQ.pack(seq) + header[:3] + struct.pack("!H", length)
        try:
            return self.aead.decrypt(self._nonce(seq, fragment), fragment[self.explicit :], aad)
        except (InvalidTag, ValueError):
            return None

    def seal(self, seq: int, content_type: int, version: int, plaintext: bytes) -> bytes:
        explicit = _SEQ.pack(seq) if self.explicit else b""
        aad = _SEQ.pack(seq) + struct.pack("!BHH", content_type, version, len(plaintext))
        sealed = explicit + self.aead.encrypt(self._nonce(seq, explicit), plaintext, aad)
        return struct.pack("!BHH", content_type, version, len(sealed)) + sealed


class Tls12Cbc:
    """CBC records with HMAC (RFC 5246 6.2.3.2; TLS 1.0's IV chained from the last record, RFC 2246 6.2.3.2),
    MAC-then-encrypt or encrypt-then-MAC (RFC 7366)."""

    __slots__ = ("algorithm", "block", "etm", "explicit", "iv", "key", "mac_hash", "mac_key", "mac_len")

    def __init__(
        self, suite: Suite, key: bytes, mac_key: bytes, iv: bytes, *, version: int, etm: bool
    ) -> None:
        self.key = key
        self.algorithm = TripleDES if suite.cipher == "3des" else algorithms.AES
        self.block = 8 if suite.cipher == "3des" else 16
        self.mac_hash = _HASHES[suite.mac or "sha1"]
        self.mac_key = mac_key
        self.mac_len = self.mac_hash().digest_size
        self.iv = iv
        """TLS 1.0: the IV of the next record (the previous record's last ciphertext block)."""
        self.explicit = self.block if version > 0x0301 else 0
        self.etm = etm

    def _mac(self, seq: int, header: bytes, content: bytes) -> bytes:
        data = _SEQ.pack(seq) + header[:3] + struct.pack("!H", len(content)) + content
        return hmac.digest(self.mac_key, data, self.mac_hash)

    def _cipher(self, iv: bytes) -> Cipher[modes.CBC]:
        return Cipher(self.algorithm(self.key), modes.CBC(iv))

    def open(self, seq: int, header: bytes, fragment: bytes) -> bytes | None:
        body = fragment
        if self.etm:
            body, mac = fragment[: -self.mac_len], fragment[-self.mac_len :]
            if len(fragment) < self.mac_len or not hmac.compare_digest(mac, self._mac(seq, header, body)):
                return None
        iv, ciphertext = (body[: self.explicit], body[self.explicit :]) if self.explicit else (self.iv, body)
        if not ciphertext or len(ciphertext) % self.block:
            return None
        decryptor = self._cipher(iv).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        if not self.explicit:
            self.iv = ciphertext[-self.block :]
        pad = padded[-1]
        if pad + 1 > len(padded) or padded[-pad - 1 :] != bytes([pad]) * (pad + 1):
            return None
        content = padded[: -pad - 1]
        if self.etm:
            return content
        if len(content) < self.mac_len:
            return None
        content, mac = content[: -self.mac_len], content[-self.mac_len :]
        return content if hmac.compare_digest(mac, self._mac(seq, header, content)) else None

    def seal(self, seq: int, content_type: int, version: int, plaintext: bytes) -> bytes:
        header = struct.pack("!BHH", content_type, version, 0)
        body = plaintext if self.etm else plaintext + self._mac(seq, header, plaintext)
        pad = self.block - 1 - len(body) % self.block
        iv = bytes(range(self.block)) if self.explicit else self.iv
        encryptor = self._cipher(iv).encryptor()
        ciphertext = encryptor.update(body + bytes([pad]) * (pad + 1)) + encryptor.finalize()
        if not self.explicit:
            self.iv = ciphertext[-self.block :]
        fragment = (iv if self.explicit else b"") + ciphertext
        if self.etm:
            fragment += self._mac(seq, header, fragment)
        return struct.pack("!BHH", content_type, version, len(fragment)) + fragment


def tls12_ciphers(
    suite: Suite,
    master: bytes,
    client_random: bytes,
    server_random: bytes,
    *,
    version: int,
    etm: bool = False,
) -> tuple[RecordCipher, RecordCipher]:
    """(client's, server's) record protection from a master secret (RFC 5246 6.3)."""
    mac_len = _HASHES[suite.mac]().digest_size if suite.mac else 0
    if suite.cipher in ("cbc", "3des"):
        iv_len = (8 if suite.cipher == "3des" else 16) if version <= 0x0301 else 0
    else:
        iv_len = 12 if suite.cipher == "chacha" else 4
    size = 2 * (mac_len + suite.key_len + iv_len)
    block = prf(
        master, b"key expansion", server_random + client_random, size, version=version, hash_name=suite.hash
    )
    parts = []
    pos = 0
    for length in (mac_len, mac_len, suite.key_len, suite.key_len, iv_len, iv_len):
        parts.append(block[pos : pos + length])
        pos += length
    client_mac, server_mac, client_key, server_key, client_iv, server_iv = parts
    if suite.mac is None:
        return Tls12Aead(suite, client_key, client_iv), Tls12Aead(suite, server_key, server_iv)
    return (
        Tls12Cbc(suite, client_key, client_mac, client_iv, version=version, etm=etm),
        Tls12Cbc(suite, server_key, server_mac, server_iv, version=version, etm=etm),
    )
