"""Processes phonehome starts outside a bench (the private adb servers), written down as benches write
down theirs, so that a run killed with SIGKILL leaves nothing running and nothing behind.

Each is one JSON file under ``owned_dir()``: the process (pid and start time, so a reused pid is never
signalled), its owner (the run that started it) and the files it leaves (an adb server's
``~/.android/adb.<port>``, its log). The owner removes the record when it stops the process; a record
whose owner is dead is stale, and ``clean`` (run at every bench start and by ``phonehome bench clean``)
stops the process and removes its files. This module imports no other phonehome package: both the
device layer (which starts adb servers) and the bench (which cleans) use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUN_DIR_ENV = "PHONEHOME_RUN_DIR"
STOP_GRACE_S = 3.0


def owned_dir() -> Path:
    """``$PHONEHOME_RUN_DIR/owned``; else /run/phonehome/owned as root, else a per-user runtime folder."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV]) / "owned"
    if os.geteuid() == 0:
        return Path("/run/phonehome/owned")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/phonehome-{os.getuid()}"  # noqa: S108
    return Path(runtime) / "phonehome" / "owned"


def process_start(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot): tells a process from a later one with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def alive(pid: int, start: int) -> bool:
    return process_start(pid) == start


def record(name: str, pid: int, files: list[Path], owner: int | None = None, **extra: Any) -> Path:
    """Writes down process ``pid`` (owned by ``owner``, default this process) and the files it leaves."""
    start = process_start(pid)
    owner_pid = os.getpid() if owner is None else owner
    data = {
        "name": name,
        "pid": pid,
        "start": start,
        "owner": {"pid": owner_pid, "start": process_start(owner_pid)},
        "files": [str(f) for f in files],
        **extra,
    }
    folder = owned_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
    return path


def read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale(data: dict[str, Any]) -> bool:
    """The owner that started the process is gone."""
    owner = data.get("owner") or {}
    return not (isinstance(owner.get("pid"), int) and alive(owner["pid"], owner.get("start") or -1))


def stop(path: Path, data: dict[str, Any]) -> None:
    """Stops the recorded process (SIGTERM, then SIGKILL) and removes its files and the record."""
    pid, start = data.get("pid"), data.get("start")
    if isinstance(pid, int) and isinstance(start, int) and alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while alive(pid, start) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.02)
        if alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name in data.get("files", []):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            Path(name).unlink()
    path.unlink(missing_ok=True)


def clean(log: Callable[[str], None] = print, *, everything: bool = False) -> list[str]:
    """Stops what dead runs left running (``everything``: what live runs own too); one line each."""
    removed = []
    folder = owned_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read(path)
        if data is None:
            continue
        if not (everything or stale(data)):
            continue
        try:
            stop(path, data)
        except OSError as exc:
            log(f"could not stop {data.get('name')} (pid {data.get('pid')}): {exc}")
            continue
        why = "its owner is gone" if stale(data) else "asked to"
        removed.append(f"stopped {data.get('name')} (pid {data.get('pid')}): {why}")
    return removed


def sweep_handset_logs(folder: Path) -> list[str]:
    """Removes logs of virtual handsets that stopped (``NAME.log`` without a live ``NAME.json`` record,
    open in no process): a stopped handset's log holds its identifiers and has no reader left."""
    if not folder.is_dir():
        return []
    open_files = _open_files()
    removed = []
    for log in sorted(folder.glob("*.log")):
        instance = read(log.with_suffix(".json"))
        pid = instance.get("pid") if instance else None
        running = isinstance(pid, int) and process_start(pid) is not None
        if running or str(log.resolve()) in open_files:
            continue
        with contextlib.suppress(OSError):
            log.unlink()
            removed.append(f"removed {log} (its handset has stopped)")
    return removed


def _open_files() -> set[str]:
    """Every path some process on this host has open (a handset still starting writes its log)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    found.add(os.readlink(fd))
    return found
