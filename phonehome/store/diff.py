"""``phonehome diff``: what a newer build does that an older one did not, per phase.

Each side is one run or a batch of runs (the same firmware on several handsets): its endpoints
and the identifiers it sent are the union over its runs, its verdict per assertion the worst.
The newer side regresses when it sends an identifier kind to an endpoint that the older never
sent it to, when a verdict gets worse (PASS to INCONCLUSIVE or FAIL, INCONCLUSIVE to FAIL, any to
none), or when one of its runs cannot show what it did *not* do: a run without verdicts, or whose
capture is in doubt (drops, no traffic from the handset, an unreadable analysis). Absence shown
by a doubtful capture is no absence, so such a run regresses even where nothing new was seen.

With ``gate`` (``phonehome diff --gate``, what a CI job asks: *the newer may not reach anything
the older did not, or send any identifier it did not*) every endpoint (name, port, protocol) the
older never reached is a regression too, declared in the manifest or not. What is new is listed
per phase; with ``by_phase`` (``--by-phase``) an endpoint or a send the older had only in other
phases regresses as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from phonehome.report.escape import visible
from phonehome.store.records import Endpoint, RunRecord, Sent

ORDER = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2, "NOT_APPLICABLE": 3}
"""Worst first; a result outside these (a newer phonehome's) counts as the worst."""
MISSING = "NO VERDICT"


def worst(results: Iterable[str]) -> str:
    found = list(results)
    return min(found, key=lambda r: ORDER.get(r, -1)) if found else MISSING


@dataclass
class Side:
    """One side of a diff: its label (what was asked for) and its runs."""

    label: str
    runs: list[RunRecord]

    def endpoints(self) -> dict[tuple[str, str, int, str], list[Endpoint]]:
        out: dict[tuple[str, str, int, str], list[Endpoint]] = defaultdict(list)
        for run in self.runs:
            for e in run.endpoints:
                out[e.key].append(e)
        return out

    def sent(self) -> dict[tuple[str, str, str, int, str], list[Sent]]:
        out: dict[tuple[str, str, str, int, str], list[Sent]] = defaultdict(list)
        for run in self.runs:
            for s in run.sent:
                out[s.key].append(s)
        return out

    def verdicts(self) -> dict[str, str]:
        """Per assertion, the worst verdict of the side's runs that judged it; a run without any
        verdict makes every assertion's ``NO VERDICT``."""
        assertions = {a for run in self.runs for a in run.verdicts}
        out = {}
        for a in sorted(assertions):
            results = [
                run.verdicts[a] if run.verdicts else MISSING
                for run in self.runs
                if a in run.verdicts or not run.verdicts
            ]
            out[a] = MISSING if MISSING in results else worst(results)
        return out

    def devices(self, run_ids: Iterable[str]) -> list[str]:
        ids = set(run_ids)
        return sorted({r.device or r.run_id for r in self.runs if r.run_id in ids})

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "runs": len(self.runs),
            "batches": sorted({r.batch for r in self.runs}),
            "devices": sorted({r.device for r in self.runs}),
        }


@dataclass
class Diff:
    """What changed from ``old`` to ``new``, and whether the newer regressed (and why)."""

    old: Side
    new: Side
    phases: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """phase -> ``endpoints_new``, ``endpoints_gone``, ``identifiers_new``, ``identifiers_gone``."""
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    """Every assertion whose verdict changed: old, new, and whether the change is a regression."""
    unproven: list[str] = field(default_factory=list)
    """The newer side's runs that cannot show what they did not do (no verdict, a doubtful capture)."""
    reasons: list[str] = field(default_factory=list)
    """Each regression in one line, for the terminal and CI logs."""

    @property
    def regressed(self) -> bool:
        return bool(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "regression": self.regressed,
            "reasons": self.reasons,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "phases": self.phases,
            "verdicts": self.verdicts,
            "unproven": self.unproven,
        }


def diff(old: Side, new: Side, *, gate: bool = False, by_phase: bool = False) -> Diff:
    """Compares ``new`` with ``old`` (neither may be empty: the caller refuses that as bad input).

    What is new or gone is listed per phase. An endpoint or a send the older had in another phase is
    listed with those phases (``older_in``) but regresses only with ``by_phase``: a flow that starts
    a moment later, across a phase marker, is the same behaviour; one that moves before consent is
    the consent assertion's to judge. ``gate``: a new endpoint regresses, not only a new send."""
    out = Diff(old, new)
    phases: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"endpoints_new": [], "endpoints_gone": [], "identifiers_new": [], "identifiers_gone": []}
    )
    before, after = old.endpoints(), new.endpoints()
    for key in sorted(after.keys() - before.keys()):
        seen, older_in = after[key], _phases_of(key, before)
        phases[key[0]]["endpoints_new"].append({**_endpoint(seen, new), "older_in": older_in})
        if gate and (by_phase or not older_in):
            out.reasons.append(
                f"{key[0]}: reaches {seen[0].label}, which {old.label} did not{_where(older_in)}"
            )
    for key in sorted(before.keys() - after.keys()):
        phases[key[0]]["endpoints_gone"].append(_endpoint(before[key], old))
    sent_before, sent_after = old.sent(), new.sent()
    for skey in sorted(sent_after.keys() - sent_before.keys()):
        sends, older_in = sent_after[skey], _phases_of(skey, sent_before)
        phases[skey[0]]["identifiers_new"].append({**_sent(sends, new), "older_in": older_in})
        if by_phase or not older_in:
            out.reasons.append(
                f"{skey[0]}: sends {sends[0].label}, which {old.label} did not{_where(older_in)}"
            )
    for skey in sorted(sent_before.keys() - sent_after.keys()):
        phases[skey[0]]["identifiers_gone"].append(_sent(sent_before[skey], old))
    out.phases = {phase: dict(changes) for phase, changes in sorted(phases.items())}
    was, now = old.verdicts(), new.verdicts()
    for assertion in sorted(was.keys() | now.keys()):
        a, b = was.get(assertion, MISSING), now.get(assertion, MISSING)
        if a == b:
            continue
        # an assertion the older did not judge: anything short of a pass is news, and bad news
        worse = _rank(b) < (_rank(a) if a in ORDER else 3) or b not in ORDER
        out.verdicts.append({"assertion": assertion, "old": a, "new": b, "regression": worse})
        if worse:
            out.reasons.append(f"{assertion}: {a} -> {b}")
    for run in new.runs:
        why = unproven(run)
        if why:
            line = f"{run.device or run.run_id} ({run.run_id}): {why}"
            out.unproven.append(line)
            out.reasons.append(f"cannot show what it did not do: {line}")
    return out


