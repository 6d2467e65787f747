"""Phase markers: when the handset entered each phase of a scenario, beside its capture.

A bench's ``mark(phase)`` appends one marker; the policy places every packet in
the phase of the last marker at or before its timestamp (the consent
assertion needs to know what was sent before consent). Stored as JSON Lines,
one object per marker, so a killed run keeps every marker written so far.
"""

from __future__ import annotations

import bisect
import json
import math
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
END = "end"
"""The detail key of a phase-end marker: ``{"phase": NAME, "end": true}`` (a scenario writes one per phase)."""


@dataclass(frozen=True, slots=True)
class PhaseMarker:
    """The handset entered ``phase`` at ``ts`` (seconds since the epoch, the capture's clock)."""

    ts: float
    phase: str
    detail: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"ts": self.ts, "phase": self.phase, **self.detail}, sort_keys=True)

    @property
    def is_end(self) -> bool:
        """An end marker (``"end": true``): the phase ended, no new phase began."""
        return self.detail.get(END) is True


class TimelineError(ValueError):
    """A timeline file that cannot be used; the message is one line, ``file:line: key: problem (what to do)``."""


MAX_BYTES = 16 << 20
"""Largest timeline read: a marker is under 200 bytes, so this holds a week of one marker a second."""
MAX_LINE = 64 << 10
"""Longest marker line."""
MAX_DEPTH = 16
"""Deepest nesting of a marker's detail (consent toggles are one level)."""
MAX_INT_DIGITS = 40
MAX_PHASE = 200


class _Bad(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def load_timeline(path: Path) -> list[PhaseMarker]:
    """Reads a ``timeline.jsonl``; markers come back sorted by time.

    The file is hostile input like any other (a killed run, a copied folder): its size, line length,
    nesting and numbers are bounded, a repeated key is an error (which ``ts`` would count?), and
    ``ts`` must be a finite number, so markers always sort; every problem is one `TimelineError` line.
    """
    where = _printable(str(path))
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TimelineError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise TimelineError(
            f"{where}: larger than {MAX_BYTES >> 20} MiB, the limit for a timeline (is it the right file?)"
        )
    markers = []
    offset = 0
    if data.startswith(b"\xef\xbb\xbf"):  # a byte order mark some editors write: not part of the JSON
        data, offset = data[3:], 3
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            marker = _marker(raw, offset)
        except _Bad as exc:
            raise TimelineError(f"{where}:{lineno}: {exc.key}: {exc.problem}") from None
        if marker is not None:
            markers.append(marker)
        offset += len(raw) + 1
    return sorted(markers, key=lambda m: m.ts)


def _marker(raw: bytes, offset: int) -> PhaseMarker | None:
    """One line as a marker; None for a blank line."""
    if len(raw) > MAX_LINE:
        raise _Bad("(top level)", f"longer than {MAX_LINE >> 10} KiB (one marker per line)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(
            "(top level)",
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {offset + exc.start} (write UTF-8)",
        ) from None
    if not text.strip():
        return None
    try:
        obj = json.loads(
            text, object_pairs_hook=_no_repeats, parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except _Bad:
        raise
    except RecursionError:
        raise _Bad("(top level)", f"nested more than {MAX_DEPTH} levels deep (flatten the detail)") from None
    except ValueError as exc:
        problem = (
            f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )
        raise _Bad("(top level)", f"not JSON: {_printable(problem)} (one JSON object per line)") from None
    if not isinstance(obj, dict):
        raise _Bad("(top level)", 'not a phase marker (one JSON object per line: {"ts": ..., "phase": ...})')
    _check_depth(obj)
    ts, phase = obj.pop("ts", None), obj.pop("phase", None)
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise _Bad("ts", f"must be a number of seconds since the epoch, got {_shown(ts)}")
    if not isinstance(phase, str) or not phase or len(phase) > MAX_PHASE or not phase.isprintable():
        raise _Bad(
            "phase", f"must be a phase name (printable, 1-{MAX_PHASE} characters), got {_shown(phase)}"
        )
    if phase == CONSENT and not isinstance(obj.get("accepted"), bool):
        # The consent verdict reads the decision; a marker without one would silently mean "no decision".
        raise _Bad("accepted", f"a consent marker must say true or false, got {_shown(obj.get('accepted'))}")
    return PhaseMarker(float(ts), phase, obj)


def _no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Bad(_printable(key, 60), "repeated in one object (write each key once)")
            seen.add(key)
    return obj


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Bad(
            "(top level)", f"an integer of {len(text)} digits is longer than the {MAX_INT_DIGITS} allowed"
        )
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Bad("(top level)", f"the number {_shown(text)} is out of range")
    return value


def _constant(text: str) -> float:
    raise _Bad("(top level)", f"{text} is not a JSON number (write a finite number)")


def _check_depth(obj: object) -> None:
    level: list[object] = [obj]
    for _depth in range(MAX_DEPTH + 1):
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
        ]
        if not level:
            return
    raise _Bad("(top level)", f"nested more than {MAX_DEPTH} levels deep (flatten the detail)")


def _shown(value: object, limit: int = 60) -> str:
    """A value for an error message: text quoted, escaped and cut short; others named by type."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a JSON {'object' if isinstance(value, dict) else 'array'}"


def _printable(text: str, limit: int = 200) -> str:
    cut = text[:limit]
    out = cut if cut.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return out + ("…" if len(text) > limit else "")


def append_marker(path: Path, marker: PhaseMarker) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(marker.to_json() + "\n")


class Timeline:
    """Answers "which phase was the handset in at time ts?" for sorted markers.

    End markers are kept in ``markers`` but start nothing: what the handset sends after a phase ended
    and before the next began still belongs to the phase that ended (a scenario's phases follow each
    other; traffic in between is the last phase's after-effect, never "no phase").
    """

    def __init__(self, markers: Iterable[PhaseMarker]) -> None:
        self.markers: Sequence[PhaseMarker] = sorted(markers, key=lambda m: m.ts)
        self._starts = [m for m in self.markers if not m.is_end]
        self._times = [m.ts for m in self._starts]

    def phase_at(self, ts: float) -> str | None:
        """The phase of the last start marker at or before ``ts``; None before the first one."""
        i = bisect.bisect_right(self._times, ts)
        return self._starts[i - 1].phase if i else None

    def first(self, phase: str) -> PhaseMarker | None:
        """The first start marker of ``phase``, e.g. when consent was given."""
        return next((m for m in self._starts if m.phase == phase), None)
