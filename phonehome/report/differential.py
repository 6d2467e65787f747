"""``phonehome differential RUN RUN...``: runs of one firmware compared field by field across identities.

Each results folder gives its capture (verified against the SHA-256 the run
sealed) and the identity it was judged with; `phonehome.policy.differential`
finds the fields that follow an identifier in no encoding leak detection
knows. Exit 1 when one is found (a probable obfuscated identifier), 0 when
none, 4 for a folder that cannot be read, 3 when the runs cannot show
anything (fewer than two identities).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phonehome import exits
from phonehome.policy import differential, load_identity
from phonehome.report import folder as results
from phonehome.report.escape import visible
from phonehome.report.rejudge import JudgeError, _capture, _object
from phonehome.traffic import CaptureError, analyze
from phonehome.yamlconf import ConfigError


@dataclass
class Comparison:
    """What the comparison found, and what limits it."""

    runs: list[str]
    suspects: list[differential.Suspect]
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        if self.suspects:
            return exits.FAIL
        return exits.INCONCLUSIVE if self.notes else exits.PASS

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "runs": self.runs,
            "suspects": [s.to_json() for s in self.suspects],
            "notes": self.notes,
        }


def load_run(folder: Path) -> differential.RunFields:
    """A results folder's fields and identity; `JudgeError` naming the file when it cannot be read."""
    run = _object(folder / results.RUN)
    capture = _capture(folder, _object(folder / str(run.get("capture", results.CAPTURE))))
    try:
        identity = load_identity(folder / str(run.get("identity", results.IDENTITY)))
    except ConfigError as exc:
        raise JudgeError(str(exc).splitlines()[0]) from exc
    collector = differential.FieldCollector()
    try:
        analyze([f.path for f in capture.files], observer=collector, hash_files=False)
    except CaptureError as exc:
        raise JudgeError(str(exc)) from exc
    label = f"{run.get('device', '?')} ({folder.name})"
    return differential.RunFields(label, identity, collector.samples)


def handset_folders(folders: Sequence[Path]) -> list[Path]:
    """Each folder, with a ``phonehome run`` folder replaced by its handsets' folders (``summary.json``)."""
    out = []
    for folder in folders:
        summary = folder / "summary.json"
        if not summary.is_file():
            out.append(folder)
            continue
        try:
            handsets = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise JudgeError(f"{summary}: unreadable: {exc}") from exc
        out += [
            Path(h["results"]) for h in handsets if isinstance(h, dict) and isinstance(h.get("results"), str)
        ]
    return out


def compare_folders(folders: Sequence[Path]) -> Comparison:
    """The runs of ``folders`` (handsets' results folders, or batches') compared field by field."""
    runs = [load_run(folder) for folder in handset_folders(folders)]
    notes = []
    identities = {json.dumps(_values(r), sort_keys=True) for r in runs}
    if len(identities) < 2:
        notes.append(
            "every run has the same identity: nothing can change with an identifier (run handsets of "
            "different identities, e.g. two units of the batch)"
        )
    return Comparison([r.label for r in runs], differential.compare(runs), notes)


def _values(run: differential.RunFields) -> dict[str, list[str]]:
    return {k: [str(v) for v in getattr(run.identity, k, ()) or ()] for k in differential.IDENTIFIERS}


def render(comparison: Comparison) -> str:
    """The terminal text: each suspect with its runs' excerpts, then the notes and the bottom line."""
    lines = [f"compared: {', '.join(visible(r, 200) for r in comparison.runs)}"]
    for s in comparison.suspects:
        lines.append(
            visible(
                f"probable obfuscated identifier ({s.method}, follows {', '.join(s.identifiers)}): "
                f"{s.endpoint} {s.field}",
                400,
            )
        )
        lines.append(visible(f"  {s.detail}", 600))
        lines += [visible(f"  {run}: frame {frame}: {text}", 400) for run, text, frame in s.excerpts]
    lines += [visible(f"note: {note}", 400) for note in comparison.notes]
    if not comparison.suspects:
        lines.append("no field follows an identifier outside the encodings leak detection knows")
    return "\n".join(lines) + "\n"
