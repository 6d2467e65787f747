"""``phonehome manifest suggest``: a draft manifest from what a capture shows, for an engineer to edit.

Everything observed is declared as it was seen (names, ports, transports);
what a capture cannot know (purpose, legal basis, consent) is left for a
person to fill in, marked ``TODO``. The draft is valid as written.

Destinations are drafted as the verdicts judge them: the names the bench's
resolver gave for an address, else the address; names the handset claimed there
(SNI, HTTP Host) are declared beside them, since each claim is judged too. A
claimed name comes from the handset, so it may be anything: one that is not a
plain host name (non-ASCII, spaces, a ``*`` that would declare a whole wildcard,
over 253 characters) cannot be declared, and a comment above ``endpoints`` lists
it, escaped: the draft then still fails on it, which a person must look at.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Sequence
from typing import Any

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from phonehome.policy.context import Contact
from phonehome.policy.findings import Finding
from phonehome.policy.manifest import Endpoint, Manifest
from phonehome.traffic.flow import Flow
from phonehome.traffic.naming import is_ip_literal

TODO = "TODO: what is it for, and is it needed before consent?"
MAX_NOTED = 20
"""Undeclarable server names listed in the draft's comment; the rest are counted."""


def suggest(contacts: Sequence[Contact], *, firmware: str, leaks: Sequence[Finding] = ()) -> dict[str, Any]:
    """A manifest (as plain data) declaring every destination the handset reached, as the verdicts judge it:
    the names the bench's resolver gave for an address (else the address itself), plus every name the
    handset claimed there (SNI, Host), since each claim is judged too."""
    groups: dict[tuple[tuple[str, ...], bool], dict[str, Any]] = {}
    undeclarable: dict[str, set[str]] = {}
    declarable: dict[str, bool] = {}
    received: dict[int, set[str]] = {}
    for leak in leaks:
        if leak.rule == "cleartext-identifier" and leak.flow and leak.identifier:
            received.setdefault(leak.flow.id, set()).add(leak.identifier)
    for found in contacts:
        flow = found.flow
        if found.exempt or _service(flow):
            continue
        names = [n for n in found.destinations if declarable.setdefault(n, _declarable(n))]
        by_name = bool(names) and len(names) == len(found.destinations)
        key = (tuple(sorted(names)) if by_name else (_network(found.peer),), by_name)
        group = groups.setdefault(
            key, {"ports": set(), "protocol": set(), "transport": set(), "ids": set(), "claims": set()}
        )
        for claim in found.claims:
            if is_ip_literal(claim.name):
                continue
            if declarable.setdefault(claim.name, _declarable(claim.name)):
                group["claims"].add(claim.name)
            else:
                undeclarable.setdefault(claim.name, set()).add(found.peer)
        group["ports"].add(found.peer_port)
        group["protocol"].add(flow.proto)
        group["transport"].add({"tls": "tls", "quic": "quic"}.get(flow.transport, "cleartext"))
        group["ids"] |= received.get(flow.id, set())
    endpoints = []
    for (where, by_name), group in sorted(groups.items()):
        endpoint: dict[str, Any] = {"name": where[0]}
        hosts = sorted(set(where) | group["claims"]) if by_name else sorted(group["claims"])
        if hosts:
            endpoint["hosts"] = hosts
        if not by_name:
            endpoint["cidrs"] = list(where)
        if group["ports"] != {0}:
            endpoint["ports"] = sorted(group["ports"])
        endpoint["protocol"] = sorted(group["protocol"])
        endpoint["transport"] = sorted(group["transport"])
        if group["ids"]:
            endpoint["identifiers"] = sorted(group["ids"])
            endpoint["legal_basis"] = "consent"
        endpoint["before_consent"] = False
        endpoint["purpose"] = TODO
        endpoints.append(endpoint)
    data = CommentedMap(
        {
            "firmware": firmware,
            "description": "Drafted by `phonehome manifest suggest` from a capture: every endpoint below was "
            "observed. Check each one, fill in purpose, legal_basis and before_consent, and remove what must "
            "not be there.",
            "endpoints": endpoints,
            "policy": {
                "personal_data_countries": [],
                "denied_networks": [],
                "dot_allowed": False,
                "doh_allowed": False,
            },
        }
    )
    if undeclarable:
        data.yaml_set_comment_before_after_key("endpoints", before=_note(undeclarable))
    Manifest.model_validate(data)  # a draft that does not load would only move the problem to its user
    return data


def _service(flow: Flow) -> bool:
    """DHCP and plain DNS: the network's own service, which a firmware manifest does not declare."""
    return flow.app in ("dns", "dhcp", "dhcpv6") or bool({flow.sport, flow.dport} & {53, 67, 68, 546, 547})


def _declarable(name: str) -> bool:
    """Whether the draft may declare ``name`` as a host: the manifest accepts it, and it names one host."""
    if "*" in name or len(name) > 253:
        return False
    try:
        Endpoint.model_validate({"name": "draft", "hosts": [name], "purpose": TODO})
    except pydantic.ValidationError:
        return False
    return True


def _note(names: dict[str, set[str]]) -> str:
    """The comment that lists server names declared by address instead, escaped to printable ASCII."""
    lines = [
        "Server names the handset used that are not host names (they cannot be declared; each will be a finding):"
    ]
    for name, addresses in sorted(names.items())[:MAX_NOTED]:
        shown = ascii(name[:80]) + ("..." if len(name) > 80 else "")
        lines.append(f"  {shown} at {', '.join(sorted(addresses)[:5])}{' ...' if len(addresses) > 5 else ''}")
    if len(names) > MAX_NOTED:
        lines.append(f"  and {len(names) - MAX_NOTED} more")
    return "\n".join(lines)


def _network(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{address}/{32 if ip.version == 4 else 128}"


def to_yaml(data: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 110
    out = io.StringIO()
    yaml.dump(data, out)
    return (
        "# Draft manifest: review every entry (phonehome/policy/schemas/manifest.schema.json).\n"
        + out.getvalue()
    )
