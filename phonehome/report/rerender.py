"""``phonehome report RESULTS``: an archived run judged again from its files alone, and its reports rendered.

``RESULTS`` is a handset's folder or a ``phonehome run`` folder (its handsets
are listed in ``summary.json``). Each handset's capture is judged again
(`phonehome.report.rejudge`); only when every verdict is reproduced are its
HTML report and the batch's rendered again, in place or under ``output``.
Rendering is deterministic, so in place the files come out byte for byte as
the run wrote them and the evidence bundle still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phonehome import exits
from phonehome.report import batch, html
from phonehome.report import folder as results
from phonehome.report.analysis_json import to_dict
from phonehome.report.rejudge import JudgeError, rejudge
from phonehome.report.view import REPORT, RunView, obj, read_json

SUMMARY = "summary.json"


@dataclass
class Handset:
    """One handset's folder, judged again."""

    device: str
    folder: Path
    result: str | None = None
    status: int | None = None
    """The archived exit status of a handset that had no verdict (summary.json)."""
    differences: list[str] = field(default_factory=list)
    error: str = ""
    """Why it could not be judged again (a file missing or not the one sealed)."""
    report: Path | None = None
    evaluation: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "folder": str(self.folder),
            "result": self.result,
            "reproduced": not self.error and not self.differences,
            "differences": self.differences,
            "error": self.error or None,
            "report": str(self.report) if self.report else None,
        }


@dataclass
class Rendered:
    """What ``phonehome report`` did: each handset, and the report to open."""

    handsets: list[Handset]
    report: Path | None

    @property
    def status(self) -> int:
        """Internal error when a verdict was not reproduced, bad input when a folder could not be judged,
        else the status of the worst verdict."""
        if any(h.differences for h in self.handsets):
            return exits.INTERNAL_ERROR
        if any(h.error for h in self.handsets) or not self.handsets:
            return exits.BAD_INPUT
        return exits.worst(exits.FOR_RESULT.get(h.result or "", exits.NO_VERDICT) for h in self.handsets)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "report": str(self.report) if self.report else None,
            "handsets": [h.to_json() for h in self.handsets],
        }


def render_results(folder: Path, output: Path | None = None) -> Rendered:
    """Judges ``folder`` (a handset's or a batch's) again and renders its reports (into ``output``)."""
    summary = read_json(folder / SUMMARY)
    if (folder / results.RUN).exists() or not isinstance(summary, list):
        handset = _one(folder, None, output)
        return Rendered([handset], handset.report)
    handsets = []
    for entry in map(obj, summary):
        name = Path(str(entry.get("results") or "")).name
        where = folder / name if name else None
        if where is None or not (where / results.RUN).exists():
            status = entry.get("status") if isinstance(entry.get("status"), int) else exits.NO_VERDICT
            reason = str(entry.get("reason") or "no results")
            handsets.append(Handset(str(entry.get("device")), where or folder, status=status, error=reason))
            continue
        handsets.append(_one(where, str(entry.get("device")), output / name if output else None))
    if any(h.differences for h in handsets):
        return Rendered(handsets, None)
    outcomes = [
        batch.Outcome(
            h.device,
            h.status if h.status is not None else exits.FOR_RESULT.get(h.result or "", exits.NO_VERDICT),
            h.result,
            h.error,
            h.report.parent if h.report else h.folder,
            h.evaluation,
        )
        for h in handsets
    ]
    target = output or folder
    target.mkdir(parents=True, exist_ok=True)
    report = results.write_text(target / REPORT, batch.render_batch(outcomes, target))
    return Rendered(handsets, report)


def _one(folder: Path, device: str | None, output: Path | None) -> Handset:
    handset = Handset(device or folder.name, folder)
    try:
        judged = rejudge(folder)
    except JudgeError as exc:
        handset.error = str(exc)
        return handset
    handset.result = judged.evaluation.result
    handset.differences = judged.differences
    if judged.differences:
        return handset
    analysis = to_dict(judged.analysis) if judged.analysis is not None else None
    view = RunView.load(folder, judged.evaluation, analysis)
    handset.device = device or view.device
    handset.evaluation = view.evaluation
    target = output or folder
    target.mkdir(parents=True, exist_ok=True)
    handset.report = results.write_text(target / REPORT, html.render_run(view))
    return handset
