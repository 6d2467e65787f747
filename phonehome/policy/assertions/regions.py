"""regions: personal data reaches only the countries the policy allows, and no flow a denied network.

Destinations are placed by an offline database pinned by its package version.
An address it cannot place (a private or bench address: the sinkhole bench gives
every name a local one) is doubt, never the manifest's own claim about where an
endpoint is hosted. IPv6 addresses that embed an IPv4 one (NAT64, 6to4, Teredo,
IPv4-mapped) are placed by that IPv4 address.
"""

from __future__ import annotations

import ipaddress

from phonehome.policy.assertions import Assertion, Judgement
from phonehome.policy.assertions.common import (
    IDENTIFIER_RULES,
    NO_MANIFEST,
    finding,
    missing,
    not_applicable,
    unread_identifiers,
    verdict,
)
from phonehome.policy.context import Context
from phonehome.policy.findings import REGIONS, Finding, escape

CLAUSES = ("GDPR Art. 44-49", "FCC Covered List")
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def placed_address(address: str) -> str:
    """The address a database should place: an embedded IPv4 address where the IPv6 one carries it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if any(ip in prefix for prefix in NAT64_PREFIXES):
            return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            return str(ip.sixtofour)
        if ip.teredo is not None:
            return str(ip.teredo[1])  # the client's own public address, de-obfuscated
        if int(ip) >> 32 == 0 and int(ip) > 0xFFFF:  # deprecated IPv4-compatible ::a.b.c.d
            return str(ipaddress.IPv4Address(int(ip)))
    return address


def judge(ctx: Context) -> Judgement:
    manifest = ctx.manifest
    if manifest is None:
        return missing(REGIONS, CLAUSES, NO_MANIFEST + " (its policy names the allowed countries)"), []
    policy = manifest.policy
    if not (policy.personal_data_countries or policy.denied_networks):
        return not_applicable(
            REGIONS, CLAUSES, "the manifest's policy names no allowed countries and no denied networks"
        ), []
    allowed = set(policy.personal_data_countries)
    denied_names = {str(n).lower() for n in policy.denied_networks if isinstance(n, str)}
    denied_numbers = {n for n in policy.denied_networks if isinstance(n, int)}
    leak_flows = {f.flow.id for f in ctx.leaks if f.rule in IDENTIFIER_RULES and f.flow}
    findings: list[Finding] = []
    unplaced, unknown_network = [], []
    for contact in ctx.judged:
        address = placed_address(contact.peer)
        place = ctx.geo.lookup(address)
        as_name = (place.as_name or "").lower()
        if any(word in as_name for word in denied_names) or place.as_number in denied_numbers:
            findings.append(
                finding(
                    "denied-network",
                    REGIONS,
                    CLAUSES,
                    contact,
                    f"{contact.label} ({escape(address, 60)}) is in network "
                    f"{escape(place.as_name or str(place.as_number))}, which the policy denies",
                )
            )
        elif (denied_names or denied_numbers) and not (place.as_name or place.as_number):
            unknown_network.append(contact)
        personal = (
            contact.flow.id in leak_flows
            or any(e.identifiers for e in contact.endpoints)
            or (contact.encrypted and not contact.declared)
        )
        if not personal or not allowed:
            continue
        if not place.country:
            unplaced.append(contact)
        elif place.country not in allowed:
            findings.append(
                finding(
                    "region",
                    REGIONS,
                    CLAUSES,
                    contact,
                    f"personal data reached {contact.label} in {place.country} ({escape(address, 60)}, by "
                    f"{ctx.geo.version}); allowed: {', '.join(sorted(allowed))}",
                )
            )
    doubts = list(unread_identifiers(ctx)) if allowed else []
    if unplaced:
        doubts.append(
            f"{len(unplaced)} flow(s) that may carry personal data go to addresses {ctx.geo.version} cannot "
            f"place (first: {escape(unplaced[0].peer, 60)}, a private or bench address; on a sinkhole bench "
            "every name gets a local address: judge regions on a nat bench)"
        )
    if unknown_network:
        doubts.append(
            f"{len(unknown_network)} flow(s) go to addresses whose network is unknown (first: "
            f"{escape(unknown_network[0].peer, 60)}): the denied networks cannot be ruled out"
        )
    if denied_numbers and not ctx.geo.provides_as_numbers:
        doubts.append(
            f"the policy denies AS numbers {sorted(denied_numbers)} but {ctx.geo.version} gives AS names "
            "only: deny by name"
        )
    passed = (
        f"personal data stayed in {', '.join(sorted(allowed)) or 'any country'} and no denied network was "
        f"reached ({ctx.geo.version})"
    )
    return verdict(ctx, REGIONS, CLAUSES, findings, passed, doubts), findings


ASSERTION = Assertion(
    REGIONS,
    "personal data stays in the countries the policy allows, and no denied network is reached",
    "personal data reaches a destination country or network (ASN) the policy does not allow",
    CLAUSES,
    ("manifest", "geo"),
    judge,
)
