"""Phase markers: when the handset entered each phase of a scenario, beside its capture.

A bench's ``mark(phase)`` appends one marker; the policy places every packet in
the phase of the last marker at or before its timestamp (the consent
assertion needs to know what was sent before consent). Stored as JSON Lines,
one object per marker, so a killed run keeps every marker written so far.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Phase names scenarios and firmware profiles share; a scenario may add its own.
BOOT = "boot"
NETWORK_ATTACH = "network-attach"
SETUP_WIZARD = "setup-wizard"
CONSENT = "consent"  # detail: {"accepted": bool, plus each toggle's value}
SETUP_COMPLETE = "setup-complete"
IDLE = "idle"
SIM_CHANGE = "sim-change"


@dataclass(frozen=True, slots=True)
class PhaseMarker:
    """The handset entered ``phase`` at ``ts`` (seconds since the epoch, the capture's clock)."""

    ts: float
    phase: str
    detail: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"ts": self.ts, "phase": self.phase, **self.detail}, sort_keys=True)


class TimelineError(ValueError):
    """A timeline file that cannot be read; the message names the file and line."""


def load_timeline(path: Path) -> list[PhaseMarker]:
    """Reads a ``timeline.jsonl``; markers come back sorted by time."""
    markers = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            ts, phase = float(obj.pop("ts")), str(obj.pop("phase"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TimelineError(
                f"{path}:{lineno}: not a phase marker ({exc}); expected {{'ts':..,'phase':..}}"
            ) from exc
        markers.append(PhaseMarker(ts, phase, obj))
    return sorted(markers, key=lambda m: m.ts)


def append_marker(path: Path, marker: PhaseMarker) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(marker.to_json() + "\n")


class Timeline:
    """Answers "which phase was the handset in at time ts?" for sorted markers."""

    def __init__(self, markers: Iterable[PhaseMarker]) -> None:
        self.markers: Sequence[PhaseMarker] = sorted(markers, key=lambda m: m.ts)
        self._times = [m.ts for m in self.markers]

    def phase_at(self, ts: float) -> str | None:
        """The phase of the last marker at or before ``ts``; None before the first marker."""
        i = bisect.bisect_right(self._times, ts)
        return self.markers[i - 1].phase if i else None

    def first(self, phase: str) -> PhaseMarker | None:
        """The first marker of ``phase``, e.g. when consent was given."""
        return next((m for m in self.markers if m.phase == phase), None)
