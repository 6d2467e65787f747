"""``ip`` and ``ifconfig``: the handset's interfaces, with its own MAC and the addresses it really has.

The Wi-Fi interface is reported as ``wlan0`` with the handset's MAC (its
identity); its IPv4/IPv6 addresses are read from the handset's network
namespace (the interface named like the profile's, else the first that is not
loopback), so ``ip addr`` shows the DHCP lease the bench gave it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field

from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.state import HandsetState

log = logging.getLogger(__name__)
NETLINK_TIMEOUT_S = 5.0


@dataclass
class Addresses:
    ipv4: list[tuple[str, int]] = field(default_factory=list)  # (address, prefix length)
    ipv6: list[tuple[str, int]] = field(default_factory=list)
    up: bool = False


def _read_namespace(netns: str, wanted: str) -> Addresses:
    from pyroute2 import IPRoute  # noqa: PLC0415  (only handsets with a namespace need it)

    with IPRoute(netns=netns) as ipr:
        links = {link["index"]: link for link in ipr.get_links()}
        chosen = None
        for index, link in links.items():
            name = link.get_attr("IFLA_IFNAME")
            if name == wanted:
                chosen = index
        if chosen is None:
            chosen = next((i for i, link in links.items() if link.get_attr("IFLA_IFNAME") != "lo"), None)
        if chosen is None:
            return Addresses()
        out = Addresses(up=bool(links[chosen]["flags"] & 1))
        for addr in ipr.get_addr(index=chosen):
            value = addr.get_attr("IFA_ADDRESS")
            if addr["family"] == 2:
                out.ipv4.append((value, addr["prefixlen"]))
            else:
                out.ipv6.append((value, addr["prefixlen"]))
        return out


class NetCommands:
    def __init__(self, state: HandsetState) -> None:
        self.state = state

    async def addresses(self) -> Addresses:
        """Addresses of the Wi-Fi interface; none without a namespace or when Wi-Fi is off."""
        if self.state.netns is None or not self.state.wifi.enabled:
            return Addresses(up=self.state.wifi.enabled)
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(_read_namespace, self.state.netns, self.state.profile.wifi_interface),
                NETLINK_TIMEOUT_S,
            )
        except Exception as exc:  # a vanished namespace must not break the shell
            log.debug("reading addresses in %s failed: %s", self.state.netns, exc)
            return Addresses()

    def _ifname(self) -> str:
        return self.state.profile.wifi_interface

    async def ip(self, inv: Invocation) -> int:
        args = [a for a in inv.args if a not in ("-4", "-6", "-o")]
        family = "4" if "-4" in inv.args else "6" if "-6" in inv.args else ""
        obj = args[0] if args else ""
        rest = [a for a in args[1:] if a not in ("show", "list", "dev")]
        if obj in ("a", "addr", "address", "l", "link"):
            wanted = rest[0] if rest else None
            names = ["lo", self._ifname()]
            if wanted and wanted not in names:
                await inv.err(f'Device "{wanted}" does not exist.\n')
                return 1
            addrs = await self.addresses()
            for name in names:
                if wanted in (None, name):
                    await inv.out(
                        self._ip_block(name, addrs, with_addresses=obj.startswith("a"), family=family)
                    )
            return 0
        if obj in ("r", "route"):
            addrs = await self.addresses()
            for address, prefix in addrs.ipv4:
                net = ipaddress.ip_interface(f"{address}/{prefix}").network
                await inv.out(f"{net} dev {self._ifname()} proto kernel scope link src {address}\n")
            return 0
        await inv.err(f'Object "{obj}" is unknown, try "ip help".\n')
        return 255

    def _ip_block(self, name: str, addrs: Addresses, with_addresses: bool, family: str) -> str:
        if name == "lo":
            lines = [
                "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000",
                "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
            ]
            if with_addresses:
                if family != "6":
                    lines += [
                        "    inet 127.0.0.1/8 scope host lo",
                        "       valid_lft forever preferred_lft forever",
                    ]
                if family != "4":
                    lines += [
                        "    inet6 ::1/128 scope host ",
                        "       valid_lft forever preferred_lft forever",
                    ]
            return "\n".join(lines) + "\n"
        state = "UP" if addrs.up else "DOWN"
        flags = "<BROADCAST,MULTICAST,UP,LOWER_UP>" if addrs.up else "<BROADCAST,MULTICAST>"
        lines = [
            f"3: {name}: {flags} mtu 1500 qdisc mq state {state} group default qlen 3000",
            f"    link/ether {self.state.wifi_mac} brd ff:ff:ff:ff:ff:ff",
        ]
        if with_addresses:
            if family != "6":
                for address, prefix in addrs.ipv4:
                    brd = ipaddress.ip_interface(f"{address}/{prefix}").network.broadcast_address
                    lines += [
                        f"    inet {address}/{prefix} brd {brd} scope global {name}",
                        "       valid_lft forever preferred_lft forever",
                    ]
            if family != "4":
                for address, prefix in addrs.ipv6:
                    scope = "link" if address.startswith("fe80") else "global"
                    lines += [
                        f"    inet6 {address}/{prefix} scope {scope} ",
                        "       valid_lft forever preferred_lft forever",
                    ]
        return "\n".join(lines) + "\n"

    async def ifconfig(self, inv: Invocation) -> int:
        wanted = inv.args[0] if inv.args else None
        if wanted not in (None, self._ifname(), "lo"):
            await inv.err(f"ifconfig: {wanted}: No such device\n")
            return 1
        addrs = await self.addresses()
        if wanted in (None, "lo"):
            await inv.out(
                "lo        Link encap:Local Loopback\n          inet addr:127.0.0.1  Mask:255.0.0.0 \n"
                "          inet6 addr: ::1/128 Scope: Host\n          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n\n"
            )
        if wanted in (None, self._ifname()):
            lines = [f"{self._ifname():<9} Link encap:Ethernet  HWaddr {self.state.wifi_mac}  Driver icnss"]
            for address, prefix in addrs.ipv4:
                iface = ipaddress.ip_interface(f"{address}/{prefix}")
                lines.append(
                    f"          inet addr:{address}  Bcast:{iface.network.broadcast_address}  Mask:{iface.netmask} "
                )
            for address, prefix in addrs.ipv6:
                scope = "Link" if address.startswith("fe80") else "Global"
                lines.append(f"          inet6 addr: {address}/{prefix} Scope: {scope}")
            flags = "UP BROADCAST RUNNING MULTICAST" if addrs.up else "BROADCAST MULTICAST"
            lines += [
                f"          {flags}  MTU:1500  Metric:1",
                "          RX packets:0 errors:0 dropped:0 overruns:0 frame:0 ",
                "          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0 ",
                "          collisions:0 txqueuelen:3000 ",
                "          RX bytes:0 TX bytes:0 ",
                "",
            ]
            await inv.out("\n".join(lines) + "\n")
        return 0

    def register(self, table: dict[str, CommandFn]) -> None:
        table.update(ip=self.ip, ifconfig=self.ifconfig)
