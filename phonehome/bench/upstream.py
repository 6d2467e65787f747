"""nat: the real resolvers the bench's resolver asks, and where their addresses come from.

The bench's resolver stays the only DNS server a handset can reach; in nat mode
it asks these on the handset's behalf (a few worker threads, a bounded queue)
and relays and logs what they answer.
"""

from __future__ import annotations

import concurrent.futures.thread  # imported now: after dropping root the interpreter may be unreadable
import ipaddress
import threading
from collections.abc import Callable
from typing import Any

import dns.exception
import dns.message
import dns.query

from phonehome.bench.resolver import Answer, Question, relay

FORWARD_WORKERS = 8
FORWARD_PENDING = 256
"""Questions waiting for an upstream at once; more get SERVFAIL at once (a flood does not queue up)."""
UPSTREAM_TIMEOUT_S = 3.0


class Upstream:
    """nat: asks the real resolvers in worker threads; answers come back through ``done``."""

    def __init__(
        self, servers: list[tuple[str, int]], done: Callable[[Any, Question, float, Answer], None]
    ) -> None:
        self.servers = servers
        self.done = done
        self.pool = concurrent.futures.thread.ThreadPoolExecutor(
            FORWARD_WORKERS, thread_name_prefix="upstream"
        )
        self.pending = 0
        self.lock = threading.Lock()

    def submit(self, target: Any, question: Question, ts: float, proto: str) -> bool:
        with self.lock:
            if self.pending >= FORWARD_PENDING:
                return False
            self.pending += 1
        self.pool.submit(self._ask, target, question, ts, proto)
        return True

    def _ask(self, target: Any, question: Question, ts: float, proto: str) -> None:
        try:
            answer = relay(question, self._query(question), proto)
        finally:
            with self.lock:
                self.pending -= 1
        self.done(target, question, ts, answer)

    def _query(self, question: Question) -> dns.message.Message | None:
        query = dns.message.make_query(question.name, question.rdtype, question.rdclass, use_edns=0)
        for server, port in self.servers:
            try:
                response, _tcp = dns.query.udp_with_fallback(query, server, UPSTREAM_TIMEOUT_S, port)
                return response
            except (dns.exception.DNSException, OSError, ValueError, EOFError):
                continue
        return None


def host_resolvers(resolv_conf: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf that are not loopback (the router cannot reach those)."""
    servers = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                address = ipaddress.ip_address(parts[1].split("%", 1)[0])
            except ValueError:
                continue
            if not address.is_loopback and not address.is_link_local:
                servers.append(str(address))
    return servers


def upstream_address(text: str) -> tuple[str, int]:
    """``192.0.2.53`` or, with another port, ``192.0.2.53#5353`` (dnsmasq's way of writing it)."""
    address, _, port = text.partition("#")
    return str(ipaddress.ip_address(address)), int(port or 53)