def _phases_of(key: tuple[Any, ...], seen: Iterable[tuple[Any, ...]]) -> list[str]:
    """The phases in which ``seen`` holds ``key`` but for its phase (its first element)."""
    return sorted({k[0] for k in seen if k[1:] == key[1:]})


def _where(older_in: list[str]) -> str:
    return f" in that phase (only in {', '.join(older_in)})" if older_in else ""


def _rank(result: str) -> int:
    """FAIL below INCONCLUSIVE below PASS, NOT_APPLICABLE as PASS (as `phonehome.exits` counts it); no
    verdict, or one this phonehome does not know, lowest."""
    return {"FAIL": 1, "INCONCLUSIVE": 2, "PASS": 3, "NOT_APPLICABLE": 3}.get(result, 0)


def unproven(run: RunRecord) -> str:
    """Why ``run`` cannot show the absence of an endpoint or identifier; empty when it can."""
    if run.result is None or not run.verdicts:
        return f"no verdict ({run.reason or 'the run ended without verdicts'})"
    if run.doubts:
        more = f" (and {len(run.doubts) - 1} more)" if len(run.doubts) > 1 else ""
        return f"its capture is in doubt: {run.doubts[0]}{more}"
    return ""


def _endpoint(seen: Sequence[Endpoint], side: Side) -> dict[str, Any]:
    first = seen[0]
    return {
        "name": first.name,
        "port": first.port,
        "proto": first.proto,
        "named_by": sorted({e.name_source for e in seen}),
        "addresses": sorted({e.address for e in seen}),
        "transports": sorted({e.transport for e in seen}),
        "opened_by": sorted({"handset" if e.role == "client" else "peer" for e in seen}),
        "devices": side.devices(r.run_id for r in side.runs if any(e in r.endpoints for e in seen)),
    }


def _sent(sends: Sequence[Sent], side: Side) -> dict[str, Any]:
    first = sends[0]
    return {
        "identifier": first.identifier,
        "to": f"{first.name}:{first.port}/{first.proto}",
        "forms": sorted({s.form for s in sends if s.form}),
        "decodes": sorted({s.decode for s in sends if s.decode}),
        "rules": sorted({s.rule for s in sends if s.rule}),
        "devices": side.devices(r.run_id for r in side.runs if any(s in r.sent for s in sends)),
    }


def render(result: Diff) -> list[str]:
    """The diff as terminal lines: per phase what is new and gone, verdicts changed, the outcome."""
    lines = [
        f"old: {result.old.label} ({len(result.old.runs)} runs)",
        f"new: {result.new.label} ({len(result.new.runs)} runs)",
    ]
    for phase, changes in result.phases.items():
        lines.append(f"phase {phase}:")
        for e in changes["endpoints_new"]:
            moved = f"; the older in {', '.join(e['older_in'])}" if e["older_in"] else ""
            lines.append(
                f"  + endpoint {e['name']}:{e['port']}/{e['proto']}  ({', '.join(e['devices'])}{moved})"
            )
        for e in changes["endpoints_gone"]:
            lines.append(f"  - endpoint {e['name']}:{e['port']}/{e['proto']}")
        for s in changes["identifiers_new"]:
            moved = f"; the older in {', '.join(s['older_in'])}" if s["older_in"] else ""
            lines.append(f"  + sends {s['identifier']} to {s['to']}  ({', '.join(s['devices'])}{moved})")
        for s in changes["identifiers_gone"]:
            lines.append(f"  - sends {s['identifier']} to {s['to']}")
    for v in result.verdicts:
        lines.append(
            f"verdict {v['assertion']}: {v['old']} -> {v['new']}"
            + ("  (regression)" if v["regression"] else "")
        )
    for line in result.unproven:
        lines.append(f"unproven: {line}")
    if result.regressed:
        lines.append(
            f"REGRESSION: {len(result.reasons)} (the newer reaches, sends or proves less than the older)"
        )
    else:
        lines.append("no regression: the newer reaches and sends nothing the older did not")
    return [visible(line) for line in lines]  # names come from traffic: no escape sequence reaches a terminal
