"""TLS on a TCP flow, from its first record to its last: hellos, claims, and cleartext in the framing.

Used by ``tcp_session`` for TLS from a connection's start and for TLS that
begins later (after CONNECT, SOCKS or STARTTLS). With an observer, both
directions are walked to the end (the observer gets every byte anyway);
without one, the client's framing is checked for a bounded stretch after its
ClientHello and the server's up to its ServerHello, then both only count.
When the key log holds the secrets of the ClientHello's random, both
directions are decrypted to their end (``tls_decrypt``) and their plaintext
read as cleartext would be (``tls_plain``); without them nothing else runs.
"""

from __future__ import annotations

from typing import Final

from phonehome.traffic import naming
from phonehome.traffic.flow import Content, Flow, TlsHello
from phonehome.traffic.sessions import Context, anomaly, claim
from phonehome.traffic.tls import (
    CLIENT_HELLO,
    HANDSHAKE_LIMIT,
    parse_client_hello,
    parse_server_hello_message,
    parse_sslv2_hello,
)
from phonehome.traffic.tls_decrypt import TlsDecryptor
from phonehome.traffic.tls_plain import DecryptedStreams
from phonehome.traffic.tls_records import SSLV2, Cleartext, Event, HandshakeMessage, RecordWalker

CHECK_AFTER_HELLO: Final = 64 << 10
"""Without an observer: client bytes whose framing is still checked after the first ClientHello."""
SERVER_SEARCH: Final = 64 << 10
"""Server bytes searched for the start of its TLS when it begins after a proxy's or a server's reply."""
MAX_HELLOS: Final = 16
"""ClientHellos parsed per connection (a HelloRetryRequest makes two; a hostile client, many)."""


def weakest_offer(hello: TlsHello) -> int:
    """The oldest version a ClientHello offered (supported_versions, else legacy_version)."""
    offered = [v for v in hello.versions if v < 0x7F00] or [hello.legacy_version]
    return min(offered)


