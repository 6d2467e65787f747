"""Destination country and network (AS) per address, from an offline database shipped on PyPI.

The database is geoip2fast's bundled GeoLite2-derived file (country and AS
name, IPv4 and IPv6): the one PyPI package found that ships both inside the
package, so a run never downloads anything and the result is pinned by the
package version, which every report records. It names networks, not AS
numbers; policies may deny either, and a number that cannot be checked is
said so (INCONCLUSIVE, not PASS).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is, as far as the database knows."""

    address: str
    country: str | None
    """ISO 3166-1 alpha-2, or None for private, reserved and unknown addresses."""
    as_number: int | None
    as_name: str | None
    network: str | None
    private: bool = False


class GeoDatabase(Protocol):
    """What the regions assertion needs; a lab may pass its own (e.g. a licensed MaxMind reader)."""

    version: str
    provides_as_numbers: bool

    def lookup(self, address: str) -> Place: ...


def is_private(address: str) -> bool:
    """Not routable on the Internet: RFC 1918, TEST-NET, CGNAT, loopback, link-local, multicast..."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not ip.is_global or ip.is_multicast


class Geoip2FastDatabase:
    """geoip2fast's country+ASN file (IPv4 and IPv6), loaded once per process (~0.2 s, ~110 MiB)."""

    provides_as_numbers = False

    def __init__(self) -> None:
        self._engine: Any = None
        self.version = f"geoip2fast {version('geoip2fast')}"

    def _load(self) -> Any:
        if self._engine is None:
            self._engine = _engine()
            source = self._engine.get_database_info().get("source_info", "")
            self.version = f"geoip2fast {version('geoip2fast')} ({source})"
        return self._engine

    def lookup(self, address: str) -> Place:
        if is_private(address):
            return Place(address, None, None, None, None, private=True)
        detail = self._load().lookup(address)
        country = getattr(detail, "country_code", "") or ""
        name = getattr(detail, "asn_name", "") or None
        return Place(
            address,
            country if len(country) == 2 and country.isalpha() else None,
            None,
            name,
            getattr(detail, "asn_cidr", None) or None,
        )


@cache
def _engine() -> Any:
    from geoip2fast import GeoIP2Fast  # noqa: PLC0415  (110 MiB: loaded only when regions are judged)

    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz", verbose=False)


@cache
def default_database() -> Geoip2FastDatabase:
    return Geoip2FastDatabase()
