"""The firmware's manifest: every endpoint it may reach, what each may receive, and the policy.

A lab or OEM writes it in YAML (``manifests/``); ``phonehome manifest
suggest`` drafts one from a capture. Validated with pydantic so that every
error names file, line and key; unknown and duplicate keys are errors, since
a typo that silently declares nothing would turn a FAIL into a PASS.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from publicsuffixlist import PublicSuffixList
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from phonehome.cache import cached
from phonehome.policy.identity import IDENTIFIER_KEYS
from phonehome.traffic.flow import IP_PROTOCOL_NAMES, Flow
from phonehome.yamlconf import load_model

TransportName = Literal["tls", "quic", "cleartext"]
_PROTOCOL = re.compile(r"(tcp|udp|" + "|".join(sorted(set(IP_PROTOCOL_NAMES.values()))) + r"|ip-\d{1,3})")
MIN_PREFIX = {4: 8, 6: 19}
"""The broadest network a manifest may declare (a /8; an IPv6 /19, the size of the largest RIR
allocations): anything wider declares a good part of the Internet, not an endpoint."""
LegalBasis = Literal[
    "consent",
    "contract",
    "legal-obligation",
    "vital-interests",
    "public-task",
    "legitimate-interests",
    "no-personal-data",
]
"""GDPR Art. 6(1) (a)-(f), or none needed because the endpoint receives no personal data."""

_HOST = re.compile(
    r"(\*\.)?([a-z0-9_]([a-z0-9_\-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_\-]{0,61}[a-z0-9_])?"
)


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _port_range(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and re.fullmatch(r"\d{1,5}(-\d{1,5})?", value.strip()):
        low_text, _dash, high_text = value.strip().partition("-")
        low, high = int(low_text), int(high_text or low_text)
    else:
        raise ValueError(f"a port is a number or a range like 8000-8999, got {value!r}")
    if not 0 <= low <= high <= 65535:
        raise ValueError(f"port range {value!r} is outside 0-65535")
    return low, high


Listed = BeforeValidator(_as_list)


def _encrypted() -> list[TransportName]:
    return ["tls", "quic"]


class Endpoint(BaseModel):
    """A server the firmware is declared to contact, and on what terms."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="what a report calls it, e.g. 'Android connectivity check'")
    hosts: Annotated[list[str], Listed] = Field(
        default_factory=list, description="exact names or *.example.com"
    )
    cidrs: Annotated[list[str], Listed] = Field(
        default_factory=list, description="addresses, e.g. 216.239.35.0/24"
    )
    ports: Annotated[list[Annotated[tuple[int, int], BeforeValidator(_port_range)]], Listed] = Field(
        default_factory=list, description="numbers or ranges (8000-8999); empty means any"
    )
    protocol: Annotated[list[str], Listed] = Field(
        default_factory=list,
        description="tcp, udp, icmp, icmpv6, esp, gre... (or ip-N for protocol number N); empty: any",
    )
    transport: Annotated[list[TransportName], Listed] = Field(
        default_factory=_encrypted, description="how it must be reached (tls, quic, cleartext)"
    )
    identifiers: Annotated[list[str], Listed] = Field(
        default_factory=list, description="identity keys it may receive (imei, wifi_mac, location...)"
    )
    before_consent: bool = Field(
        default=False, description="strictly necessary: may be contacted before consent"
    )
    purpose: str
    legal_basis: LegalBasis = "no-personal-data"
    regions: Annotated[list[str], Listed] = Field(
        default_factory=list, description="declared hosting countries"
    )

    @field_validator("hosts")
    @classmethod
    def _hosts_are_names(cls, hosts: list[str]) -> list[str]:
        out = []
        for host in hosts:
            name = host.strip().lower().rstrip(".")
            if not _HOST.fullmatch(name):
                raise ValueError(
                    f"{host!r} is not a host name or a *.wildcard (only a leading '*.' is allowed)"
                )
            out.append(name)
        return out

    @field_validator("hosts")
    @classmethod
    def _hosts_are_not_public_suffixes(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            base = host[2:] if host.startswith("*.") else host
            if _public_suffixes().is_public(base):
                what = "a wildcard on the public suffix" if host.startswith("*.") else "the public suffix"
                raise ValueError(
                    f"{host!r} is {what} {base!r}: anyone can register names under it, so it declares "
                    "other people's servers; list the hosts (or a wildcard under a name its owner controls)"
                )
        return hosts

    @field_validator("protocol")
    @classmethod
    def _protocols_known(cls, protocols: list[str]) -> list[str]:
        out = []
        for proto in protocols:
            name = str(proto).strip().lower()
            if not _PROTOCOL.fullmatch(name):
                raise ValueError(
                    f"{proto!r} is not a protocol: use tcp, udp, icmp, icmpv6, esp, gre... or ip-N"
                )
            out.append(name)
        return out

    @field_validator("cidrs")
    @classmethod
    def _cidrs_parse(cls, cidrs: list[str]) -> list[str]:
        out = []
        for cidr in cidrs:
            try:
                net = ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an address or network ({exc})") from exc
            if net.prefixlen < MIN_PREFIX[net.version] and not net.is_private:
                raise ValueError(
                    f"{cidr!r} spans {net.num_addresses:.3g} addresses: a manifest declares endpoints, "
                    f"not the Internet (at most a /{MIN_PREFIX[net.version]})"
                )
            out.append(str(net))
        return out

    @field_validator("identifiers")
    @classmethod
    def _identifiers_are_identity_keys(cls, keys: list[str]) -> list[str]:
        unknown = [k for k in keys if k not in IDENTIFIER_KEYS]
        if unknown:
            raise ValueError(f"{unknown} are not identity keys; use: {', '.join(IDENTIFIER_KEYS)}")
        return keys

    @field_validator("regions")
    @classmethod
    def _regions_are_countries(cls, regions: list[str]) -> list[str]:
        return [_country(r) for r in regions]

    @model_validator(mode="after")
    def _says_where(self) -> Endpoint:
        if not self.hosts and not self.cidrs:
            raise ValueError("an endpoint needs hosts or cidrs (or both)")
        if self.identifiers and self.legal_basis == "no-personal-data":
            raise ValueError(
                "an endpoint that receives identifiers needs a legal_basis other than no-personal-data"
            )
        return self

    def matches_name(self, name: str) -> bool:
        return any(_host_matches(pattern, name) for pattern in self.hosts)

    def specificity(self, name: str) -> int:
        """How closely this endpoint names ``name``: exact beats any wildcard, longer wildcards beat shorter."""
        best = -1
        for pattern in self.hosts:
            if _host_matches(pattern, name):
                best = max(best, 10_000 if not pattern.startswith("*.") else len(pattern))
        return best

    def matches_address(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(cidr) for cidr in self.cidrs)

    def matches_port(self, proto: str, port: int) -> bool:
        if self.protocol and proto not in self.protocol:
            return False
        return not self.ports or any(low <= port <= high for low, high in self.ports)


@cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List (ICANN and private sections) shipped in the publicsuffixlist package: offline,
    pinned by the package version. Parsed once per version, not once per process (half a second)."""
    version = importlib.metadata.version("publicsuffixlist")
    return cached("public-suffixes", version.encode(), PublicSuffixList)


def _country(value: str) -> str:
    code = str(value).strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError(f"countries are ISO 3166-1 alpha-2 codes (NO, DE, US), got {value!r}")
    return code


def _host_matches(pattern: str, name: str) -> bool:
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
    return name == pattern


class Policy(BaseModel):
    """Rules over all endpoints."""

    model_config = ConfigDict(extra="forbid")
    personal_data_countries: Annotated[list[str], Listed] = Field(
        default_factory=list, description="countries personal data may reach (empty: regions not judged)"
    )
    denied_networks: Annotated[list[int | str], Listed] = Field(
        default_factory=list,
        description="AS numbers, or words of AS names (case-insensitive: 'chinanet' matches 'CHINANET Nanjing "
        "Jishan IDC network') that no flow may reach",
    )
    dot_allowed: bool = Field(default=False, description="DNS over TLS (port 853) may be used")
    doh_allowed: bool = Field(
        default=False, description="DNS over HTTPS may be used, to declared endpoints only"
    )

    @field_validator("personal_data_countries")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        return [_country(v) for v in values]


_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+")
_MARKET = re.compile(r"[a-z]{2,12}")


class Release(BaseModel):
    """The release certified for one SKU: what a unit of it must run (the build-identity assertion).

    Every field but ``sku`` and ``market`` is optional; what is given is compared, what is not is left
    out of the verdict's reason. Packages of another market (`phonehome.policy.markets`) are findings
    from the package list alone, whatever else is declared.
    """

    model_config = ConfigDict(extra="forbid")
    sku: str = Field(
        description="the market variant as certified (HMD 00WW, Google GVU6C, Samsung SM-A525F/DS)"
    )
    market: str = Field(
        description="the market the SKU is sold in: global, eu, us, cn, in, jp...; packages that belong only to "
        "other markets' builds are findings"
    )
    fingerprints: Annotated[list[str], Listed] = Field(
        default_factory=list, description="ro.build.fingerprint of each certified build of this release"
    )
    security_patch: str | None = Field(
        default=None, description="ro.build.version.security_patch, YYYY-MM-DD"
    )
    region: dict[str, str] = Field(
        default_factory=dict,
        description="region, market and carrier properties and the values a unit must report "
        "(ro.product.locale, ro.csc.sales_code, ro.config.region...)",
    )
    packages: Annotated[list[str], Listed] | None = Field(
        default=None,
        description="the release's whole package list (pm list packages): any other package, and any listed "
        "one missing, is a finding; absent: the list is not compared",
    )

    @field_validator("market")
    @classmethod
    def _market(cls, value: str) -> str:
        market = value.strip().lower()
        if not _MARKET.fullmatch(market):
            raise ValueError(f"market {value!r}: a lower-case word (global, eu, us, cn, in...)")
        return market

    @field_validator("security_patch")
    @classmethod
    def _patch(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"security_patch {value!r}: YYYY-MM-DD, as ro.build.version.security_patch says")
        return value

    @field_validator("packages")
    @classmethod
    def _package_names(cls, values: list[str] | None) -> list[str] | None:
        for name in values or []:
            if not _PACKAGE.fullmatch(name):
                raise ValueError(f"{name!r} is not a package name (com.example.app)")
        return values


class Manifest(BaseModel):
    """What a firmware build is declared to send, and where."""

    model_config = ConfigDict(extra="forbid")
    firmware: str = Field(description="the build it describes: fingerprint, or product and version")
    description: str = ""
    endpoints: list[Endpoint] = Field(default_factory=list)
    policy: Policy = Field(default_factory=Policy)
    release: Release | None = Field(
        default=None, description="the certified release for the SKU: fingerprint, region, packages, market"
    )

    def lookup(
        self, proto: str, port: int, *, name: str | None = None, address: str | None = None
    ) -> Endpoint | None:
        """The declared endpoint for a destination: the most specific name match, else an address match.

        An exact host beats any wildcard, a longer wildcard a shorter one, whatever the order in the
        file: a broad wildcard must not lend its terms (say, allowed before consent) to a host declared
        on its own.
        """
        candidates = [e for e in self.endpoints if e.matches_port(proto, port)]
        if name:
            ranked = [(e.specificity(name), i, e) for i, e in enumerate(candidates) if e.matches_name(name)]
            if ranked:
                return max(ranked, key=lambda r: (r[0], -r[1]))[2]
        if address:
            for endpoint in candidates:
                if endpoint.matches_address(address):
                    return endpoint
        return None

    def endpoint_for(self, flow: Flow) -> Endpoint | None:
        """The endpoint a flow's *claimed* name (or address) would be: for drafting manifests and tables.

        Verdicts never use this: a name is a claim until the bench's resolver confirms it
        (``phonehome.policy.context``).
        """
        return self.lookup(flow.proto, flow.dport, name=flow.server_name, address=flow.dst)

    def endpoint_for_name(self, name: str) -> Endpoint | None:
        """The endpoint a DNS name belongs to, whatever the port (a lookup says nothing of ports)."""
        ranked = [(e.specificity(name), i, e) for i, e in enumerate(self.endpoints) if e.matches_name(name)]
        return max(ranked, key=lambda r: (r[0], -r[1]))[2] if ranked else None


def load_manifest(path: Path) -> Manifest:
    """Reads a manifest YAML; errors name file, line and key (phonehome.yamlconf.ConfigError)."""
    return load_model(Manifest, path)
