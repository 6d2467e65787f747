"""Where a flow went: its address, named only by what the bench's resolver told the handset.

A Host header, an SNI, a CONNECT or absolute-URI target, a SOCKS request are
what the client *claims* (DESIGN.md rule 7): the destination is where the
packets went. An address stands for a name only when the handset received an
answer giving that address for that name, before the flow began, from the
bench's resolver (its own log, or a response in the capture that the handset
did not send itself). On the sinkhole bench each name has its own address, so
the address names exactly one name.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from phonehome.policy.handset import Handset
from phonehome.policy.infrastructure import Infrastructure, ResolverAnswer
from phonehome.traffic.analysis import DnsAnswer
from phonehome.traffic.flow import Flow

LOG_SLACK_S = 1.0
"""A resolver's log line is written as it answers; the capture stamps the answer's frame a moment later."""


@dataclass(frozen=True, slots=True)
class _Named:
    ts: float
    frame: int
    """0 for answers from the resolver's log (they have no frame; time orders them)."""
    name: str


class Names:
    """Names each address stood for, for the handset, in time order."""

    def __init__(self) -> None:
        self._by_address: dict[str, list[_Named]] = defaultdict(list)
        self.sources: list[str] = []
        """Where the names came from, for the evaluation's record."""
        self.untrusted = 0
        """Answers seen but not trusted (sent by the handset, to someone else, by another server)."""
        self.router_macs: set[str] = set()

    @classmethod
    def build(
        cls,
        answers: Iterable[DnsAnswer],
        handset: Handset,
        infrastructure: Infrastructure,
        log: Iterable[ResolverAnswer] = (),
        router_macs: Iterable[str] = (),
    ) -> Names:
        names = cls()
        names.router_macs = {m.replace(":", "").lower() for m in router_macs}
        logged = 0
        for entry in log:
            if entry.client not in handset.addresses:
                continue
            for address in entry.addresses:
                names._add(address, _Named(entry.ts - LOG_SLACK_S, 0, entry.name))
                logged += 1
        if logged:
            names.sources.append(f"the bench resolver's log ({logged} answers)")
        seen = 0
        for answer in answers:
            if names._trusted(answer, handset, infrastructure, names.router_macs):
                names._add(answer.address, _Named(answer.ts, answer.frame, answer.name))
                seen += 1
            else:
                names.untrusted += 1
        if seen:
            names.sources.append(f"{seen} DNS answers the handset received from its resolver")
        for entries in names._by_address.values():
            entries.sort(key=lambda n: (n.ts, n.frame))
        return names

    @staticmethod
    def _trusted(
        answer: DnsAnswer, handset: Handset, infrastructure: Infrastructure, router_macs: set[str]
    ) -> bool:
        if not handset.is_mine(answer.client, answer.client_mac):
            return False  # an answer to someone else names nothing for the handset
        if handset.is_mine(answer.server, answer.server_mac):
            return False  # the handset wrote this "answer" itself
        if (
            router_macs
            and answer.server_mac
            and answer.server_mac.replace(":", "").lower() not in router_macs
        ):
            return False  # on a bench every answer comes through the router: another MAC forged it
        return not infrastructure.known or infrastructure.resolver(answer.server)

    def _add(self, address: str, named: _Named) -> None:
        try:
            key = ipaddress.ip_address(address).compressed
        except ValueError:
            return
        self._by_address[key].append(named)

    def for_flow(self, address: str, flow: Flow) -> list[str]:
        """Names the handset had been given for ``address`` before ``flow`` began, latest last."""
        try:
            key = ipaddress.ip_address(address).compressed
        except ValueError:
            return []
        entries = self._by_address.get(key, [])
        if not entries:
            return []
        limit = bisect.bisect_right([n.ts for n in entries], flow.first_ts)
        out: dict[str, None] = {}
        for named in entries[:limit]:
            if named.frame and named.frame >= flow.first_frame:
                continue
            out.pop(named.name, None)
            out[named.name] = None
        return list(out)

    def __bool__(self) -> bool:
        return bool(self._by_address)
