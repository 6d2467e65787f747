"""Sockets of the handset: created inside its network namespace, used from its asyncio loop.

A socket belongs to the namespace it was created in, whatever thread uses it
later (setns(2) is per thread, so creation switches and switches back under a
lock; ``phonehome.virtual.services.socket_in_namespace``). Nothing here calls
the host's resolver: every name is looked up through the lease's DNS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from phonehome.virtual.services import socket_in_namespace


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def udp_socket(netns: str, address: str) -> socket.socket:
    """A non-blocking UDP socket in ``netns`` for talking to ``address``."""
    sock = socket_in_namespace(netns, family_of(address), socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


async def connect_tcp(netns: str, address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection from ``netns`` to ``address:port`` within ``timeout`` seconds."""
    sock = socket_in_namespace(netns, family_of(address), socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
