"""Test doubles: TLS 1.2 and 1.3 connections sealed with known secrets, and the key log that opens them.

The handshake is shaped as on the wire (hellos in clear, the rest sealed
with the right keys and sequence numbers) but not negotiated: certificates,
signatures and Finished values are filler, which no decryptor checks (the
secrets come from the key log). Tests and benchmarks build captures with it:

    tls = Tls13Connection(sni="api.example.com")
    tls.send(b"POST /register HTTP/1.1\\r\\nHost: api.example.com\\r\\n...")
    for from_client, data in tls.flights():
        conv.send(data, from_client)
    pcapng_bytes(conv.packets, tls_keylog=tls.keylog())
"""

from __future__ import annotations

import os
import struct

from phonehome.traffic.tls import as_records, build_client_hello, build_server_hello
from phonehome.traffic.tls_crypto import SUITES, RecordCipher, Tls13Cipher, tls12_ciphers

_CCS = bytes.fromhex("140303000101")


def _ccs(version: int) -> bytes:
    """A ChangeCipherSpec record in clear."""
    return struct.pack("!BHHB", 20, version, 1, 1)


RECORD_SIZE = 1 << 14
"""Most plaintext bytes per record (RFC 8446 5.1)."""


def _message(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


class _Connection:
    """The bytes both sides wrote, in the order they wrote them (each side's flight after the other's)."""

    def __init__(self, client_random: bytes | None) -> None:
        self.client_random = client_random if client_random is not None else os.urandom(32)
        self._flights: list[tuple[bool, bytearray]] = []

    def write(self, from_client: bool, data: bytes) -> None:
        if self._flights and self._flights[-1][0] == from_client:
            self._flights[-1][1].extend(data)
        else:
            self._flights.append((from_client, bytearray(data)))

    def flights(self) -> list[tuple[bool, bytes]]:
        """(from client, bytes) per flight written since the last call, in order: a TCP conversation sends
        them one after the other, as the peers would (each answers the other's flight)."""
        out = [(side, bytes(data)) for side, data in self._flights]
        self._flights = []
        return out


class Tls13Connection(_Connection):
    """A TLS 1.3 connection: ClientHello, ServerHello, the sealed flights, then application data."""

    def __init__(
        self,
        suite: int = 0x1301,
        *,
        sni: str | None = "example.com",
        alpn: tuple[str, ...] = (),
        client_random: bytes | None = None,
        early_data: bytes = b"",
    ) -> None:
        super().__init__(client_random)
        self.suite = SUITES[suite]
        size = 48 if self.suite.hash == "sha384" else 32
        self.secrets = {
            label: os.urandom(size)
            for label in (
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0",
            )
        }
        self.ciphers: dict[bool, Tls13Cipher] = {}
        self.seq = {True: 0, False: 0}
        self.write(True, build_client_hello(sni, alpn, cipher_suites=(suite,), random=self.client_random))
        if early_data:
            self.secrets["CLIENT_EARLY_TRAFFIC_SECRET"] = os.urandom(size)
            self._keys(True, "CLIENT_EARLY_TRAFFIC_SECRET")
            self.send(early_data)
            self.seal(True, 22, _message(5, b""))  # EndOfEarlyData
        self.write(False, build_server_hello(0x0304, suite) + _CCS)
        self._keys(False, "SERVER_HANDSHAKE_TRAFFIC_SECRET")
        flight = (
            _message(8, b"\x00\x00")  # EncryptedExtensions
            + _message(11, b"\x00" + b"\x00\x00\x05\x00\x00\x00\x00\x00")  # Certificate (filler)
            + _message(15, b"\x08\x04\x00\x04" + os.urandom(4))  # CertificateVerify (filler)
            + _message(20, os.urandom(size))  # Finished
        )
        self.seal(False, 22, flight)
        self._keys(False, "SERVER_TRAFFIC_SECRET_0")
        self.write(True, _CCS)
        self._keys(True, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
        self.seal(True, 22, _message(20, os.urandom(size)))
        self._keys(True, "CLIENT_TRAFFIC_SECRET_0")

    def _keys(self, from_client: bool, label: str) -> None:
        self.ciphers[from_client] = Tls13Cipher(self.secrets[label], self.suite)
        self.seq[from_client] = 0

    def seal(self, from_client: bool, content_type: int, data: bytes, *, padding: int = 0) -> bytes:
        """Writes one record of ``content_type`` (inner) and returns it."""
        record = self.ciphers[from_client].seal(
            self.seq[from_client], 23, 0x0303, data + bytes([content_type]) + bytes(padding)
        )
        self.seq[from_client] += 1
        self.write(from_client, record)
        return record

    def send(
        self, data: bytes, from_client: bool = True, *, record_size: int = RECORD_SIZE, padding: int = 0
    ) -> None:
        """Application data in records of at most ``record_size`` bytes."""
        for start in range(0, len(data), record_size):
            self.seal(from_client, 23, data[start : start + record_size], padding=padding)

    def key_update(self, from_client: bool = True) -> None:
        """A KeyUpdate (RFC 8446 4.6.3): the sender's later records use the next traffic secret."""
        self.seal(from_client, 22, _message(24, b"\x00"))
        self.ciphers[from_client] = self.ciphers[from_client].updated()
        self.seq[from_client] = 0

    def keylog(self, *, leave_out: tuple[str, ...] = ()) -> bytes:
        """The NSS key log lines of this connection (``leave_out``: labels to omit)."""
        random = self.client_random.hex()
        return b"".join(
            f"{label} {random} {secret.hex()}\n".encode()
            for label, secret in self.secrets.items()
            if label not in leave_out
        )


class Tls12Connection(_Connection):
    """A TLS 1.0-1.2 connection: hellos and key exchange in clear, CCS, sealed Finished, application data."""

    def __init__(
        self,
        suite: int = 0xC02F,
        *,
        version: int = 0x0303,
        sni: str | None = "example.com",
        client_random: bytes | None = None,
        encrypt_then_mac: bool = False,
    ) -> None:
        super().__init__(client_random)
        etm = encrypt_then_mac
        self.version = version
        self.master = os.urandom(48)
        server_random = os.urandom(32)
        hello = build_client_hello(sni, versions=(), cipher_suites=(suite,), random=self.client_random)
        self.write(True, hello)
        done = as_records(_message(11, b"\x00\x00\x00") + _message(14, b""), 1, version)
        self.write(
            False, build_server_hello(version, suite, random=server_random, encrypt_then_mac=etm) + done
        )
        client, server = tls12_ciphers(
            SUITES[suite], self.master, self.client_random, server_random, version=version, etm=etm
        )
        self.ciphers: dict[bool, RecordCipher] = {True: client, False: server}
        self.seq = {True: 0, False: 0}
        key_exchange = as_records(_message(16, struct.pack("!H", 32) + os.urandom(32)), 1, version)
        self.write(True, key_exchange + _ccs(version))
        self.seal(True, 22, _message(20, os.urandom(12)))
        self.write(False, _ccs(version))
        self.seal(False, 22, _message(20, os.urandom(12)))

    def seal(self, from_client: bool, content_type: int, data: bytes) -> bytes:
        """Writes one record and returns it."""
        record = self.ciphers[from_client].seal(self.seq[from_client], content_type, self.version, data)
        self.seq[from_client] += 1
        self.write(from_client, record)
        return record

    def send(self, data: bytes, from_client: bool = True, *, record_size: int = RECORD_SIZE) -> None:
        """Application data in records of at most ``record_size`` bytes."""
        for start in range(0, len(data), record_size):
            self.seal(from_client, 23, data[start : start + record_size])

    def keylog(self) -> bytes:
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master.hex()}\n".encode()
