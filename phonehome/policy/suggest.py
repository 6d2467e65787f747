"""``phonehome manifest suggest``: a draft manifest from what a capture shows, for an engineer to edit.

Everything observed is declared as it was seen (names, ports, transports);
what a capture cannot know (purpose, legal basis, consent) is left for a
person to fill in, marked ``TODO``. The draft is valid as written, so a run
against the same capture passes declared-endpoints until someone edits it.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML

from phonehome.policy.findings import Finding
from phonehome.policy.manifest import Manifest
from phonehome.traffic.flow import Flow

TODO = "TODO: what is it for, and is it needed before consent?"


def suggest(flows: Sequence[Flow], *, firmware: str, leaks: Sequence[Finding] = ()) -> dict[str, Any]:
    """A manifest (as plain data) declaring every endpoint the given flows reached."""
    groups: dict[tuple[str, bool], dict[str, Any]] = {}
    received: dict[int, set[str]] = {}
    for leak in leaks:
        if leak.rule == "cleartext-identifier" and leak.flow and leak.identifier:
            received.setdefault(leak.flow.id, set()).add(leak.identifier)
    for flow in flows:
        if _service(flow):
            continue
        by_name = bool(flow.server_name)
        key = (flow.server_name or _network(flow.dst), by_name)
        group = groups.setdefault(key, {"ports": set(), "protocol": set(), "transport": set(), "ids": set()})
        group["ports"].add(flow.dport)
        group["protocol"].add(flow.proto)
        group["transport"].add({"tls": "tls", "quic": "quic"}.get(flow.transport, "cleartext"))
        group["ids"] |= received.get(flow.id, set())
    endpoints = []
    for (where, by_name), group in sorted(groups.items()):
        endpoint: dict[str, Any] = {"name": where}
        endpoint["hosts" if by_name else "cidrs"] = [where]
        endpoint["ports"] = sorted(group["ports"])
        endpoint["protocol"] = sorted(group["protocol"])
        endpoint["transport"] = sorted(group["transport"])
        if group["ids"]:
            endpoint["identifiers"] = sorted(group["ids"])
            endpoint["legal_basis"] = "consent"
        endpoint["before_consent"] = False
        endpoint["purpose"] = TODO
        endpoints.append(endpoint)
    data = {
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
    Manifest.model_validate(data)  # a draft that does not load would only move the problem to its user
    return data


def _service(flow: Flow) -> bool:
    """DHCP and plain DNS: the network's own service, which a firmware manifest does not declare."""
    return flow.app in ("dns", "dhcp", "dhcpv6") or bool({flow.sport, flow.dport} & {53, 67, 68, 546, 547})


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
