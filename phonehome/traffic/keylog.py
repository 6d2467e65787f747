"""TLS secrets in the NSS key log format: an SSLKEYLOGFILE, or a pcapng Decryption Secrets Block.

Each line is ``LABEL CLIENT_RANDOM SECRET`` in hex
(https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/,
draft-ietf-tls-keylogfile): ``CLIENT_RANDOM`` gives a TLS 1.2 (or older)
master secret, the ``*_TRAFFIC_SECRET*`` labels TLS 1.3's secrets. Keys are
found by the client random a ClientHello carried. Other labels (exporter
secrets, ``RSA`` pre-master secrets) are ignored. A key log is input the
lab supplies, yet it is read as hostile all the same: any line that is not
one of these is counted and skipped, and the whole is bounded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from phonehome.traffic.pcapfile import CaptureError

MAX_FILE = 64 << 20
"""Bytes of a key log file read (a line per secret, five per TLS 1.3 connection: ~1 KB each)."""
MAX_LINE: Final = 1024
"""Longest line parsed; a label, a random and a 48-byte secret in hex take under 200."""
MAX_CONNECTIONS = 1 << 18
"""Client randoms kept; secrets for more connections are dropped and counted."""
MAX_MISSED: Final = 1 << 16
"""Client randoms remembered as looked up in vain (to tell secrets that came after their connection)."""

SECRET_LABELS: Final = {
    "CLIENT_RANDOM": "master",
    "CLIENT_EARLY_TRAFFIC_SECRET": "client_early",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET": "client_handshake",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET": "server_handshake",
    "CLIENT_TRAFFIC_SECRET_0": "client_traffic",
    "SERVER_TRAFFIC_SECRET_0": "server_traffic",
}
"""The labels used, each to the ``Secrets`` attribute it fills."""


class KeyLogError(CaptureError):
    """A key log file that cannot be read at all (missing, unreadable, a directory)."""


@dataclass(slots=True)
class Secrets:
    """The secrets a key log holds for one connection (one client random)."""

    master: bytes | None = None
    """TLS 1.0-1.2 master secret (48 bytes)."""
    client_early: bytes | None = None
    """TLS 1.3 client_early_traffic_secret (0-RTT data)."""
    client_handshake: bytes | None = None
    server_handshake: bytes | None = None
    client_traffic: bytes | None = None
    """TLS 1.3 client_application_traffic_secret_0 (later ones follow by KeyUpdate, RFC 8446 7.2)."""
    server_traffic: bytes | None = None


class KeyLog:
    """Secrets by client random, from any number of key log texts; counts what it could not use."""

    __slots__ = ("_missed", "_secrets", "conflicts", "dropped", "late", "malformed", "secrets_read")

    def __init__(self) -> None:
        self._secrets: dict[bytes, Secrets] = {}
        self._missed: set[bytes] = set()
        self.secrets_read = 0
        """Lines that gave a secret."""
        self.malformed = 0
        """Lines with a known label that did not parse (bad hex, wrong lengths, too long)."""
        self.conflicts = 0
        """Lines that gave another value for a secret already known (the first one is kept)."""
        self.dropped = 0
        """Secrets for connections past ``MAX_CONNECTIONS``."""
        self.late = 0
        """Connections whose secrets came only after their ClientHello was read (not decrypted)."""

    def __len__(self) -> int:
        return len(self._secrets)

    def get(self, client_random: bytes) -> Secrets | None:
        """The secrets for a connection; a miss is remembered, to tell secrets that come too late."""
        found = self._secrets.get(client_random)
        if found is None and len(self._missed) < MAX_MISSED:
            self._missed.add(client_random)
        return found

    def add(self, text: bytes) -> int:
        """Reads key log lines (any line ending; blank lines and ``#`` comments skipped); returns secrets read."""
        before = self.secrets_read
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            label, _, rest = line.partition(b" ")
            field = SECRET_LABELS.get(label.decode("ascii", "replace"))
            if field is None:
                continue  # another label (EXPORTER_SECRET, RSA...): not needed for decryption
            parsed = _parse(rest, field) if len(line) <= MAX_LINE else None
            if parsed is None:
                self.malformed += 1
                continue
            self._store(field, *parsed)
        return self.secrets_read - before

    def _store(self, field: str, client_random: bytes, secret: bytes) -> None:
        secrets = self._secrets.get(client_random)
        if secrets is None:
            if len(self._secrets) >= MAX_CONNECTIONS:
                self.dropped += 1
                return
            secrets = self._secrets[client_random] = Secrets()
            if client_random in self._missed:
                self._missed.discard(client_random)
                self.late += 1
        known = getattr(secrets, field)
        if known is None:
            setattr(secrets, field, secret)
            self.secrets_read += 1
        elif known != secret:
            self.conflicts += 1

    def warnings(self, source: str = "the key log") -> list[str]:
        """What a lab should know about the secrets it gave: lines not used, secrets that came too late."""
        out = []
        if self.malformed:
            out.append(f"{source}: {self.malformed} lines with a known label did not parse and were skipped")
        if self.conflicts:
            out.append(
                f"{source}: {self.conflicts} secrets were given twice with different values (the first kept)"
            )
        if self.dropped:
            out.append(
                f"{source}: secrets for more than {MAX_CONNECTIONS} connections; later ones were dropped"
            )
        if self.late:
            out.append(
                f"secrets for {self.late} TLS connections came after their ClientHello in the capture: "
                "those connections were not decrypted (put the Decryption Secrets Block first, as "
                "editcap --inject-secrets does)"
            )
        return out


def _parse(rest: bytes, field: str) -> tuple[bytes, bytes] | None:
    """(client random, secret) from the two hex fields after a label, or None when they are not that."""
    parts = rest.split()
    if len(parts) != 2:
        return None
    try:
        client_random, secret = (
            bytes.fromhex(parts[0].decode("ascii")),
            bytes.fromhex(parts[1].decode("ascii")),
        )
    except (UnicodeDecodeError, ValueError):
        return None
    if len(client_random) != 32:
        return None
    if field == "master":
        return (client_random, secret) if len(secret) == 48 else None
    # TLS 1.3 secrets are as long as the suite's hash: SHA-256 or SHA-384 (RFC 8446 7.1).
    return (client_random, secret) if len(secret) in (32, 48) else None


def load_keylog(path: str | os.PathLike[str], keylog: KeyLog | None = None) -> tuple[KeyLog, list[str]]:
    """Reads a key log file (at most ``MAX_FILE`` bytes) into ``keylog`` (a new one by default).

    Returns it with warnings (a file cut at the bound, one with no usable line).
    Raises KeyLogError naming the file when it cannot be read at all.
    """
    keylog = keylog if keylog is not None else KeyLog()
    try:
        with Path(path).open("rb") as file:
            text = file.read(MAX_FILE + 1)
    except IsADirectoryError:
        raise KeyLogError(path, "is a directory, not a key log") from None
    except FileNotFoundError:
        raise KeyLogError(path, "no such key log file") from None
    except OSError as exc:
        raise KeyLogError(path, f"key log cannot be read: {exc.strerror or exc}") from None
    warnings = []
    if len(text) > MAX_FILE:
        text = text[: text.rfind(b"\n", 0, MAX_FILE) + 1]
        warnings.append(f"{path}: key log longer than {MAX_FILE >> 20} MB: only its start was read")
    if not keylog.add(text):
        warnings.append(f"{path}: holds no TLS secrets in the NSS key log format")
    return keylog, warnings
