"""What the store keeps of one run, read from its results folder: plain records, no database.

A run's folder is read with the report's defensive readers (`phonehome.report.view`): an
archive is input like any other, so a file that is missing or mangled leaves its part empty
and the run is still indexed, with what it lacks said in ``doubts``. The store never keeps an
identifier's value: only its kind, how it was encoded, where it went and in which phase.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.report import folder as results
from phonehome.report.bundle import EVIDENCE
from phonehome.report.view import items, number, obj, read_json

if TYPE_CHECKING:
    from phonehome.traffic.timeline import PhaseMarker, Timeline

SUMMARY = "summary.json"
"""A ``phonehome run`` folder's list of its handsets (`phonehome.run`)."""
NO_PHASE = "-"
"""The phase of traffic before the first phase marker (or of a run without markers)."""
BENCH = "(bench)"
"""The name of the bench's own services (its router's DHCP and DNS): benches differ in addresses."""
MAX_TEXT = 512
"""Longest name or label kept: traffic is hostile, a 1 MB SNI is cut, not stored."""
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A string from a results file, cut to ``limit``; anything else is its ``str``."""
    out = value if isinstance(value, str) else "" if value is None else str(value)
    return out[:limit]


def port_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536 else -1


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """A peer the handset exchanged packets with, in one phase: by name when the capture named it."""

    phase: str
    name: str
    """The server name (SNI, HTTP Host, the handset's own DNS answer) or, unnamed, the address."""
    port: int
    """The server's port: the handset's own when the peer opened the flow to it."""
    proto: str
    name_source: str = "none"
    address: str = ""
    transport: str = ""
    role: str = "client"
    """``client``: the handset opened the flow; ``server``: the peer did."""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.phase, self.name, self.port, self.proto)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.port}/{self.proto}"


@dataclass(frozen=True, slots=True, order=True)
class Sent:
    """An identifier (its kind, never its value) that reached an endpoint in one phase."""

    phase: str
    identifier: str
    """The identity's key (``imei``, ``wifi_mac``...); an identifier-shaped field: ``shaped:FORM``."""
    name: str
    port: int
    proto: str
    form: str = ""
    decode: str = ""
    rule: str = ""

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        return (self.phase, self.identifier, self.name, self.port, self.proto)

    @property
    def label(self) -> str:
        return f"{self.identifier} -> {self.name}:{self.port}/{self.proto}"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file of the results folder and its SHA-256, from the evidence bundle."""

    path: str
    sha256: str
    size: int


@dataclass
class RunRecord:
    """One handset's run as the store keeps it."""

    run_id: str
    batch: str
    device: str = ""
    folder: str = ""
    result: str | None = None
    """The worst verdict; None: the run ended without verdicts."""
    reason: str = ""
    """Why there is no verdict (the run's session or summary said so)."""
    started: float | None = None
    phonehome: str = ""
    manifest_sha256: str = ""
    scenario: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)
    """assertion -> PASS | FAIL | INCONCLUSIVE | NOT_APPLICABLE."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Each finding's rule, assertion, identifier kind, form, decode chain, phase and endpoint (no excerpt)."""
    endpoints: list[Endpoint] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    """What undermines the run's evidence as a whole (capture drops, no traffic, a file unreadable)."""


def is_handset_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (results.RUN, results.EVALUATION, results.SESSION))


