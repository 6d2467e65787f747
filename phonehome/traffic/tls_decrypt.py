"""Both directions of one TLS connection decrypted with a key log's secrets, record by record, to their end.

Fed the same stream bytes as the record walker, from the record after the
first ClientHello (client) and from the ServerHello (server); the hellos
themselves come from ``tls_session``. TLS 1.3: the handshake secrets until
each side's Finished, then traffic secret 0, the next one after each
KeyUpdate (RFC 8446 7.2); early data with the early secret when the log has
it. TLS 1.0-1.2: the keys from the master secret after each side's
ChangeCipherSpec. A record that does not authenticate, a secret the key log
lacks, a suite that cannot be decrypted, lost bytes or framing stop that
direction, and ``problems`` says why: never a guess, never an exception.
Memory: one record and a bounded backlog per direction, the backlogs of all
connections within the analysis' shared budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonehome.traffic.keylog import Secrets
from phonehome.traffic.tcp import Budget
from phonehome.traffic.tls import ServerHello
from phonehome.traffic.tls_crypto import (
    SUITES,
    RecordCipher,
    Suite,
    Tls13Cipher,
    inner_plaintext,
    tls12_ciphers,
)
from phonehome.traffic.tls_records import RECORD_MAX, RECORD_TYPES

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
FINISHED, KEY_UPDATE, END_OF_EARLY_DATA = 20, 24, 5
BACKLOG_LIMIT = 64 << 10
"""Record bytes of one direction held until the ServerHello says how to read them."""
_PLAIN, _ENCRYPTED, _STOPPED = range(3)


@dataclass(frozen=True, slots=True)
class Plaintext:
    """The content of one decrypted record."""

    from_client: bool
    content_type: int
    """The real content type (TLS 1.3: the inner one): 23 application data, 22 handshake, 21 alert."""
    data: bytes
    offset: int
    """Stream offset of the ciphertext this content was sealed into (plaintext byte i sat at offset + i)."""
    frame: int
    """The frame that completed the record."""


class _Direction:
    """One direction: record framing, keys, sequence number, the handshake messages it decrypted."""

    __slots__ = (
        "backlog",
        "backlog_bytes",
        "buf",
        "buf_offset",
        "cipher",
        "clear_hellos",
        "early",
        "early_seq",
        "from_client",
        "hs_head",
        "hs_left",
        "offset",
        "phase",
        "seq",
        "traffic",
    )

    def __init__(self, from_client: bool, offset: int) -> None:
        self.from_client = from_client
        self.offset = offset
        """Stream offset of the next byte expected."""
        self.buf = bytearray()
        self.buf_offset = offset
        self.phase = _PLAIN
        self.cipher: RecordCipher | None = None
        self.seq = 0
        self.traffic = False
        """TLS 1.3: the cipher is a traffic secret's (after Finished), not the handshake secret's."""
        self.early: Tls13Cipher | None = None
        """TLS 1.3 client: the early-data cipher, tried while no handshake record has authenticated."""
        self.early_seq = 0
        self.backlog: list[tuple[int, bytes, bytes, int]] = []
        """Records held until the ServerHello is known: (offset, header, fragment, frame)."""
        self.backlog_bytes = 0
        self.hs_head = bytearray()
        self.hs_left = 0
        self.clear_hellos = 0
        """TLS 1.3: handshake records in clear after this direction's decryption began."""

    def records(self, offset: int, data: bytes, frame: int) -> list[tuple[int, bytes, bytes, int]] | str:
        """The whole records ``data`` completes, or why the framing cannot be followed."""
        if offset != self.offset:
            if offset > self.offset:
                return "bytes were lost before capture"
            data = data[self.offset - offset :]
            if not data:
                return []
        self.offset += len(data)
        buf = self.buf
        buf += data
        out = []
        pos = 0
        while len(buf) - pos >= 5:
            length = (buf[pos + 3] << 8) | buf[pos + 4]
            if buf[pos] not in RECORD_TYPES or buf[pos + 1] != 3 or length > RECORD_MAX:
                return "bytes that form no TLS record"
            end = pos + 5 + length
            if end > len(buf):
                break
            out.append((self.buf_offset + pos, bytes(buf[pos : pos + 5]), bytes(buf[pos + 5 : end]), frame))
            pos = end
        del buf[:pos]
        self.buf_offset += pos
        return out

    def handshake_done(self, content: bytes) -> list[int]:
        """Types of the handshake messages whose last byte ``content`` holds (bodies are not kept)."""
        done = []
        pos, n = 0, len(content)
        while pos < n:
            if self.hs_left == 0:
                take = min(4 - len(self.hs_head), n - pos)
                self.hs_head += content[pos : pos + take]
                pos += take
                if len(self.hs_head) < 4:
                    break
                self.hs_left = int.from_bytes(self.hs_head[1:4], "big")
                if self.hs_left == 0:
                    done.append(self.hs_head[0])
                    self.hs_head = bytearray()
                continue
            take = min(self.hs_left, n - pos)
            pos += take
            self.hs_left -= take
            if self.hs_left == 0:
                done.append(self.hs_head[0])
                self.hs_head = bytearray()
        return done

    def rekey(self, cipher: RecordCipher | None) -> None:
        self.cipher = cipher
        self.seq = 0
        self.hs_head = bytearray()
        self.hs_left = 0


