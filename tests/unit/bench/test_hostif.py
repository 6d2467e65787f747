"""Which host interfaces a bench may borrow without asking: the host's use of one, read from its state."""

from __future__ import annotations

import socket
from typing import Any

from phonehome.bench.hostif import LinkState, host_uses, kernel_made


def state(**changes: Any) -> LinkState:
    base: LinkState = {
        "ifname": "enx1",
        "netns": None,
        "mac": "02:00:00:00:00:01",
        "mtu": 1500,
        "up": True,
        "loopback": False,
        "master": None,
        "addresses": [],
        "routes": [],
        "sysctls": {},
    }
    return {**base, **changes}


def address(family: int, addr: str, prefixlen: int) -> dict[str, Any]:
    return {"family": family, "address": addr, "local": addr, "prefixlen": prefixlen, "scope": 0}


def route(family: int, dst: str | None, dst_len: int, table: int = 254) -> dict[str, Any]:
    return {"family": family, "table": table, "dst_len": dst_len, "RTA_DST": dst, "proto": 4, "scope": 0}


def test_a_spare_interface_with_only_what_the_kernel_made_is_not_in_use() -> None:
    spare = state(
        addresses=[address(socket.AF_INET6, "fe80::1", 64)],
        routes=[
            route(socket.AF_INET6, "fe80::", 64),
            route(socket.AF_INET6, "ff00::", 8, table=255),
            route(socket.AF_INET6, "fe80::1", 128, table=255),
        ],
    )
    assert host_uses(spare) == []


def test_host_addresses_are_named() -> None:
    used = state(
        addresses=[address(socket.AF_INET, "192.0.2.7", 24), address(socket.AF_INET6, "2001:db8::7", 64)]
    )
    (why,) = host_uses(used)
    assert "192.0.2.7/24" in why
    assert "2001:db8::7/64" in why


def test_a_default_route_in_any_table_is_named_as_such() -> None:
    used = state(routes=[route(socket.AF_INET, None, 0, table=100)])
    assert host_uses(used) == ["holds a default route (table 100): taking it could take the host offline"]


def test_other_routes_and_a_host_bridge_count_too() -> None:
    used = state(routes=[route(socket.AF_INET, "198.51.100.0", 24)], master="br-lan")
    assert host_uses(used) == ["carries 1 other host route(s)", "is part of the host's br-lan"]


def test_only_link_local_multicast_and_local_table_entries_are_the_kernels() -> None:
    assert kernel_made(route(socket.AF_INET, "10.0.0.1", 32, table=255))
    assert kernel_made(route(socket.AF_INET6, "ff02::", 16))
    assert not kernel_made(route(socket.AF_INET, "169.254.0.0", 16))  # someone put that there
    assert not kernel_made(address(socket.AF_INET6, "fd00::1", 64))