def read_results(folder: Path, batch: str | None = None, *, deep: bool = False) -> list[RunRecord]:
    """Every run in ``folder``: a handset's results folder, or a ``phonehome run`` folder of several
    (its ``summary.json``, else the handset folders inside). ValueError: neither. ``deep``: see
    `read_run`."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    if is_handset_folder(folder):
        return [read_run(folder, batch, deep=deep)]
    summary = read_json(folder / SUMMARY)
    name = batch or folder.name
    runs: list[RunRecord] = []
    seen: set[Path] = set()
    for i, entry in enumerate(map(obj, items(summary))):
        where = Path(text(entry.get("results"))).name
        inside = folder / where if where else None
        if inside is not None and inside.is_dir() and is_handset_folder(inside):
            seen.add(inside)
            record = read_run(inside, name, deep=deep)
            if record.result is None and not record.reason:
                record.reason = text(entry.get("reason")) or "no verdict"
            runs.append(record)
        else:  # a handset that left no folder still counts: it has no verdict
            device = text(entry.get("device"))
            runs.append(
                RunRecord(
                    f"{name}#{i}-{device}",
                    name,
                    device=device,
                    folder=str(folder),
                    reason=text(entry.get("reason")) or "no results folder",
                )
            )
    for inside in sorted(p for p in folder.iterdir() if p.is_dir() and p not in seen):
        if is_handset_folder(inside):
            runs.append(read_run(inside, name, deep=deep))
    if not runs:
        raise ValueError(f"{folder}: neither a handset's results folder nor a batch of them")
    return runs


def read_run(folder: Path, batch: str | None = None, *, deep: bool = False) -> RunRecord:
    """One handset's folder as a `RunRecord` (batch: ``batch``, else the folder's own batch).

    ``evaluation.json`` lists the identifiers that broke a rule: in clear, or to a recipient not
    declared for them. ``deep`` judges the capture again without the manifest (as ``phonehome
    judge`` does, its files checked against their SHA-256), so identifiers sent inside TLS to a
    declared recipient are known too; it costs one more analysis of the capture."""
    evaluation = obj(read_json(folder / results.EVALUATION))
    run = obj(read_json(folder / results.RUN))
    session = obj(read_json(folder / results.SESSION))
    capture = obj(read_json(folder / results.CAPTURE))
    analysis = obj(read_json(folder / results.ANALYSIS))
    run_id = text(evaluation.get("run_id") or run.get("run_id") or session.get("run_id"), 64)
    record = RunRecord(
        run_id or _folder_id(folder),
        batch or _batch_of(folder, run),
        device=text(evaluation.get("device") or run.get("device") or session.get("device")),
        folder=str(folder.resolve()),
        started=number(capture.get("started")),
        phonehome=text(run.get("phonehome"), 64),
        manifest_sha256=text(obj(evaluation.get("manifest") or run.get("manifest")).get("sha256"), 64),
        scenario=text(obj(evaluation.get("scenario")).get("name") or run.get("scenario")),
    )
    verdicts = {
        text(v.get("assertion")): text(v.get("result"), 32)
        for v in map(obj, items(evaluation.get("verdicts")))
        if isinstance(v.get("assertion"), str) and v["assertion"]
    }
    if evaluation and verdicts:
        record.result = text(evaluation.get("result"), 32) or None
        record.verdicts = verdicts
    else:
        error = obj(session.get("error"))
        record.reason = text(error.get("message")) or f"no {results.EVALUATION} with verdicts"
    record.doubts = [text(d) for d in items(evaluation.get("doubts"))]
    from phonehome.traffic.timeline import Timeline  # noqa: PLC0415  (the traffic package: only to read a run)

    timeline = Timeline(_markers(capture))
    record.findings = [_finding(obj(f)) for f in items(evaluation.get("findings"))]
    record.sent = sorted(set(_sent(record.findings)))
    if deep and record.result is not None:
        record.sent = sorted({*record.sent, *_sent_everywhere(folder, record)})
    handset = _handset(text(obj(evaluation.get("handset")).get("addresses"), 4096), capture)
    bench = {text(a) for a in items(capture.get("router_addresses"))}
    if analysis:
        record.endpoints = sorted(set(_endpoints(items(analysis.get("flows")), handset, bench, timeline)))
    elif record.result is not None:
        record.doubts.append(
            f"{results.ANALYSIS} is missing or unreadable: the endpoints reached are unknown"
        )
    evidence = obj(read_json(folder / EVIDENCE))
    record.artifacts = [
        Artifact(text(f.get("path"), 1024), text(f.get("sha256"), 64), int(number(f.get("size")) or 0))
        for f in map(obj, items(evidence.get("files")))
        if isinstance(f.get("path"), str)
    ]
    return record


def _sent_everywhere(folder: Path, record: RunRecord) -> list[Sent]:
    """Every identifier the capture shows sent, judged without the manifest; a capture that cannot be
    judged again is a doubt (the identifiers it sent are then not known in full)."""
    from phonehome.report.rejudge import JudgeError, rejudge  # noqa: PLC0415  (the policy: only when deep)

    try:
        judged = rejudge(folder, with_manifest=False)
    except JudgeError as exc:
        record.doubts.append(f"the capture could not be judged again for every identifier sent: {exc}")
        return []
    return list(_sent(_finding(f.to_json()) for f in judged.evaluation.findings))


def _folder_id(folder: Path) -> str:
    """The id of a run whose files name none: its folder's (two archives of the same name stay two)."""
    digest = hashlib.sha256(str(folder.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"folder:{folder.name[:100]}:{digest}"


def _batch_of(folder: Path, run: dict[str, Any]) -> str:
    """The run's batch: what run.json says, else the ``phonehome run`` folder it sits in, else its own."""
    given = run.get("batch")
    if isinstance(given, str) and given:
        return text(given, 200)
    if (folder.parent / SUMMARY).is_file() or folder.parent.name.startswith("run-"):
        return folder.parent.name
    return folder.name


def _markers(capture: dict[str, Any]) -> list[PhaseMarker]:
    from phonehome.traffic.timeline import PhaseMarker  # noqa: PLC0415

    out = []
    for m in map(obj, items(capture.get("markers"))):
        ts = number(m.get("ts"))
        if ts is not None and isinstance(m.get("phase"), str):
            out.append(PhaseMarker(ts, text(m["phase"], 64), obj(m.get("detail"))))
    return out


def _handset(addresses: str, capture: dict[str, Any]) -> set[str]:
    """The handset's IP and MAC addresses (evaluation.json's, and the capture record's)."""
    out = {a.strip().lower() for a in addresses.split(",") if a.strip()}
    for key in ("handset_ip", "handset_mac"):
        if isinstance(capture.get(key), str):
            out.add(capture[key].lower())
    return out


def _endpoints(
    flows: Iterable[Any], handset: set[str], bench: set[str], timeline: Timeline
) -> Iterable[Endpoint]:
    """The peer of every flow the handset took part in. With no handset address known, every flow is
    the handset's: a peer is never hidden because the run could not say who the handset was."""
    ips = {a for a in handset if not _MAC.match(a)}
    for flow in map(obj, flows):
        src, dst = text(flow.get("src"), 64).lower(), text(flow.get("dst"), 64).lower()
        macs = {text(flow.get("src_mac"), 32).lower(), text(flow.get("dst_mac"), 32).lower()}
        if handset and not ({src, dst} & ips or macs & (handset - ips)):
            continue
        opened = src in ips or not ips or text(flow.get("src_mac"), 32).lower() in handset
        peer = dst if opened else src
        ts = number(flow.get("first_ts"))
        phase = (timeline.phase_at(ts) if ts is not None else None) or NO_PHASE
        name = text(flow.get("server_name"))
        source = text(flow.get("name_source"), 16) or "none"
        if peer in bench and not name:
            name, source = BENCH, "bench"
        yield Endpoint(
            phase,
            name or _address(peer),
            port_of(flow.get("dport")),
            text(flow.get("proto"), 16),
            source if name else "none",
            _address(peer),
            text(flow.get("transport"), 16),
            "client" if opened else "server",
        )


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _finding(f: dict[str, Any]) -> dict[str, Any]:
    flow = obj(f.get("flow"))
    return {
        "rule": text(f.get("rule"), 64),
        "assertion": text(f.get("assertion"), 64),
        "identifier": text(f.get("identifier"), 64) or None,
        "form": text(f.get("form"), 128) or None,
        "decode": text(f.get("decode")) or None,
        "phase": text(f.get("phase"), 64) or None,
        "name": text(flow.get("server_name") or flow.get("dst")) or None,
        "port": port_of(flow.get("dport")) if flow else None,
        "proto": text(flow.get("proto"), 16) or None,
    }


def _sent(findings: Iterable[dict[str, Any]]) -> Iterable[Sent]:
    """Identifiers that reached an endpoint: every finding about an identifier's bytes in a flow (in
    clear, to a recipient not declared for it, an identifier-shaped field)."""
    for f in findings:
        if f["name"] is None or not (f["identifier"] or f["rule"] == "identifier-shaped-field"):
            continue
        kind = f["identifier"] or f"shaped:{f['form'] or 'unknown'}"
        yield Sent(
            f["phase"] or NO_PHASE,
            kind,
            f["name"],
            f["port"] if f["port"] is not None else -1,
            f["proto"] or "",
            f["form"] or "",
            f["decode"] or "",
            f["rule"],
        )
