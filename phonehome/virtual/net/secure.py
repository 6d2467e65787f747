"""Encrypted transports as the firmware's stacks open them: TLS (Python's ssl) and QUIC v1 (aioquic).

Both produce real ClientHellos with the server name and ALPN the profile
declares, so the analyzer sees what it would see from a phone. A sinkhole
bench ends TLS after the ClientHello and never answers QUIC; that is a
handshake that failed, not an error of the handset. A bench that validates or
intercepts TLS presents certificates: the app's checks (`Checks`) decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from phonehome.virtual.net import truststore
from phonehome.virtual.net.httpclient import MAX_HEAD
from phonehome.virtual.net.sockets import close_quietly, udp_socket


def client_context(alpn: list[str]) -> ssl.SSLContext:
    """A client context as a current Android offers: TLS 1.2 and 1.3, the system's CAs, ALPN."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


@dataclass(frozen=True, slots=True)
class Checks:
    """What the app checks of the server (`truststore.client_context`): the handset's CAs in PEM,
    ``full``/``no-hostname``/``any-certificate``, and its pins."""

    cadata: str = ""
    validation: str = "full"
    pins: tuple[str, ...] = ()


async def start_tls(
    sock: socket.socket,
    address: str,
    *,
    sni: str | None,
    alpn: list[str],
    timeout: float,
    checks: Checks | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TLS over the connected ``sock``: its ClientHello names ``sni``; ``ssl.SSLError`` when refused.

    Without an SNI (an IP literal) the address is the name checked against the
    certificate, and Python's ssl sends no server_name extension for it. With
    ``checks`` the handset's own trust store and the app's checks decide (else
    the host's CAs, as before there were any); a pin that does not match hangs
    up right after the handshake, before any byte of data (``PinMismatch``).
    """
    context = (
        client_context(alpn)
        if checks is None
        else truststore.client_context(alpn, checks.validation, checks.cadata)
    )
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                sock=sock,
                ssl=context,
                server_hostname=sni or address,
                ssl_handshake_timeout=timeout,
                limit=MAX_HEAD,
            ),
            timeout,
        )
    except BaseException:
        close_quietly(sock)
        raise
    if checks is not None and checks.pins:
        tls = writer.get_extra_info("ssl_object")
        try:
            truststore.check_pins(tls.getpeercert(binary_form=True) if tls else None, list(checks.pins))
        except truststore.PinMismatch:
            await close_writer(writer)
            raise
    return reader, writer


async def close_writer(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), timeout)


async def quic_initial(
    netns: str,
    address: str,
    port: int,
    *,
    sni: str | None,
    alpn: list[str],
    timeout: float,
    wait_reply: bool = False,
) -> int:
    """Sends a QUIC v1 client's first flight (Initial packets carrying the ClientHello); returns bytes sent.

    With ``wait_reply`` it waits up to ``timeout`` for any datagram back and
    raises TimeoutError when none comes (a sinkhole never answers).
    """
    configuration = QuicConfiguration(is_client=True, alpn_protocols=alpn or None, server_name=sni)
    connection = QuicConnection(configuration=configuration)
    now = time.monotonic()
    connection.connect((address, port), now=now)
    loop = asyncio.get_running_loop()
    sock = udp_socket(netns, address)
    sent = 0
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
        for datagram, _addr in connection.datagrams_to_send(now=now):
            await asyncio.wait_for(loop.sock_sendall(sock, datagram), timeout)
            sent += len(datagram)
        if wait_reply:
            await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
    finally:
        close_quietly(sock)
    return sent
