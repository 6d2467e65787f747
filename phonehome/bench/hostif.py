"""A host interface a bench borrows as a physical port: what it carried, whether it may be taken, and
its full return.

Moving an interface into the router namespace strips it of its addresses,
routes and per-interface sysctls; named by mistake (the default-route NIC, the
lab's management port) it would take the host offline. So an interface that
carries host addresses or routes, is enslaved to a host bridge or bond, is a
loopback or is some bench's own is refused, unless the definition says
``take_over: true``. Either way the interface's state is written into the
bench's undo record *before* anything is changed, and restored from it at
teardown, also by the stale cleanup after a crash.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from phonehome.bench import netops, runtime
from phonehome.bench.topology import run_id_of

LinkState = dict[str, Any]
"""JSON form of an interface's state (kept in the bench's state file)."""

LOCAL_TABLE = 255
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
SYSCTLS = {
    "ipv4": (
        "forwarding",
        "rp_filter",
        "accept_redirects",
        "send_redirects",
        "accept_source_route",
        "proxy_arp",
        "arp_ignore",
        "arp_announce",
        "arp_filter",
        "log_martians",
    ),
    "ipv6": (
        "disable_ipv6",
        "forwarding",
        "accept_ra",
        "autoconf",
        "accept_redirects",
        "addr_gen_mode",
        "use_tempaddr",
        "mtu",
    ),
}
"""Per-interface sysctls that a move to another namespace resets to that namespace's defaults."""

_ROUTE_KEYS = ("RTA_DST", "RTA_GATEWAY", "RTA_PRIORITY", "RTA_PREFSRC")


# --- what the interface carries ------------------------------------------------------------------


def snapshot(ifname: str) -> LinkState | None:
    """The interface's state in the host namespace; None when there is no such interface."""
    with IPRoute() as ipr:
        index = netops.link_index(ipr, ifname)
        if index is None:
            return None
        (link,) = ipr.get_links(index)
        names = {int(x["index"]): str(x.get("ifname")) for x in ipr.get_links()}
        addresses = [_address(a) for a in ipr.get_addr(index=index)]
        routes = [r for r in (_route(m, index, names) for m in ipr.route("dump")) if r is not None]
    master = link.get("IFLA_MASTER")
    return {
        "ifname": ifname,
        "netns": None,
        "mac": link.get("IFLA_ADDRESS"),
        "mtu": link.get("IFLA_MTU"),
        "up": bool(link["flags"] & IFF_UP),
        "loopback": bool(link["flags"] & IFF_LOOPBACK),
        "master": names.get(int(master)) if master else None,
        "addresses": sorted(addresses, key=_sort_key),
        "routes": sorted(routes, key=_sort_key),
        "sysctls": _read_sysctls(ifname),
    }


def _address(msg: Any) -> dict[str, Any]:
    return {
        "family": int(msg["family"]),
        "address": msg.get("IFA_ADDRESS"),
        "local": msg.get("IFA_LOCAL"),
        "prefixlen": int(msg["prefixlen"]),
        "scope": int(msg["scope"]),
        "broadcast": msg.get("IFA_BROADCAST"),
        "label": msg.get("IFA_LABEL"),
    }


def _route(msg: Any, index: int, names: dict[int, str]) -> dict[str, Any] | None:
    """A route that leaves by interface ``index`` (alone or as one of its nexthops), as JSON."""
    nexthops = []
    for hop in msg.get("RTA_MULTIPATH") or []:
        nexthops.append({"gateway": hop.get("RTA_GATEWAY"), "ifname": names.get(int(hop["oif"]))})
    via_us = msg.get("RTA_OIF") == index or any(
        int(hop["oif"]) == index for hop in msg.get("RTA_MULTIPATH") or []
    )
    if not via_us:
        return None
    route = {
        "family": int(msg["family"]),
        "table": int(msg.get("RTA_TABLE") or msg["table"]),
        "dst_len": int(msg["dst_len"]),
        "proto": int(msg["proto"]),
        "scope": int(msg["scope"]),
        "type": int(msg["type"]),
        **{key: msg.get(key) for key in _ROUTE_KEYS},
    }
    if nexthops:
        route["multipath"] = nexthops
    return route


def _sort_key(item: dict[str, Any]) -> str:
    return repr(sorted(item.items()))


def _sysctl_file(family: str, ifname: str, key: str) -> Path:
    return Path("/proc/sys/net") / family / "conf" / ifname / key


def _read_sysctls(ifname: str) -> dict[str, str]:
    values = {}
    for family, keys in SYSCTLS.items():
        for key in keys:
            with contextlib.suppress(OSError):
                values[f"{family}/{key}"] = _sysctl_file(family, ifname, key).read_text().strip()
    return values


def kernel_made(item: dict[str, Any]) -> bool:
    """An address or route the kernel makes by itself (IPv6 link-local, local-table entries, multicast):
    not a sign that the host uses the interface, and made again when it comes back."""
    if item.get("table") == LOCAL_TABLE:
        return True
    if item["family"] != socket.AF_INET6:
        return False
    if "address" in item:
        return bool(ipaddress.ip_address(item["address"]).is_link_local)
    dst = item.get("RTA_DST")
    return dst is not None and (
        ipaddress.ip_address(dst).is_link_local or ipaddress.ip_address(dst).is_multicast
    )