class TlsDecryptor:
    """Decrypts one connection from its key log secrets; ``problems`` lists why a direction stopped."""

    __slots__ = (
        "budget",
        "client",
        "client_random",
        "hello",
        "problems",
        "retried",
        "secrets",
        "server",
        "suite",
        "tls12",
    )

    def __init__(
        self, secrets: Secrets, client_random: bytes, client_offset: int, budget: Budget | None = None
    ) -> None:
        self.secrets = secrets
        self.budget = budget if budget is not None else Budget(BACKLOG_LIMIT * 2)
        """Bytes held back across connections (the analysis shares one with TCP's out-of-order data)."""
        self.client_random = client_random
        self.client = _Direction(True, client_offset)
        self.server: _Direction | None = None
        self.hello: ServerHello | None = None
        self.suite: Suite | None = None
        self.retried = False
        """A HelloRetryRequest came: one more hello in clear from each side."""
        self.tls12: tuple[RecordCipher, RecordCipher] | None = None
        """TLS 1.0-1.2: the (client's, server's) record protection, taken up at each side's CCS."""
        self.problems: list[str] = []
        """Why decryption stopped, one line per direction and cause (each means bytes left unread)."""

    def start_server(self, offset: int) -> None:
        """The server's TLS begins at ``offset`` (its ServerHello record)."""
        if self.server is None:
            self.server = _Direction(False, offset)

    def server_hello(self, hello: ServerHello) -> None:
        """The ServerHello (a HelloRetryRequest is not one: the real one follows it)."""
        if hello.retry:
            self.retried = True
        if self.hello is not None or hello.retry:
            return
        self.hello = hello
        suite = SUITES.get(hello.cipher_suite) if hello.cipher_suite is not None else None
        tls13 = hello.version >= 0x0304
        if suite is None or suite.tls13 != tls13 or hello.version < 0x0301:
            what = f"0x{hello.cipher_suite:04x}" if hello.cipher_suite is not None else "unknown"
            self._stop_all(f"cipher suite {what} (version 0x{hello.version:04x}) cannot be decrypted")
            return
        self.suite = suite
        if tls13:
            if self.secrets.client_early is not None:
                self.client.early = Tls13Cipher(self.secrets.client_early, suite)
            return
        if self.secrets.master is None:
            self._stop_all("the key log has no CLIENT_RANDOM master secret for this TLS 1.2 connection")
            return
        self.tls12 = tls12_ciphers(
            suite,
            self.secrets.master,
            self.client_random,
            hello.random,
            version=hello.version,
            etm=hello.encrypt_then_mac,
        )

    @property
    def active(self) -> bool:
        """Either direction still decrypts (or waits for what it needs)."""
        return any(d is not None and d.phase != _STOPPED for d in (self.client, self.server))

    def wants(self, from_client: bool) -> bool:
        direction = self.client if from_client else self.server
        return direction is None or direction.phase != _STOPPED

    # -- records ---------------------------------------------------------------------------------------

    def feed(self, from_client: bool, offset: int, data: bytes, frame: int) -> list[Plaintext]:
        """Stream bytes of one direction; returns what they (and records held back before) decrypted to."""
        out: list[Plaintext] = []
        direction = self.client if from_client else self.server
        if direction is None or direction.phase == _STOPPED:
            return out
        if self.hello is not None:
            self._drain(out)
        found = direction.records(offset, data, frame)
        if isinstance(found, str):
            self._stop(direction, f"{found}: the rest was not decrypted")
            return out
        for record in found:
            if direction.phase == _STOPPED:
                break
            self._record(direction, record, out)
        return out

    def _drain(self, out: list[Plaintext]) -> None:
        for direction in (self.client, self.server):
            if direction is not None and direction.backlog:
                self.budget.used -= direction.backlog_bytes
                held, direction.backlog, direction.backlog_bytes = direction.backlog, [], 0
                for record in held:
                    if direction.phase != _STOPPED:
                        self._record(direction, record, out)

    def _record(
        self, direction: _Direction, record: tuple[int, bytes, bytes, int], out: list[Plaintext]
    ) -> None:
        hello = self.hello
        if hello is None:
            size = len(record[2]) + 5
            direction.backlog.append(record)
            direction.backlog_bytes += size
            self.budget.used += size
            if direction.backlog_bytes > BACKLOG_LIMIT:
                self._stop(
                    direction, f"no ServerHello within {BACKLOG_LIMIT >> 10} KB: the rest was not decrypted"
                )
            elif self.budget.used > self.budget.limit:
                self._stop(direction, "no ServerHello yet, and the analysis holds all the records it can")
            return
        ctype = record[1][0]
        tls13 = hello.version >= 0x0304
        if direction.phase == _PLAIN:
            if tls13 and ctype == APPLICATION_DATA:
                secret = (
                    self.secrets.client_handshake if direction.from_client else self.secrets.server_handshake
                )
                if secret is None or self.suite is None:
                    label = "CLIENT" if direction.from_client else "SERVER"
                    self._stop(
                        direction, f"the key log has no {label}_HANDSHAKE_TRAFFIC_SECRET for this connection"
                    )
                    return
                direction.phase = _ENCRYPTED
                direction.rekey(Tls13Cipher(secret, self.suite))
            elif not tls13 and ctype == CHANGE_CIPHER_SPEC:
                direction.phase = _ENCRYPTED
                if self.tls12 is not None:
                    direction.rekey(self.tls12[0 if direction.from_client else 1])
                return
            elif not tls13 and ctype == APPLICATION_DATA:
                self._stop(direction, "application data before ChangeCipherSpec cannot be decrypted")
                return
            else:
                if tls13 and ctype == HANDSHAKE:
                    # TLS 1.3 sends in clear only the hellos (RFC 8446 2): the server's ServerHello (and its
                    # HelloRetryRequest), the client's second ClientHello; anything more is not for decryption.
                    direction.clear_hellos += 1
                    allowed = (1 if self.retried else 0) + (0 if direction.from_client else 1)
                    if direction.clear_hellos > allowed:
                        side = "client" if direction.from_client else "server"
                        self._note(
                            f"TLS 1.3 handshake records from the {side} in clear past its hello: not read"
                        )
                return  # a hello, an alert or a CCS in clear: the record walker reads those
        elif tls13 and ctype != APPLICATION_DATA:
            if ctype == CHANGE_CIPHER_SPEC and record[2] == b"\x01" and not direction.traffic:
                return  # RFC 8446 D.4: a compatibility CCS, never protected
            side = "client" if direction.from_client else "server"
            self._note(
                f"a TLS 1.3 record of type {ctype} from the {side} in clear after encryption began: not read"
            )
            return
        self._open(direction, record, tls13, out)

    def _open(
        self, direction: _Direction, record: tuple[int, bytes, bytes, int], tls13: bool, out: list[Plaintext]
    ) -> None:
        offset, header, fragment, frame = record
        cipher = direction.cipher
        if cipher is None:
            self._stop(direction, "no keys for the records after ChangeCipherSpec")
            return
        plain = cipher.open(direction.seq, header, fragment)
        early = False
        if plain is None and direction.early is not None:
            plain = direction.early.open(direction.early_seq, header, fragment)
            early = plain is not None
        if plain is None:
            side = "client" if direction.from_client else "server"
            self._stop(
                direction,
                f"a record from the {side} at offset {offset} did not authenticate with the key log's "
                "secrets (wrong or stale keys?): the rest was not decrypted",
            )
            return
        if early:
            direction.early_seq += 1
        else:
            direction.seq += 1
            direction.early = None  # the handshake keys authenticated: early data is over
        ctype = header[0]
        content = plain
        if tls13:
            inner = inner_plaintext(plain)
            if inner is None:
                self._stop(direction, "a TLS 1.3 record without a content type: the rest was not decrypted")
                return
            ctype, content = inner
        out.append(Plaintext(direction.from_client, ctype, content, offset + 5 + cipher.explicit, frame))
        if early:
            return
        if ctype == HANDSHAKE:
            self._handshake(direction, direction.handshake_done(content), tls13)
        elif ctype == CHANGE_CIPHER_SPEC and not tls13:
            self._stop(direction, "the connection was renegotiated: the records after it were not decrypted")

    def _handshake(self, direction: _Direction, done: list[int], tls13: bool) -> None:
        if not tls13 or self.suite is None:
            return
        for msg_type in done:
            if msg_type == FINISHED and not direction.traffic:
                secret = self.secrets.client_traffic if direction.from_client else self.secrets.server_traffic
                if secret is None:
                    label = "CLIENT" if direction.from_client else "SERVER"
                    self._stop(direction, f"the key log has no {label}_TRAFFIC_SECRET_0 for this connection")
                    return
                direction.traffic = True
                direction.rekey(Tls13Cipher(secret, self.suite))
            elif msg_type == KEY_UPDATE and direction.traffic and isinstance(direction.cipher, Tls13Cipher):
                direction.rekey(direction.cipher.updated())

    # -- end -------------------------------------------------------------------------------------------

    def finish(self) -> list[Plaintext]:
        """The flow ended: what the backlog still decrypts; a record cut short is a problem."""
        out: list[Plaintext] = []
        if self.hello is not None:
            self._drain(out)
        for direction in (self.client, self.server):
            if direction is None or direction.phase == _STOPPED:
                continue
            if direction.backlog and any(r[1][0] == APPLICATION_DATA for r in direction.backlog):
                self._stop(
                    direction, "no ServerHello was seen: the client's protected records were not decrypted"
                )
            elif direction.buf:
                self._stop(direction, "a record cut by the end of the flow was not decrypted")
            self._release(direction)
        return out

    def _note(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def _release(self, direction: _Direction) -> None:
        direction.phase = _STOPPED
        direction.buf = bytearray()
        direction.backlog = []
        self.budget.used -= direction.backlog_bytes
        direction.backlog_bytes = 0

    def _stop(self, direction: _Direction, why: str) -> None:
        self._release(direction)
        side = "client" if direction.from_client else "server"
        text = f"TLS decryption of the {side}'s records stopped: {why}"
        if text not in self.problems:
            self.problems.append(text)

    def _stop_all(self, why: str) -> None:
        for direction in (self.client, self.server):
            if direction is not None:
                self._release(direction)
        if self.server is None:
            self.server = _Direction(False, 0)
            self.server.phase = _STOPPED
        text = f"TLS decryption stopped: {why}"
        if text not in self.problems:
            self.problems.append(text)
