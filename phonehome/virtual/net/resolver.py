"""DNS lookups through the lease's resolver, from the handset's namespace (dnspython messages).

Android's resolver asks the network's DNS server over UDP port 53; so does
this one, with messages built and parsed by dnspython. The transport is ours
(a socket created in the handset namespace, used from its loop), because
dnspython's asyncio transport opens its own sockets in whatever namespace
the calling thread is in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from phonehome.virtual.net.sockets import close_quietly, udp_socket

MAX_REPLY = 65535


class ResolveError(OSError):
    """A lookup that got no usable answer in time; the message names the name and the server."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One question and what the resolver said."""

    name: str
    rdtype: str
    rcode: str
    addresses: tuple[str, ...] = ()
    records: tuple[str, ...] = field(default_factory=tuple)
    """Every answer record as text (CNAMEs, TXT...)."""
    elapsed_s: float = 0.0


async def query(
    netns: str, server: str, name: str, rdtype: str = "A", *, timeout: float = 5.0, tries: int = 2
) -> Answer:
    """Asks ``server`` about ``name``; each try waits ``timeout / tries``; `ResolveError` on silence."""
    kind = dns.rdatatype.from_text(rdtype)
    message = dns.message.make_query(name, kind)
    wire = message.to_wire()
    loop = asyncio.get_running_loop()
    sock = udp_socket(netns, server)
    started = time.monotonic()
    try:
        await loop.sock_connect(sock, (server, 53))
        per_try = timeout / max(tries, 1)
        for _attempt in range(max(tries, 1)):
            await loop.sock_sendall(sock, wire)
            deadline = time.monotonic() + per_try
            while (left := deadline - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, MAX_REPLY), left)
                except TimeoutError:
                    break
                answer = parse_reply(message, data, time.monotonic() - started)
                if answer is not None:
                    return answer
    except ConnectionRefusedError as exc:
        raise ResolveError(f"{server}:53 refused the lookup of {name} ({exc})") from exc
    finally:
        close_quietly(sock)
    raise ResolveError(f"no answer from {server}:53 for {name} {rdtype} within {timeout:g} s")


def parse_reply(query: dns.message.Message, data: bytes, elapsed: float = 0.0) -> Answer | None:
    """The answer to ``query`` in datagram ``data``; None for garbage or a reply to something else."""
    try:
        reply = dns.message.from_wire(data)
        if not query.is_response(reply):
            return None
        question = query.question[0]
        return _answer(
            question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype), reply, elapsed
        )
    except (dns.exception.DNSException, ValueError, TypeError, IndexError, UnicodeError):
        return None  # hostile or broken bytes from the network are not an answer


def _answer(name: str, rdtype: str, reply: dns.message.Message, elapsed: float) -> Answer:
    addresses, records = [], []
    for rrset in reply.answer:
        for rdata in rrset:
            records.append(f"{dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}")
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                addresses.append(rdata.to_text())
    return Answer(
        name,
        rdtype,
        dns.rcode.to_text(reply.rcode()),
        tuple(addresses),
        tuple(records),
        elapsed,
    )
