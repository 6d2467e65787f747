"""`HandsetNetwork`: the handset's side of a bench port (its namespace, interface and lease).

It takes a lease by real DHCP, knows its address, router and DNS server,
and resolves names through that server. Every operation has a deadline and
raises OSError (or a subclass) on failure; callers (the firmware engine) log
failures and carry on, as a phone's apps do.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from phonehome.virtual.net import dhcp, resolver
from phonehome.virtual.net.dhcp import Lease
from phonehome.virtual.net.resolver import Answer


class NetworkDown(OSError):
    """The handset has no lease (not attached yet, or detached)."""


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HandsetNetwork:
    """The network a handset is attached to: namespace ``netns``, interface ``ifname``.

    Methods are coroutines for the handset's loop. ``ready`` is set while a
    lease is held (created lazily on the loop that first uses it).
    """

    def __init__(self, netns: str, ifname: str, workdir: Path) -> None:
        self.netns = netns
        self.ifname = ifname
        self.workdir = workdir
        self.lease: Lease | None = None
        self._ready: asyncio.Event | None = None
        self._naming: asyncio.Lock | None = None

    def __repr__(self) -> str:
        ip = self.lease.ip if self.lease else "no lease"
        return f"<HandsetNetwork {self.netns}/{self.ifname} {ip}>"

    @property
    def ready(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    @property
    def naming(self) -> asyncio.Lock:
        """Held from a lookup until the first packet of the flow it was for has left.

        A sinkhole bench answers every name with the same address, and the
        analyzer names a flow by the latest answer its client got for that
        address; a lookup of another name in between would rename the flow.
        """
        if self._naming is None:
            self._naming = asyncio.Lock()
        return self._naming

    async def attach(self, *, hostname: str | None, vendor_class: str | None, timeout: float = 15.0) -> Lease:
        """Takes a lease (DHCP); the interface has its address and default route when this returns."""
        lease = await dhcp.obtain(
            self.netns,
            self.ifname,
            self.workdir,
            hostname=hostname,
            vendor_class=vendor_class,
            timeout=timeout,
        )
        self.lease = lease
        self.ready.set()
        return lease

    def detach(self) -> None:
        """Forgets the lease (the link went down); operations wait or fail until the next attach."""
        self.lease = None
        self.ready.clear()

    async def wait_ready(self, timeout: float) -> Lease:
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError as exc:
            raise NetworkDown(f"{self!r}: no network within {timeout:g} s") from exc
        return self.require()

    def require(self) -> Lease:
        if self.lease is None:
            raise NetworkDown(f"{self!r}: not attached (no lease)")
        return self.lease

    async def lookup(self, name: str, rdtype: str = "A", timeout: float = 5.0) -> Answer:
        """One DNS question to the lease's resolver."""
        lease = self.require()
        if lease.resolver is None:
            raise NetworkDown(f"{self!r}: the lease names no DNS server")
        return await resolver.query(self.netns, lease.resolver, name, rdtype, timeout=timeout)

    async def address_of(self, host: str, timeout: float = 5.0) -> str:
        """``host`` itself when it is an IP literal (no lookup), else its first A record."""
        bare = host.strip("[]")
        if is_address(bare):
            return bare
        answer = await self.lookup(host, "A", timeout)
        if not answer.addresses:
            raise resolver.ResolveError(f"{host} has no address ({answer.rcode})")
        return answer.addresses[0]