class TlsReader:
    """Both directions of TLS on one TCP flow, from where each began.

    The server's records are checked for framing only: reading every downloaded byte for text
    would cost more than the rest of the analysis, and the handset's own bytes are the client's.
    """

    __slots__ = (
        "client",
        "client_end",
        "client_start",
        "client_walk",
        "ctx",
        "decryptor",
        "dns_name",
        "flow",
        "hellos",
        "plain",
        "problems",
        "server",
        "server_hello",
        "server_searched",
        "server_start",
        "server_walk",
    )

    def __init__(
        self, flow: Flow, ctx: Context, dns_name: str | None, client_offset: int, server_offset: int | None
    ) -> None:
        self.flow = flow
        self.ctx = ctx
        self.dns_name = dns_name
        self.client = RecordWalker(client_offset, from_client=True)
        self.client_start = client_offset
        self.server = RecordWalker(server_offset, from_client=False) if server_offset is not None else None
        """None while the server's TLS start is still searched for (``server_offset`` None)."""
        self.server_start = server_offset
        self.server_searched = 0
        self.server_hello = False
        """A ServerHello (not a HelloRetryRequest) was parsed."""
        self.decryptor: TlsDecryptor | None = None
        """Set when the key log holds this connection's secrets."""
        self.plain: DecryptedStreams | None = None
        self.problems = 0
        """Decryption problems already recorded as anomalies."""
        self.hellos = 0
        self.client_end: int | None = None
        """Stream offset just past the first ClientHello's records, once seen."""
        self.client_walk = self.server_walk = True
        """Each direction's framing is still walked (decryption may go on after the walker stopped)."""

    # -- client ----------------------------------------------------------------------------------------

    def client_data(self, offset: int, data: bytes, frame: int) -> bool:
        """Walks client bytes; False when the client's bytes are no longer needed (no observer only)."""
        walker = self.client
        if self.client_walk:
            for event in walker.feed(offset, data):
                self._client_event(event, frame)
            if walker.gap:
                anomaly(self.flow, "TLS framing not followed past bytes lost before capture")
            self.client_walk = self._client_walk()
        if self.decryptor is not None:
            self._decrypt(True, offset, data, frame)
            if self.decryptor is not None and self.decryptor.wants(True):
                return True
        return self.client_walk

    def _client_walk(self) -> bool:
        """The client's framing is still checked: always with an observer, else for a bounded stretch."""
        walker = self.client
        if self.ctx.observer is not None:
            return True
        if walker.gap:
            return False
        if self.client_end is None:
            return walker.offset - self.client_start < HANDSHAKE_LIMIT + CHECK_AFTER_HELLO
        return walker.offset - self.client_end < CHECK_AFTER_HELLO

    def _client_event(self, event: Event, frame: int) -> None:
        flow = self.flow
        if isinstance(event, Cleartext):
            flow.cleartext_in_tls += event.length
            if event.reason == "text-record":
                anomaly(flow, "TLS records from the client read as text")
            else:
                anomaly(flow, "client bytes after TLS framing began are not TLS records")
            return
        if self.hellos >= MAX_HELLOS:
            anomaly(
                flow,
                f"more than {MAX_HELLOS} ClientHellos on one connection: later ones not read",
                unread=True,
            )
            return
        self.hellos += 1
        hello = self._parse(event)
        if self.client_end is None:
            self.client_end = self.client.offset
            if event.msg_type == CLIENT_HELLO and len(event.data) >= 38:
                self._keys(event.data[6:38], event.record_end)
        self.ctx.content(flow, True, Content("tls-clienthello", event.data, event.offset, frame))
        if hello is None:
            anomaly(flow, "a ClientHello could not be parsed", unread=True)
            return
        hello.frame = frame
        if flow.tls is None or weakest_offer(hello) < weakest_offer(flow.tls):
            flow.tls = hello
        claim(flow, hello.sni, "ech-outer" if hello.ech else "sni", frame)
        if flow.app == "tls" and naming.is_doh_resolver(hello.sni):
            flow.app = "doh"
        naming.assign(flow, self.dns_name)

    def _keys(self, client_random: bytes, record_end: int) -> None:
        """Looks the first ClientHello's random up in the key log; with secrets, decryption begins."""
        secrets = self.ctx.keys.get(client_random)
        if secrets is None:
            return
        self.decryptor = TlsDecryptor(secrets, client_random, record_end, self.ctx.pending)
        if self.server_start is not None:
            self.decryptor.start_server(self.server_start)
        self.plain = DecryptedStreams(self.flow, self.ctx, self.dns_name)

    def _decrypt(self, from_client: bool, offset: int, data: bytes, frame: int) -> None:
        decryptor, plain = self.decryptor, self.plain
        assert decryptor is not None
        assert plain is not None
        for item in decryptor.feed(from_client, offset, data, frame):
            plain.take(item)
        self._problems()
        if not decryptor.active:
            self._end_decryption()

    def _problems(self) -> None:
        if self.decryptor is not None:
            for text in self.decryptor.problems[self.problems :]:
                anomaly(self.flow, text, unread=True)
            self.problems = len(self.decryptor.problems)

    def _end_decryption(self) -> None:
        """Both directions stopped or ended: the plaintext parsers flush, and memory goes."""
        if self.plain is not None:
            self.plain.finish()
        self.decryptor = None
        self.plain = None

    def finish(self) -> None:
        """The flow ended: what is still held is decrypted or reported, and the parsers flush."""
        if self.decryptor is not None and self.plain is not None:
            for item in self.decryptor.finish():
                self.plain.take(item)
            self._problems()
        self._end_decryption()

    @staticmethod
    def _parse(event: HandshakeMessage) -> TlsHello | None:
        if event.msg_type == SSLV2:
            return parse_sslv2_hello(event.data)
        return parse_client_hello(event.data[4:])

    # -- server ----------------------------------------------------------------------------------------

    def server_data(self, offset: int, data: bytes, frame: int) -> bool:
        """Walks server bytes; False when they are no longer needed (no observer only)."""
        walker = self.server
        observer = self.ctx.observer
        if walker is None:
            start = tls_start(data)
            if start is None:
                self.server_searched += len(data)
                return observer is not None or self.server_searched < SERVER_SEARCH
            walker = self.server = RecordWalker(offset + start, from_client=False, check_text=False)
            offset, data = offset + start, data[start:]
            self.server_start = offset
            if self.decryptor is not None:
                self.decryptor.start_server(offset)
        if self.server_walk:
            self._server_events(walker.feed(offset, data))
            self.server_walk = observer is not None or (
                not (walker.gap or walker.broken) and not self.server_hello
            )
        if self.decryptor is not None:
            self._decrypt(False, offset, data, frame)
            if self.decryptor is not None and self.decryptor.wants(False):
                return True
        return self.server_walk

    def _server_events(self, events: list[Event]) -> None:
        flow = self.flow
        for event in events:
            if isinstance(event, Cleartext):
                anomaly(flow, "server bytes in TLS framing are not TLS records")
                continue
            if self.server_hello:
                continue
            hello = parse_server_hello_message(event.data[4:])
            if hello is None:
                continue
            if flow.tls_server_version is None:
                flow.tls_server_version = hello.version
            if not hello.retry:
                self.server_hello = True
                flow.tls_cipher_suite = hello.cipher_suite
            if self.decryptor is not None:
                self.decryptor.server_hello(hello)


def tls_start(data: bytes) -> int | None:
    """Where a server's first TLS handshake record (a ServerHello) begins in ``data``, if it does.

    After CONNECT, SOCKS or STARTTLS the server's reply precedes it, often in the same segment.
    """
    pos = data.find(b"\x16\x03")
    while 0 <= pos <= len(data) - 6:
        if data[pos + 2] <= 4 and data[pos + 5] == 2:
            return pos
        pos = data.find(b"\x16\x03", pos + 1)
    return None
