"""ADB authentication on the device side: RSA keys and the "Allow USB debugging?" decision.

The host signs the device's 20-byte token with each of its keys; the device
accepts a signature made by a key it already trusts, otherwise the host offers
its public key and the device shows "unauthorized" until the user allows it
(AOSP adb/daemon/auth.cpp). Keys travel in Android's own public key format
(libcrypto_utils android_pubkey.cpp): modulus size in words, n0inv, modulus and
R^2 little-endian, exponent.
"""

from __future__ import annotations

import base64
import binascii
import struct
import threading
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

MODULUS_WORDS = 64  # 2048-bit keys
MODULUS_BYTES = MODULUS_WORDS * 4
ANDROID_PUBKEY_SIZE = 4 + 4 + MODULUS_BYTES + MODULUS_BYTES + 4


class KeyFormatError(ValueError):
    """Not an Android ADB public key."""


def decode_public_key(text: bytes | str) -> rsa.RSAPublicKey:
    """Parses ``adbkey.pub`` content (``BASE64 user@host``), as the host sends it in AUTH RSAPUBLICKEY."""
    raw = text.encode() if isinstance(text, str) else text
    b64 = raw.rstrip(b"\0").strip().split(b" ", 1)[0]
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"ADB public key is not base64: {exc}") from exc
    if len(blob) != ANDROID_PUBKEY_SIZE:
        raise KeyFormatError(f"ADB public key is {len(blob)} bytes, expected {ANDROID_PUBKEY_SIZE}")
    (words,) = struct.unpack_from("<I", blob, 0)
    if words != MODULUS_WORDS:
        raise KeyFormatError(f"ADB public key has a {words * 32}-bit modulus; adb uses 2048")
    modulus = int.from_bytes(blob[8 : 8 + MODULUS_BYTES], "little")
    (exponent,) = struct.unpack_from("<I", blob, 8 + 2 * MODULUS_BYTES)
    try:
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError as exc:
        raise KeyFormatError(f"ADB public key is not a valid RSA key: {exc}") from exc


def encode_public_key(key: rsa.RSAPublicKey, comment: str = "phonehome@virtual") -> str:
    """The ``adbkey.pub`` line for ``key`` (tests use it to authorize a generated key)."""
    numbers = key.public_numbers()
    n = numbers.n
    n0inv = (-pow(n, -1, 1 << 32)) % (1 << 32)
    rr = pow(2, 2 * MODULUS_BYTES * 8, n)
    blob = (
        struct.pack("<II", MODULUS_WORDS, n0inv)
        + n.to_bytes(MODULUS_BYTES, "little")
        + rr.to_bytes(MODULUS_BYTES, "little")
        + struct.pack("<I", numbers.e)
    )
    return base64.b64encode(blob).decode() + " " + comment


def verify_token(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """adb signs the raw token as if it were a SHA-1 digest (RSA_sign with NID_sha1)."""
    try:
        key.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))  # noqa: S303
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class AuthPolicy:
    """Whether the device asks for AUTH, which host keys it trusts, and what the user answers.

    ``required=False`` is a device with ``ro.adb.secure=0`` (straight online).
    ``accept_new_keys`` stands for the user tapping "Allow" on the prompt.
    """

    required: bool = False
    accept_new_keys: bool = False
    _keys: list[rsa.RSAPublicKey] = field(default_factory=list)
    _offered: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, public_key: str | bytes) -> None:
        """Trusts a host key (an ``adbkey.pub`` line), as ``/data/misc/adb/adb_keys`` does."""
        key = decode_public_key(public_key)
        with self._lock:
            self._keys.append(key)

    @property
    def offered_keys(self) -> list[str]:
        """Public keys hosts offered that are not trusted (what the prompt would show)."""
        with self._lock:
            return list(self._offered)

    def verify(self, token: bytes, signature: bytes) -> bool:
        with self._lock:
            keys = list(self._keys)
        return any(verify_token(k, token, signature) for k in keys)

    def offer_key(self, payload: bytes) -> bool:
        """The host offered its key; True when the (simulated) user allows it."""
        text = payload.rstrip(b"\0").decode("ascii", "replace")
        try:
            key = decode_public_key(text)
        except KeyFormatError:
            return False
        with self._lock:
            if not self.accept_new_keys:
                if text not in self._offered:
                    self._offered.append(text)
                return False
            self._keys.append(key)
        return True