def host_uses(state: LinkState) -> list[str]:
    """What the host has on this interface and would lose with it, one phrase each (empty: nothing)."""
    found = []
    addresses = [a for a in state["addresses"] if not kernel_made(a)]
    if addresses:
        shown = ", ".join(f"{a['address']}/{a['prefixlen']}" for a in addresses)
        found.append(f"carries the host's addresses {shown}")
    routes = [r for r in state["routes"] if not kernel_made(r)]
    defaults = [r for r in routes if r["dst_len"] == 0]
    if defaults:
        tables = ", ".join(sorted({str(r["table"]) for r in defaults}))
        found.append(f"holds a default route (table {tables}): taking it could take the host offline")
    if len(routes) > len(defaults):
        found.append(f"carries {len(routes) - len(defaults)} other host route(s)")
    if state["master"]:
        found.append(f"is part of the host's {state['master']}")
    return found


def networks_in_use(run_id: str) -> list[ipaddress.IPv4Network]:
    """IPv4 networks a new bench must not overlap: every host address's subnet and every host route
    (all tables but the default routes), and the networks of the other benches (``run_id`` is ours)."""
    found = []
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET):
            found.append(
                ipaddress.IPv4Network(f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}", strict=False)
            )
        for route in ipr.route("dump", family=socket.AF_INET):
            if route["dst_len"] and route.get("RTA_DST"):
                found.append(
                    ipaddress.IPv4Network(f"{route.get('RTA_DST')}/{route['dst_len']}", strict=False)
                )
    for state in runtime.read_states():
        if state.run_id != run_id and state.topology is not None:
            found += state.topology.networks()
    return found


def holder(ifname: str, run_id: str) -> str | None:
    """Which other bench has ``ifname`` (as its physical port, or as an interface it made), if any."""
    for state in runtime.read_states():
        if state.run_id == run_id:
            continue
        from phonehome.bench.ports import kinds  # noqa: PLC0415  (the kinds use this module)

        adopting = {name for name, kind in kinds().items() if kind.adopts_host_interface}
        ports = state.topology.ports if state.topology is not None else ()
        if any(p.kind in adopting and p.host_interface == ifname for p in ports):
            return f"bench {state.name} ({state.run_id})"
    owner = run_id_of(ifname)
    if owner is not None and ifname.startswith(runtime.IF_PREFIX) and owner != run_id:
        return f"the bench with run id {owner} (it made this interface)"
    return None


# --- giving it back ---------------------------------------------------------------------------------


def restore(state: LinkState) -> None:
    """Puts the interface back as ``snapshot`` saw it: name, MTU, master, sysctls, addresses, up/down,
    routes. Idempotent: what is already there is left alone; an interface that is gone (a USB adapter
    unplugged, a veth whose peer went) has nothing to get back."""
    with IPRoute() as ipr:
        index = netops.link_index(ipr, state["ifname"])
        if index is None and state.get("mac"):  # a NIC the kernel returned under another name
            index = next(
                (int(x["index"]) for x in ipr.get_links() if x.get("IFLA_ADDRESS") == state["mac"]), None
            )
            if index is not None:
                ipr.link("set", index=index, state="down")
                ipr.link("set", index=index, ifname=state["ifname"])
        if index is None:
            return
        (link,) = ipr.get_links(index)
        if link.get("IFLA_MTU") != state["mtu"]:
            ipr.link("set", index=index, mtu=state["mtu"])
        if state["mac"] and link.get("IFLA_ADDRESS") != state["mac"]:
            ipr.link("set", index=index, address=state["mac"])
        _write_sysctls(state["ifname"], state["sysctls"])
        if state["master"]:
            master = netops.link_index(ipr, state["master"])
            if master is not None:
                ipr.link("set", index=index, master=master)
        for address in state["addresses"]:
            if kernel_made(address):
                continue
            extra = {k: address[k] for k in ("broadcast", "label") if address.get(k)}
            if address.get("local") and address["local"] != address["address"]:
                extra["local"] = address["local"]
            _exists_ok(
                ipr.addr,
                "add",
                index=index,
                address=address["address"],
                prefixlen=address["prefixlen"],
                scope=address["scope"],
                **extra,
            )
        ipr.link("set", index=index, state="up" if state["up"] else "down")
        names = {str(x.get("ifname")): int(x["index"]) for x in ipr.get_links()}
        for route in state["routes"]:
            if not kernel_made(route):
                _restore_route(ipr, route, index, names)


def _restore_route(ipr: IPRoute, route: dict[str, Any], index: int, names: dict[str, int]) -> None:
    spec: dict[str, Any] = {
        "family": route["family"],
        "table": route["table"],
        "dst_len": route["dst_len"],
        "proto": route["proto"],
        "scope": route["scope"],
        "type": route["type"],
    }
    for key, name in (("RTA_DST", "dst"), ("RTA_GATEWAY", "gateway"), ("RTA_PRIORITY", "priority")):
        if route.get(key) is not None:
            spec[name] = route[key]
    if route.get("RTA_PREFSRC"):
        spec["prefsrc"] = route["RTA_PREFSRC"]
    if route.get("multipath"):
        spec["multipath"] = [
            {"gateway": hop["gateway"], "oif": names[hop["ifname"]]}
            for hop in route["multipath"]
            if hop.get("ifname") in names
        ]
        ipr.route("replace", **spec)
        return
    _exists_ok(ipr.route, "add", oif=index, **spec)


def _write_sysctls(ifname: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        family, key = name.split("/", 1)
        path = _sysctl_file(family, ifname, key)
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value)


def _exists_ok(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def take_home(netns_name: str, ifname: str, state: LinkState) -> None:
    """Moves the interface back from ``netns_name`` (if it is still there) and restores ``state``."""
    if netops.netns_exists(netns_name):
        with IPRoute(netns=netns_name) as ipr:
            index = netops.link_index(ipr, ifname)
            if index is not None:
                ipr.link("set", index=index, state="down", master=0)
                ipr.link("set", index=index, net_ns_pid=os.getpid(), ifname=state["ifname"])
                netops.wait_link(None, state["ifname"])
    restore(state)
