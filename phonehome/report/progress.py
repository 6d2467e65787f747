"""The operator's view of a long run: what is happening now, on the terminal.

A handset's run happens in a child pytest session whose output goes to a log,
so the child writes its progress as events into ``progress.jsonl`` in its
results folder (`ProgressLog`: bench up, each phase and wizard screen, the
capture window's elapsed time and packets, the analysis), and ``phonehome
run`` follows that file (`Follower`) and shows it (`Display`): one status line
rewritten in place, or with ``-v`` one line per step. Nothing of it is printed
when stdout is not a terminal (a CI log wants the verdicts, not a spinner),
nor with ``-q``. The file stays in the results: a timestamped log of the run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from phonehome.report.escape import visible

PROGRESS = "progress.jsonl"
TICK_S = 1.0
MAX_LINE = 4096


class ProgressLog:
    """The child's side: appends one JSON object per event; never raises (progress is not evidence)."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()

    def event(self, step: str, text: str = "", **detail: object) -> None:
        if self.path is None:
            return
        line = json.dumps({"t": round(self.clock(), 3), "step": step, "text": text, **detail}, default=str)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line[:MAX_LINE] + "\n")
        except OSError:
            pass

    def ticker(self, count: Callable[[], int | None], every: float = TICK_S) -> Ticker:
        """A thread that reports the capture window's elapsed time and packets until stopped."""
        return Ticker(self, count, every)


class Ticker:
    """``with log.ticker(count):`` reports ``capture`` events every ``every`` seconds."""

    def __init__(self, log: ProgressLog, count: Callable[[], int | None], every: float) -> None:
        self.log, self.count, self.every = log, count, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phonehome-progress", daemon=True)
        self._started = 0.0
        self._base: int | None = None

    def __enter__(self) -> Ticker:
        self._started = time.monotonic()
        self._base = self._packets()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _packets(self) -> int | None:
        try:
            return self.count()
        except Exception:  # a counter that fails (the bench went away) only stops the count
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            now = self._packets()
            packets = None if now is None or self._base is None else max(0, now - self._base)
            self.log.event("capture", elapsed=round(time.monotonic() - self._started, 1), packets=packets)


class Follower:
    """The parent's side: the events appended to a child's ``progress.jsonl`` since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def events(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(1 << 20)
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()[:MAX_LINE]
        out = []
        for raw in lines:
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out


def describe(event: dict[str, Any]) -> str:
    """One event as a short phrase."""
    step, text = str(event.get("step", "")), visible(event.get("text", ""), 120)
    if step == "capture":
        packets = event.get("packets")
        return (
            f"capture window {event.get('elapsed', 0)} s, {packets if packets is not None else '?'} packets"
        )
    if step == "phase":
        return f"phase {text}"
    if step == "screen":
        return f"wizard screen {text}"
    return f"{step} {text}".strip()


@dataclass
class Display:
    """Shows progress on a terminal: a status line per handset (``verbose``: a line per step too)."""

    out: TextIO
    enabled: bool
    """False when stdout is not a terminal, or with -q or --format json: nothing is shown."""
    verbose: bool = False
    started: float = field(default_factory=time.monotonic)
    _status: str = ""
    _capture: str = ""

    def show(self, who: str, events: list[dict[str, Any]]) -> None:
        if not self.enabled or not events:
            return
        for event in events:
            phrase = describe(event)
            if event.get("step") == "capture":
                self._capture = phrase
            elif self.verbose:
                self._line(f"  {who}: {phrase}")
            if event.get("step") != "capture":
                self._status = phrase
        shown = " | ".join(p for p in (self._status, self._capture) if p)
        elapsed = time.monotonic() - self.started
        self._rewrite(f"{who}: {elapsed:5.0f} s  {shown}")

    def clear(self) -> None:
        if self.enabled:
            self.out.write("\r\033[K")
            self.out.flush()
        self._status = self._capture = ""

    def _line(self, text: str) -> None:
        self.out.write("\r\033[K" + text + "\n")

    def _rewrite(self, text: str) -> None:
        self.out.write("\r\033[K" + text[:200])
        self.out.flush()
