"""A bug report at the end of a run: ``bugreportz -p``, then the zip it names, pulled.

bugreportz (Android 7+) prints ``BEGIN:PATH``, ``PROGRESS:N/TOTAL`` and ends
with ``OK:PATH`` or ``FAIL:REASON``; the zip stays on the handset. A real one
takes minutes, so the whole step has one deadline; any failure (no ADB, an old
Android, a refusal, a zip larger than allowed) is a note of the run, never its
crash. The zip is pulled to a ``.tmp`` name first (the evidence bundle skips
those) and renamed only when complete.
"""

from __future__ import annotations

import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from phonehome.device.deadline import Deadline
from phonehome.device.transport import open_service

if TYPE_CHECKING:
    import adbutils

    from phonehome.device.handset import Handset

BUGREPORT = "bugreport.zip"
DEFAULT_TIMEOUT_S = 180.0
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True)
class BugreportResult:
    """Where the zip went (None: not taken), and the note that says why not or what was odd."""

    path: Path | None
    note: str | None
    seconds: float


def zip_path(output: str) -> tuple[str | None, str]:
    """(device path of the zip, or None; the reason when there is none) from bugreportz's output."""
    for line in output.splitlines():
        if line.startswith("OK:") and line[3:].strip():
            return line[3:].strip(), ""
        if line.startswith("FAIL:"):
            return None, line[5:].strip() or "FAIL"
    first = next((line for line in output.splitlines() if line.strip()), "no output")
    return None, f"no OK line ({first.strip()[:200]})"


def run_bugreportz(handset: Handset, deadline: Deadline) -> str:
    """bugreportz's whole output (its progress lines read as they come, within ``deadline``)."""
    sock = open_service(handset.server.client(), handset.transport_id, "exec:bugreportz -p", deadline)
    out = bytearray()
    try:
        while True:
            deadline.arm(sock)
            chunk = sock.recv(4096)
            if not chunk:
                break
            out += chunk[: MAX_OUTPUT - len(out)]
    finally:
        sock.close()
    return out.decode("utf-8", errors="replace")


def take_bugreport(
    handset: Handset | None,
    folder: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> BugreportResult:
    """``folder/bugreport.zip`` from ``handset`` within ``timeout`` seconds, or a note why not."""
    start = time.monotonic()

    def done(path: Path | None, note: str | None) -> BugreportResult:
        return BugreportResult(path, note, time.monotonic() - start)

    if handset is None:
        return done(None, "bugreport: not taken: the handset was not on ADB at the end of the run")
    if timeout <= 0:
        return done(None, "bugreport: not taken: its timeout is 0")
    deadline = Deadline(timeout)
    try:
        remote, why = zip_path(run_bugreportz(handset, deadline))
        if remote is None:
            return done(None, f"bugreport: not taken: bugreportz said {why}")
        device = handset.adb_device()
        size = int(device.sync.stat(remote).size)
        if size > max_bytes:
            return done(None, f"bugreport: not pulled: {remote} is {size} bytes, more than {max_bytes}")
        target = folder / BUGREPORT
        pulled = _pull(device, remote, target, deadline.remaining())
    except TimeoutError:
        return done(None, f"bugreport: not taken: it did not finish within {timeout:g} s")
    except Exception as exc:  # the handset went away, refused, or spoke nonsense: a note, not a crash
        return done(None, f"bugreport: not taken: {type(exc).__name__}: {str(exc)[:300]}")
    if not pulled:
        return done(None, f"bugreport: not taken: the pull did not finish within {timeout:g} s")
    if not zipfile.is_zipfile(target):
        return done(target, f"bugreport: {BUGREPORT} from {remote} is not a zip file (kept as it came)")
    return done(target, None)


def _pull(device: adbutils.AdbDevice, remote: str, target: Path, timeout: float) -> bool:
    """Pulls in a thread the deadline can walk away from (adbutils' sync has no overall timeout)."""
    partial = target.with_name(target.name + ".tmp")
    failure: list[BaseException] = []

    def pull() -> None:
        try:
            device.sync.pull(remote, partial)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=pull, name=f"bugreport-pull:{remote}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return False
    if failure:
        partial.unlink(missing_ok=True)
        raise failure[0]
    partial.replace(target)
    return True
