"""Where running benches are written down, so that other processes can find, share and clean them.

``/run/phonehome`` (or ``$PHONEHOME_RUN_DIR``) holds one lock file that
serialises slot allocation and cleaning across processes, and one state file
per bench: its run id, slot, owner process and everything it created. A bench
whose owner is dead is stale; the next bench to start, or ``phonehome bench
clean``, removes it. The state file is written before anything is created, so
nothing of a bench ever exists without a record of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SLOTS = 250
"""Benches that can run at once on one host (a slot picks the bench's subnets)."""
NS_PREFIX = "phonehome-"
"""Every namespace a bench creates is named ``phonehome-<run id>-<role>``."""
IF_PREFIX = "ph"
"""Every interface a bench creates in the host namespace is ``ph<run id>-<role>`` (<= 15 chars)."""
NFT_PREFIX = "phonehome_"


def run_dir() -> Path:
    return Path(os.environ.get("PHONEHOME_RUN_DIR", "/run/phonehome"))


def state_dir() -> Path:
    return run_dir() / "benches"


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Exclusive across processes: allocation and cleaning never interleave."""
    state_dir().mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir() / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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


def new_run_id(taken: set[str]) -> str:
    while True:
        run_id = secrets.token_hex(3)
        if run_id not in taken:
            return run_id


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Readers never see half a state file, even if this process is killed mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(slots=True)
class StateFile:
    """One bench's entry under ``state_dir()``."""

    path: Path
    data: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.data["run_id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def slot(self) -> int:
        return int(self.data["slot"])

    @property
    def owner(self) -> ProcessId | None:
        owner = self.data.get("owner")
        return ProcessId(owner["pid"], owner["start"]) if owner else None

    def stale(self) -> bool:
        """The owner died without removing the bench (detached benches have no owner: never stale)."""
        owner = self.owner
        return owner is not None and not owner.alive()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def read_states() -> list[StateFile]:
    states: list[StateFile] = []
    directory = state_dir()
    if not directory.is_dir():
        return states
    for path in sorted(directory.glob("*.json")):
        try:
            states.append(StateFile(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a torn file cannot exist (atomic writes); an unreadable one is not ours to judge
    return states


def claim(name: str, owner: ProcessId | None, extra: dict[str, Any]) -> StateFile:
    """Picks a free run id and slot and writes the new bench's state file; call under ``host_lock``."""
    states = read_states()
    used = {s.slot for s in states}
    free = [slot for slot in range(SLOTS) if slot not in used]
    if not free:
        raise RuntimeError(
            f"all {SLOTS} bench slots are in use under {state_dir()} (phonehome bench status; phonehome bench clean)"
        )
    run_id = new_run_id({s.run_id for s in states})
    state = StateFile(
        state_dir() / f"{run_id}.json",
        {
            "name": name,
            "run_id": run_id,
            "slot": free[0],
            "owner": {"pid": owner.pid, "start": owner.start} if owner else None,
            "undo": [],
            **extra,
        },
    )
    state.save()
    return state
