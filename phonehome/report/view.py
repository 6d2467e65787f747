"""What a report shows of one handset's run, read from its results folder (and the verdicts just judged).

The HTML report is rendered from files, never from live objects, so the report
a run writes and the one ``phonehome report`` renders again from an archive are
the same bytes when the verdicts are. Every file is read defensively: an
archive is input like any other, so a missing or mangled file leaves its
section empty with a note instead of stopping the report.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.report import folder as results

if TYPE_CHECKING:
    from phonehome.policy import Evaluation

SCENARIO = "scenario.json"
BUILD = "build.json"
PHASED = "capture-phases.json"
"""The record of the phase-marked capture copy (`phonehome.report.phases`)."""
REPORT = "report.html"
"""A handset's HTML report, in its results folder; a batch's is in the run's folder."""
MAX_JSON = 512 << 20
"""Largest results file read for a report (an analysis of millions of flows is larger: its table is cut)."""
_RUN_KEYS = ("run_id", "device", "manifest", "scenario", "phases_needed")
"""The keys of ``evaluation.json`` that the run adds to the policy's own (`record_evaluation`)."""


def read_json(path: Path) -> Any:
    """A results file's JSON, or None when it is absent, too large or not JSON."""
    try:
        if path.stat().st_size > MAX_JSON:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and abs(value) < 1e15 else None


@dataclass
class RunView:
    """One handset's results, as plain JSON documents."""

    folder: Path
    evaluation: dict[str, Any]
    """``evaluation.json``: the run's keys and the verdicts and findings."""
    analysis: dict[str, Any] = field(default_factory=dict)
    judged_flows: set[int] | None = None
    """Ids of the flows the handset took part in (None: not known, every flow is listed as judged)."""
    capture: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    phased: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What could not be read, shown at the top of the report."""
    apps: dict[str, Any] = field(default_factory=dict)
    """``apps.json``: which app owned each flow, where the handset's socket tables said so."""

    @classmethod
    def load(
        cls,
        folder: Path,
        evaluation: Evaluation | None = None,
        analysis: Mapping[str, Any] | None = None,
    ) -> RunView:
        """``folder``'s files; ``evaluation`` and ``analysis`` (just judged) replace the archived ones."""
        notes = []
        archived = obj(read_json(folder / results.EVALUATION))
        if evaluation is not None:
            doc = {key: archived.get(key) for key in _RUN_KEYS if key in archived}
            doc.update(evaluation.to_json())
            judged: set[int] | None = set(evaluation.handset_flows)
        else:
            doc, judged = archived, None
            if not archived:
                notes.append(f"{results.EVALUATION} is missing or unreadable: no verdicts to show")
        if analysis is None:
            analysis = obj(read_json(folder / results.ANALYSIS))
            if not analysis:
                notes.append(f"{results.ANALYSIS} is missing or unreadable: no flows to show")
        return cls(
            folder=folder,
            evaluation=doc,
            analysis=dict(analysis),
            judged_flows=judged,
            capture=obj(read_json(folder / results.CAPTURE)),
            run=obj(read_json(folder / results.RUN)),
            scenario=obj(read_json(folder / SCENARIO)),
            identity=obj(read_json(folder / results.IDENTITY)),
            provenance=obj(read_json(folder / results.PROVENANCE)),
            build=obj(read_json(folder / BUILD)),
            phased=obj(read_json(folder / PHASED)),
            notes=notes,
            apps=obj(read_json(folder / results.APPS)),
        )

    @property
    def device(self) -> str:
        return str(self.evaluation.get("device") or self.run.get("device") or self.folder.name)

    @property
    def result(self) -> str:
        return str(self.evaluation.get("result") or "NO VERDICT")

    def verdicts(self) -> list[dict[str, Any]]:
        return [obj(v) for v in items(self.evaluation.get("verdicts"))]

    def findings(self) -> list[dict[str, Any]]:
        return [obj(f) for f in items(self.evaluation.get("findings"))]

    def flows(self) -> list[dict[str, Any]]:
        return self._flows

    @functools.cached_property
    def _flows(self) -> list[dict[str, Any]]:
        return [obj(f) for f in items(self.analysis.get("flows"))]

    def owner(self, flow_id: object) -> str | None:
        """``com.example.app (uid 10123)`` for a flow the handset's socket tables attributed; None: unknown."""
        found = obj(obj(self.apps.get("flows")).get(str(flow_id))).get("text")
        return found if isinstance(found, str) and found else None

    def markers(self) -> list[tuple[float, str, dict[str, Any]]]:
        """The phase markers, sorted: (ts, phase, detail)."""
        return self._markers

    @functools.cached_property
    def _markers(self) -> list[tuple[float, str, dict[str, Any]]]:
        out = []
        for m in items(self.capture.get("markers")):
            ts = number(obj(m).get("ts"))
            if ts is not None:
                out.append((ts, str(obj(m).get("phase")), obj(obj(m).get("detail"))))
        return sorted(out, key=lambda m: m[0])

    def window(self) -> tuple[float, float] | None:
        """The capture's start and end (seconds since the epoch), from the capture record or the flows."""
        return self._window

    @functools.cached_property
    def _window(self) -> tuple[float, float] | None:
        start, end = number(self.capture.get("started")), number(self.capture.get("ended"))
        times = [t for f in self.flows() for t in (number(f.get("first_ts")), number(f.get("last_ts"))) if t]
        times += [m[0] for m in self.markers()]
        if not start and times:
            start = min(times)
        if not end and times:
            end = max(times)
        if start is None or end is None:
            return None
        end = max([end, *times]) if times else end
        start = min([start, *times]) if times else start
        return start, max(end, start + 1e-3)


def worst_first(results_: Iterable[str]) -> list[str]:
    order = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2, "NOT_APPLICABLE": 3}
    return sorted(set(results_), key=lambda r: order.get(r, 4))
