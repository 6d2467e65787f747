"""The bench's resolver, without I/O: each name its own address, every answer a line of the log.

In sinkhole and offline mode a name gets the next address of the pool the
first time it is asked for (A from the IPv4 pool, AAAA from the IPv6 pool at
the same offset) and keeps it for the whole run, so an address stands for
exactly one name: the sink a flow reaches says which name the handset meant.
PTR of a pool address answers its name; every other question gets an empty
NOERROR, never NXDOMAIN (firmware that takes NXDOMAIN as "offline" would stop
talking). The pool is the memory bound: once every address is given, new
names get SERVFAIL and the log says why. In nat mode the questions go to the
real resolvers and their answers are relayed and logged (``relay``).

The log (``resolver.jsonl``, one JSON object a line) is the authority on which
name an address stood for:

    {"ts": 1764990000.12, "client": "172.16.0.131", "port": 40512, "proto": "udp", "id": 4660,
     "name": "zzhc.vnet.cn", "qtype": "A", "answers": ["198.18.0.1"], "rcode": "NOERROR"}

``answers`` holds the answer records of the asked type (addresses for A and
AAAA, names for PTR); ``records`` (nat only) every answer record as text, CNAMEs
too; ``problem`` marks an answer the bench could not give properly (the pool
ran out); ``note`` says why a message got no proper answer. ``name`` and
``qtype`` are null for a message that was not a readable question.

dnspython parses and builds the messages; what it raises on hostile bytes is
caught here and turned into FORMERR (when the header can carry it) or silence.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.reversename
import dns.rrset

MAX_NAMES = 1 << 17
"""Names one run may ask for (the default IPv4 pool's size): bounds the resolver's memory (~50 MB)."""
UDP_PLAIN_MAX = 512
"""A UDP answer without EDNS fits in 512 bytes (RFC 1035 4.2.1); longer ones are truncated (TC)."""
OUR_PAYLOAD = 1232
"""The EDNS UDP size we advertise (DNS flag day 2020)."""
TCP_MAX = 65535
POOL_EXHAUSTED = "pool exhausted"
HEADER = struct.Struct("!HHHHHH")


class NamePool:
    """Hands each distinct name (case-insensitive) the next address, for the life of the pool."""

    def __init__(self, ipv4: str, ipv6: str | None = None, limit: int = MAX_NAMES) -> None:
        self.ipv4 = ipaddress.IPv4Network(ipv4)
        self.ipv6 = ipaddress.IPv6Network(ipv6) if ipv6 else None
        usable = self.ipv4.num_addresses - 2  # neither the network's first nor its last address
        if self.ipv6 is not None:
            usable = min(usable, self.ipv6.num_addresses - 2)
        self.capacity = max(0, min(limit, usable))
        self._index: dict[bytes, int] = {}
        self._names: list[bytes] = []
        """Each name's lower-case wire form, at its offset."""

    def __len__(self) -> int:
        return len(self._names)

    def index(self, name: dns.name.Name) -> int | None:
        """The name's offset in the pool, given now if it has none; None when the pool is exhausted."""
        key = name.to_digestable()  # lower case, uncompressed wire form
        found = self._index.get(key)
        if found is not None:
            return found
        if len(self._names) >= self.capacity:
            return None
        found = len(self._names)
        self._index[key] = found
        self._names.append(key)
        return found

    def address(self, offset: int, version: int) -> str:
        if version == 4:
            return str(self.ipv4.network_address + 1 + offset)
        if self.ipv6 is None:
            raise ValueError("this pool has no IPv6 addresses")
        return str(self.ipv6.network_address + 1 + offset)

    def name_of(self, address: str) -> dns.name.Name | None:
        """The name a pool address was given to, if any."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        network = self.ipv4 if ip.version == 4 else self.ipv6
        if network is None or ip not in network:
            return None
        offset = int(ip) - int(network.network_address) - 1
        if not 0 <= offset < len(self._names):
            return None
        return dns.name.from_wire(self._names[offset], 0)[0]


def name_text(name: dns.name.Name) -> str:
    """Lower case, no final dot, bytes outside printable ASCII escaped as ``\\DDD`` (safe to log)."""
    if name == dns.name.root:
        return "."
    return name.canonicalize().to_text(omit_final_dot=True)


@dataclass(slots=True)
class Question:
    """One readable query: its message and the single question it asks."""

    message: dns.message.Message
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rdclass: dns.rdataclass.RdataClass

    @property
    def id(self) -> int:
        return self.message.id

    def max_size(self, proto: str) -> int:
        if proto == "tcp":
            return TCP_MAX
        if self.message.edns >= 0:
            return max(UDP_PLAIN_MAX, min(self.message.payload, TCP_MAX))
        return UDP_PLAIN_MAX


@dataclass(slots=True)
class Answer:
    """What to send back (None: nothing) and the log line that records it."""

    reply: bytes | None
    entry: dict[str, Any]


def read_question(wire: bytes) -> Question | bytes | None:
    """A question to answer, a ready error reply (FORMERR, NOTIMP) or None (drop silently).

    A message with the QR bit set is a response, never answered (no loops between
    resolvers); one too short to carry a header cannot be answered at all.
    """
    if len(wire) < HEADER.size:
        return None
    ident, flags, qdcount, _an, _ns, _ar = HEADER.unpack_from(wire)
    if flags & dns.flags.QR:
        return None
    opcode = (flags >> 11) & 0xF
    if opcode != dns.opcode.QUERY:
        return error_reply(ident, flags, dns.rcode.NOTIMP)
    if qdcount != 1:
        return error_reply(ident, flags, dns.rcode.FORMERR)
    try:
        message = dns.message.from_wire(wire)
        (rrset,) = message.question
    except Exception:  # dnspython raises many kinds on hostile bytes; all of them mean "malformed"
        return error_reply(ident, flags, dns.rcode.FORMERR)
    return Question(message, rrset.name, rrset.rdtype, rrset.rdclass)


def error_reply(ident: int, flags: int, rcode: int) -> bytes:
    """A bare header answering ``ident``: QR set, the opcode and RD echoed, no sections (RFC 1035 4.1.1)."""
    echoed = flags & (0x7800 | dns.flags.RD)
    return HEADER.pack(ident, dns.flags.QR | dns.flags.RA | echoed | rcode, 0, 0, 0, 0)


def answer_locally(question: Question, pool: NamePool, ttl: int, ipv6: bool, proto: str) -> Answer:
    """The sinkhole/offline answer: a pool address, the name of a pool address, or empty NOERROR."""
    response = dns.message.make_response(question.message, recursion_available=True, our_payload=OUR_PAYLOAD)
    answers: list[str] = []
    problem = None
    rdtype, name = question.rdtype, question.name
    if question.rdclass == dns.rdataclass.IN and rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        version = 4 if rdtype == dns.rdatatype.A else 6
        if version == 4 or ipv6:
            offset = pool.index(name)
            if offset is None:
                response.set_rcode(dns.rcode.SERVFAIL)
                problem = POOL_EXHAUSTED
            else:
                address = pool.address(offset, version)
                rdata: Any = (dns.rdtypes.IN.A.A if version == 4 else dns.rdtypes.IN.AAAA.AAAA)(
                    dns.rdataclass.IN, rdtype, address
                )
                response.answer.append(dns.rrset.from_rdata(name, ttl, rdata))
                answers.append(address)
    elif question.rdclass == dns.rdataclass.IN and rdtype == dns.rdatatype.PTR:
        owner = _reverse_lookup(name, pool)
        if owner is not None:
            ptr = dns.rdtypes.ANY.PTR.PTR(dns.rdataclass.IN, dns.rdatatype.PTR, owner)  # type: ignore[no-untyped-call]
            response.answer.append(dns.rrset.from_rdata(name, ttl, ptr))
            answers.append(name_text(owner))
    entry = log_entry(question, response.rcode(), answers)
    if problem:
        entry["problem"] = problem
    return Answer(encode(response, question.max_size(proto)), entry)


def _reverse_lookup(name: dns.name.Name, pool: NamePool) -> dns.name.Name | None:
    try:
        address = dns.reversename.to_address(name)
    except (dns.exception.DNSException, ValueError):
        return None
    return pool.name_of(address)


def relay(question: Question, upstream: dns.message.Message | None, proto: str) -> Answer:
    """nat: the real resolver's answer, under the handset's query id and question; SERVFAIL without one."""
    response = dns.message.make_response(question.message, recursion_available=True, our_payload=OUR_PAYLOAD)
    if upstream is None:
        response.set_rcode(dns.rcode.SERVFAIL)
        entry = log_entry(question, dns.rcode.SERVFAIL, [])
        entry["note"] = "no upstream resolver answered"
        return Answer(encode(response, question.max_size(proto)), entry)
    response.set_rcode(upstream.rcode())
    response.answer = list(upstream.answer)
    response.authority = list(upstream.authority)
    answers = [rd.to_text() for rrset in upstream.answer if rrset.rdtype == question.rdtype for rd in rrset]
    entry = log_entry(question, upstream.rcode(), answers)
    entry["records"] = [line for rrset in upstream.answer for line in rrset.to_text().splitlines()]
    return Answer(encode(response, question.max_size(proto)), entry)


def encode(response: dns.message.Message, max_size: int) -> bytes:
    """The response's wire form; cut with TC set when it does not fit (the client retries over TCP)."""
    return response.to_wire(max_size=max_size, prefer_truncation=True)


def log_entry(question: Question | None, rcode: int | None, answers: list[str]) -> dict[str, Any]:
    """The log's fields that come from the message (the caller adds ts, client, port and proto)."""
    return {
        "id": question.id if question else None,
        "name": name_text(question.name) if question else None,
        "qtype": dns.rdatatype.to_text(question.rdtype) if question else None,
        "answers": answers,
        "rcode": dns.rcode.to_text(dns.rcode.Rcode.make(rcode)) if rcode is not None else None,
    }


def unreadable_entry(wire: bytes, reply: bytes | None) -> dict[str, Any]:
    """The log line of a message that was not a readable question (its reply's rcode, if one was sent)."""
    rcode = HEADER.unpack_from(reply)[1] & 0xF if reply else None
    entry = log_entry(None, rcode, [])
    entry["id"] = HEADER.unpack_from(wire)[0] if len(wire) >= HEADER.size else None
    entry["note"] = f"not a readable DNS query ({len(wire)} bytes)"
    return entry


# --- the log, read back ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsLogEntry:
    """One DNS message a handset sent the bench, and the answer the bench's resolver gave."""

    ts: float
    client: str
    name: str
    """Lower case, no final dot; empty for a message that was not a readable question."""
    qtype: str
    """``A``, ``AAAA``, ``HTTPS``, ``TYPE65280``... (dnspython's names)."""
    answers: tuple[str, ...] = field(default_factory=tuple)
    port: int = 0
    """The client's source port."""
    rcode: str | None = None
    """``NOERROR``, ``SERVFAIL``, ``FORMERR``...; None when nothing was sent back."""
    proto: str = "udp"
    problem: str | None = None


def read_log(path: Path) -> list[DnsLogEntry]:
    """The resolver's log in order; lines that are not its records (a line cut by a kill) are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            obj = json.loads(line)
            entries.append(
                DnsLogEntry(
                    ts=float(obj["ts"]),
                    client=str(obj["client"]),
                    name=str(obj["name"] or ""),
                    qtype=str(obj["qtype"] or ""),
                    answers=tuple(str(a) for a in obj["answers"]),
                    port=int(obj.get("port") or 0),
                    rcode=obj.get("rcode"),
                    proto=str(obj.get("proto", "udp")),
                    problem=obj.get("problem"),
                )
            )
    return entries


def problems(entries: list[DnsLogEntry]) -> list[str]:
    """What the log says went wrong, once per kind, for a capture's problems."""
    out = []
    exhausted = [e for e in entries if e.problem == POOL_EXHAUSTED]
    if exhausted:
        out.append(
            f"the bench's resolver ran out of addresses: {len(exhausted)} lookups got SERVFAIL from "
            f"{exhausted[0].client} (first: {exhausted[0].name!r}); names after that have no address of their own"
        )
    return out
