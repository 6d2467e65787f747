"""Shared by the TLS decryption tests: sealed connections as TCP conversations, and their key logs."""

from __future__ import annotations

from phonehome.traffic.factory import TcpConversation
from phonehome.traffic.keylog import KeyLog
from phonehome.traffic.tls_build import Tls12Connection, Tls13Connection

HANDSET = ("10.0.0.2", 40000)
SERVER = ("198.51.100.7", 443)
IMEI = "490154203237518"
REQUEST = (
    b"POST /register HTTP/1.1\r\nHost: reg.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 20\r\n\r\nimei=" + IMEI.encode()
)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def converse(
    tls: Tls13Connection | Tls12Connection, conv: TcpConversation | None = None, **sending: object
) -> TcpConversation:
    """Sends what ``tls`` wrote since the last call, flight by flight, on ``conv`` (a new connection by default)."""
    if conv is None:
        conv = TcpConversation(HANDSET, SERVER).handshake()
    for from_client, data in tls.flights():
        conv.send(data, from_client, **sending)  # type: ignore[arg-type]
    return conv


def keys(*texts: bytes) -> KeyLog:
    log = KeyLog()
    for text in texts:
        log.add(text)
    return log


def posted(
    tls: Tls13Connection | Tls12Connection, conv: TcpConversation | None = None, **sending: object
) -> TcpConversation:
    """A connection whose client posts the IMEI and whose server answers, then closes."""
    conv = converse(tls, conv, **sending)
    tls.send(REQUEST)
    tls.send(RESPONSE, False)
    return converse(tls, conv, **sending).close()
