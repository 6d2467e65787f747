"""The handset's logs of one run: logcat from the first ADB contact to the end, a bug report at the end.

`RunLogs` is what a compliance run holds: it starts the `LogcatRecorder` as
soon as the run knows the handset's serial and adb server, and `RunLogs.finish`
takes the bug report (while logcat still records what dumpstate logs), stops
the recorder and says what is missing as notes. The files land in the results
folder, where the evidence bundle hashes them like every other file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from phonehome.device.bugreport import BUGREPORT, DEFAULT_TIMEOUT_S, take_bugreport
from phonehome.device.logs import DEFAULT_CAP_BYTES, LOGCAT, AdbLogSource, LogcatRecorder, LogUnavailable

if TYPE_CHECKING:
    from phonehome.device.adb import AdbServer
    from phonehome.device.handset import Handset

CONNECT_S = 10.0


class RunLogs:
    """logcat.txt and bugreport.zip of one run in ``folder``."""

    def __init__(
        self,
        serial: str | Callable[[], str],
        server: AdbServer,
        folder: Path,
        *,
        cap_bytes: int = DEFAULT_CAP_BYTES,
        bugreport_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.serial, self.server, self.folder = serial, server, folder
        self.bugreport_timeout = bugreport_timeout
        self.recorder = LogcatRecorder(AdbLogSource(serial, server), folder / LOGCAT, cap_bytes=cap_bytes)
        self.notes: list[str] = []
        self._finished = False
        self._bugreport: dict[str, object] = {"taken": False}

    def start(self) -> RunLogs:
        self.recorder.start()
        return self

    def finish(self, *, bugreport: bool = True) -> list[str]:
        """Takes the bug report (unless told not to), stops logcat; the notes of what is missing. Once."""
        if self._finished:
            return []
        self._finished = True
        if bugreport and self.bugreport_timeout <= 0:
            self.notes.append("bugreport: not taken: its timeout is 0 (--bugreport-timeout)")
        elif bugreport:
            result = take_bugreport(self._handset(), self.folder, timeout=self.bugreport_timeout)
            self._bugreport = {"taken": result.path is not None, "seconds": round(result.seconds, 1)}
            if result.note:
                self.notes.append(result.note)
        else:
            self.notes.append("bugreport: not taken: the run ended before the scenario finished")
        self.notes += self.recorder.stop()
        return list(self.notes)

    def _handset(self) -> Handset | None:
        from phonehome.device.errors import DeviceError  # noqa: PLC0415
        from phonehome.device.handset import Handset  # noqa: PLC0415

        try:
            serial = self.serial if isinstance(self.serial, str) else self.serial()
            return Handset.connect(serial, self.server, timeout=CONNECT_S)
        except (DeviceError, LogUnavailable, OSError):
            return None

    def record(self) -> dict[str, object]:
        """For run.json: each file's path, size and SHA-256, and what the recorder kept."""
        summary = self.recorder.summary
        out: dict[str, object] = {
            "logcat": {
                **_file(self.folder, LOGCAT),
                "lines": summary.lines,
                "streams": summary.streams,
                "capped": summary.capped_at is not None,
                "absences": [
                    {"start": gap.start, "end": gap.end, "reason": gap.reason} for gap in summary.absences
                ],
                "reboots": [
                    {"last_line": boot.last_line, "noticed": boot.noticed} for boot in summary.reboots
                ],
            },
            "bugreport": {**_file(self.folder, BUGREPORT), **self._bugreport},
        }
        return out


def _file(folder: Path, name: str) -> dict[str, object]:
    path = folder / name
    if not path.is_file():
        return {"path": None}
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"path": name, "size": path.stat().st_size, "sha256": digest}
