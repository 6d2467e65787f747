"""Where running benches are written down, so that other processes can find, share and clean them.

``/run/phonehome`` (or ``$PHONEHOME_RUN_DIR``) holds one state file per bench:
its run id, slot, owner process and everything it created. A bench whose owner
is dead is stale; the next bench to start, or ``phonehome bench clean``,
removes it. The state file is written before anything is created, so nothing of
a bench ever exists without a record of it.

Namespaces, host links, sysctls and subnets are host-wide while run folders are
not (a test, or a second lab user, may pick its own), so every run folder in use
is written down in one host-wide registry (``/run/phonehome-run-dirs``) whose
lock serialises slot allocation and cleaning, and every reader of states reads
them all: a bench in another run folder is never mistaken for a leftover.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome.bench.process import ProcessId, process_start
from phonehome.bench.records import ProcessStarted, Record, record_from_dict, record_to_dict

if TYPE_CHECKING:
    from phonehome.bench.topology import Topology

__all__ = [
    "CaptureStart",
    "CaptureTool",
    "ProcessId",
    "StateFile",
    "claim",
    "host_lock",
    "process_start",
    "read_states",
    "registry",
    "run_dirs",
    "unreadable_run_ids",
]

SLOTS = 250
"""Benches that can run at once on one host (a slot picks the bench's subnets)."""
NS_PREFIX = "phonehome-"
"""Every namespace a bench creates is named ``phonehome-<run id>-<role>``."""
IF_PREFIX = "ph"
"""Every interface a bench creates in the host namespace is ``ph<run id>-<role>`` (<= 15 chars)."""
NFT_PREFIX = "phonehome_"


def run_dir() -> Path:
    return Path(os.environ.get("PHONEHOME_RUN_DIR", "/run/phonehome"))


def state_dir(folder: Path | None = None) -> Path:
    return (folder or run_dir()) / "benches"


def registry() -> Path:
    """The host-wide list of run folders in use (``$PHONEHOME_RUN_DIRS`` for tests that keep their own)."""
    return Path(os.environ.get("PHONEHOME_RUN_DIRS", "/run/phonehome-run-dirs"))


def run_dirs() -> list[Path]:
    """This process's run folder first, then every other registered one that still exists."""
    own = run_dir()
    found = [own]
    with contextlib.suppress(OSError):
        for entry in sorted(registry().glob("*.dir")):
            with contextlib.suppress(OSError):
                folder = Path(entry.read_text(encoding="utf-8").strip())
                if not state_dir(folder).is_dir():
                    entry.unlink()  # its folder went (a test's temp folder): nothing left to see there
                elif folder.resolve() != own.resolve() and folder not in found:
                    found.append(folder)
    return found


def _register(folder: Path) -> None:
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    entry = registry() / f"{key}.dir"
    if not entry.exists():
        entry.write_text(f"{folder.resolve()}\n", encoding="utf-8")


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Exclusive across processes and run folders: allocation and cleaning never interleave."""
    state_dir().mkdir(parents=True, exist_ok=True)
    try:
        registry().mkdir(parents=True, exist_ok=True)
        lock_path = registry() / "lock"
    except OSError:  # no host-wide registry here (not root): this run folder alone is seen
        lock_path = None
    fd = os.open(lock_path or run_dir() / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if lock_path is not None:
            _register(run_dir())
        yield
    finally:
        os.close(fd)


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


@dataclass(frozen=True, slots=True)
class CaptureStart:
    """When a port's capture started, and the interface's frame count then (what the tool must account for)."""

    started: float
    link_packets: int | None


@dataclass(frozen=True, slots=True)
class CaptureTool:
    """The capture tool a bench chose, and the file format it writes."""

    name: str
    format: str


@dataclass(slots=True)
class StateFile:
    """One bench's entry under ``state_dir()``: everything another process needs to find, share or remove it."""

    path: Path
    name: str
    run_id: str
    slot: int
    owner: ProcessId | None
    """The process the bench belongs to; None for a detached bench (``phonehome bench up``)."""
    undo: list[Record] = field(default_factory=list)
    """Everything the bench created, in order (removed newest first)."""
    definition: dict[str, Any] = field(default_factory=dict)
    """The bench definition, as JSON (``BenchDef.model_dump``)."""
    topology: Topology | None = None
    workdir: str | None = None
    source: str | None = None
    """The definition file it came from."""
    created: float | None = None
    python: str | None = None
    capture_info: dict[str, CaptureStart] = field(default_factory=dict)
    capture_tool: CaptureTool | None = None
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per port, the finished capture (``Capture.to_dict``), once stopped."""
    capture_stopped: bool = False
    undo_failures: list[str] = field(default_factory=list)
    """What could not be removed (the state file then stays, for ``phonehome bench clean``)."""

    def stale(self) -> bool:
        """The owner died without removing the bench (detached benches have no owner: never stale)."""
        owner = self.owner
        return owner is not None and not owner.alive()

    def processes(self) -> list[ProcessStarted]:
        return [r for r in self.undo if isinstance(r, ProcessStarted)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "run_id": self.run_id,
            "slot": self.slot,
            "owner": {"pid": self.owner.pid, "start": self.owner.start} if self.owner else None,
            "undo": [record_to_dict(r) for r in self.undo],
            "definition": self.definition,
            "topology": self.topology.to_dict() if self.topology is not None else None,
            "workdir": self.workdir,
            "source": self.source,
            "created": self.created,
            "python": self.python,
            "capture_info": {
                port: {"started": c.started, "link_packets": c.link_packets}
                for port, c in self.capture_info.items()
            },
            "capture_tool": {"name": self.capture_tool.name, "format": self.capture_tool.format}
            if self.capture_tool
            else None,
            "captures": self.captures,
            "capture_stopped": self.capture_stopped,
            "undo_failures": self.undo_failures,
        }

    @classmethod
    def from_json(cls, path: Path, data: dict[str, Any]) -> StateFile:
        """A state file's contents; ValueError (`UnknownRecord` too) when they are not one."""
        from phonehome.bench.topology import Topology  # noqa: PLC0415  (topology imports this module)

        try:
            owner = data.get("owner")
            tool = data.get("capture_tool")
            return cls(
                path=path,
                name=str(data["name"]),
                run_id=str(data["run_id"]),
                slot=int(data["slot"]),
                owner=ProcessId(int(owner["pid"]), int(owner["start"])) if owner else None,
                undo=[record_from_dict(r) for r in data.get("undo", [])],
                definition=dict(data.get("definition") or {}),
                topology=Topology.from_dict(data["topology"]) if data.get("topology") else None,
                workdir=data.get("workdir"),
                source=data.get("source"),
                created=data.get("created"),
                python=data.get("python"),
                capture_info={
                    port: CaptureStart(float(c["started"]), c.get("link_packets"))
                    for port, c in dict(data.get("capture_info") or {}).items()
                },
                capture_tool=CaptureTool(str(tool["name"]), str(tool["format"])) if tool else None,
                captures=dict(data.get("captures") or {}),
                capture_stopped=bool(data.get("capture_stopped")),
                undo_failures=[str(f) for f in data.get("undo_failures", [])],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a bench state file ({exc})") from exc

    def save(self) -> None:
        write_json_atomic(self.path, self.to_json())


def _state_paths(*, everywhere: bool = True) -> list[Path]:
    """Every state file of every run folder in use (``everywhere=False``: of this process's alone)."""
    folders = run_dirs() if everywhere else [run_dir()]
    return [
        p
        for folder in folders
        if state_dir(folder).is_dir()
        for p in sorted(state_dir(folder).glob("*.json"))
    ]


def read_states(*, everywhere: bool = True) -> list[StateFile]:
    """The benches of every run folder in use (``everywhere=False``: of this process's alone)."""
    states: list[StateFile] = []
    for path in _state_paths(everywhere=everywhere):
        try:
            states.append(StateFile.from_json(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a torn file cannot exist (atomic writes); an unreadable one is not ours to judge
    return states


def unreadable_run_ids() -> set[str]:
    """Run ids of state files this version cannot read (another phonehome version's, with records or
    fields it does not know): their benches may be live, so nothing of theirs may be swept."""
    found: set[str] = set()
    for path in _state_paths():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn file cannot exist (atomic writes): not a bench's
        if not isinstance(data, dict):
            continue
        try:
            StateFile.from_json(path, data)
        except ValueError:
            found.add(str(data.get("run_id") or path.stem))
    return found


def claim(name: str, owner: ProcessId | None, definition: dict[str, Any]) -> StateFile:
    """Picks a free run id and slot and writes the new bench's state file; call under ``host_lock``."""
    states = read_states()
    used = {s.slot for s in states}
    free = [slot for slot in range(SLOTS) if slot not in used]
    if not free:
        raise RuntimeError(
            f"all {SLOTS} bench slots are in use under {state_dir()} (phonehome bench status; phonehome bench clean)"
        )
    run_id = new_run_id({s.run_id for s in states})
    state = StateFile(state_dir() / f"{run_id}.json", name, run_id, free[0], owner, definition=definition)
    state.save()
    return state
