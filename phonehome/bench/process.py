"""A process the bench started, told apart from a later one that reuses its pid (its start time)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A process, told apart from a later one that reuses its pid by its start time."""

    pid: int
    start: int
    """Field 22 of /proc/PID/stat (clock ticks after boot)."""

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        start = process_start(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        return process_start(self.pid) == self.start and not _zombie(self.pid)


def process_start(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
