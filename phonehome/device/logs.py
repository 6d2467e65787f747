"""The handset's logcat as evidence: every buffer, UTC times, one file across reboots.

`LogcatRecorder` streams ``logcat -b all -v threadtime -v UTC -v year`` into
``logcat.txt`` from a background thread. Every reboot ends the stream (and
logd starts the next boot with empty buffers), so the recorder reopens it as
soon as ADB is back, from the last line's time (``-T sssss.mmm``, which
includes that time: the lines already written there are skipped). Where ADB is
absent (a reboot, the bootloader, a retail build before setup) the file says so
in a marker line and `LogcatRecorder.stop` returns notes naming the span. A
stream that dies is reopened; nothing here raises into the run; the file is
capped, since firmware can flood its log.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from phonehome.device.deadline import Deadline
from phonehome.device.transport import open_service, read_to_end, shell_join

if TYPE_CHECKING:
    from phonehome.device.adb import AdbServer

LOGCAT = "logcat.txt"
DEFAULT_CAP_BYTES = 256 * 1024 * 1024
LOGCAT_ARGV = ("logcat", "-b", "all", "-v", "threadtime", "-v", "UTC", "-v", "year")
MARK = "--------- phonehome"
RETRY_S = 1.0
READ_S = 0.5
MAX_LINE = 64 * 1024
"""Bytes of one line kept before it is cut (a line without an end must not grow without bound)."""
RECENT = 4096
"""Lines remembered to skip at a resume: more than logcat prints in one millisecond."""
BOOT_ID = "/proc/sys/kernel/random/boot_id"
_BOOT_ID = re.compile(r"[0-9a-fA-F-]{8,64}")
_TIME = re.compile(rb"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3,9})(?: [+-]\d{4})? ")


class LogUnavailable(Exception):
    """The handset's logcat cannot be opened now (no ADB, not authorized, gone)."""


class LogStream(Protocol):
    def read(self, timeout: float) -> bytes | None:
        """Bytes, ``b""`` at the end of the stream, None when nothing came within ``timeout``."""

    def close(self) -> None: ...


class LogSource(Protocol):
    def boot_id(self) -> str | None:
        """The handset's boot now (None: it cannot tell); raises `LogUnavailable` when it cannot be reached."""

    def open(self, argv: list[str]) -> LogStream:
        """Runs ``argv`` on the handset; raises `LogUnavailable` when it cannot be reached."""


class SocketStream:
    """A device stream on a socket (an ``exec:`` service)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def read(self, timeout: float) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            return b""

    def close(self) -> None:
        self.sock.close()


class AdbLogSource:
    """``exec:`` (raw stdout, no terminal) on ``serial``, found again on the adb server at every open."""

    def __init__(self, serial: str | Callable[[], str], server: AdbServer, connect_s: float = 2.0) -> None:
        """``serial``: the serial, or what tells it now (raising `LogUnavailable` while there is none)."""
        self.serial, self.server, self.connect_s = serial, server, connect_s

    def boot_id(self) -> str | None:
        sock = self._service(["cat", BOOT_ID])
        try:
            data = read_to_end(sock, Deadline(self.connect_s), limit=4096)
        except Exception as exc:
            raise LogUnavailable(f"reading the boot id: {exc}") from exc
        finally:
            sock.close()
        text = data.decode("ascii", errors="replace").strip()
        return text if _BOOT_ID.fullmatch(text) else None

    def open(self, argv: list[str]) -> LogStream:
        return SocketStream(self._service(argv))

    def _service(self, argv: list[str]) -> socket.socket:
        from phonehome.device.handset import Handset  # noqa: PLC0415  (handset imports are heavy)

        try:
            serial = self.serial if isinstance(self.serial, str) else self.serial()
            handset = Handset.connect(serial, self.server, timeout=self.connect_s)
            return open_service(
                self.server.client(),
                handset.transport_id,
                "exec:" + shell_join(argv),
                Deadline(self.connect_s),
            )
        except LogUnavailable:
            raise
        except Exception as exc:  # any failure to reach it is an absence, never the run's crash
            raise LogUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def line_time(line: bytes) -> float | None:
    """Epoch seconds of a ``-v threadtime,UTC,year`` line; None for lines without one."""
    m = _TIME.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        whole = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return whole + int(m.group(7).ljust(9, b"0")) / 1e9


def utc_text(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}Z"


def logcat_argv(since: float | None) -> list[str]:
    """The logcat command; from ``since`` (inclusive, epoch seconds) when resuming."""
    return [*LOGCAT_ARGV, *(["-T", f"{since:.3f}"] if since is not None else [])]


@dataclass
class Absence:
    """A span the recorder could not read logcat."""

    start: float
    reason: str
    end: float | None = None
    first: bool = False
    """Before the first stream: the first read then takes the buffers from their start."""


@dataclass(frozen=True)
class Reboot:
    """A new boot the recorder found (its boot id changed) when it reopened logcat."""

    last_line: float | None
    """The time of the last line read from the boot before (None: none was read)."""
    noticed: float


@dataclass
class LogcatSummary:
    """What the recorder kept: for the run's notes and records."""

    path: Path
    lines: int = 0
    size: int = 0
    streams: int = 0
    capped_at: float | None = None
    absences: list[Absence] = field(default_factory=list)
    reboots: list[Reboot] = field(default_factory=list)

    def notes(self, cap: int) -> list[str]:
        out = []
        if self.streams == 0:
            out.append("logcat: the handset was never reachable over ADB during the run: no logcat was kept")
        for gap in self.absences:
            until = utc_text(gap.end) if gap.end is not None else "the end of the run"
            if gap.first:
                if gap.end is not None:
                    out.append(f"logcat: no ADB from {utc_text(gap.start)} to {until} ({gap.reason}); the first "
                               "read took the handset's buffers from their start (what logd kept of that boot)")  # fmt: skip
                continue
            out.append(
                f"logcat: not covered from {utc_text(gap.start)} to {until} (no ADB: {gap.reason}); what the "
                "handset logged then is in the file only if logd still held it on return (a reboot empties it)"
            )
        for boot in self.reboots:
            since = utc_text(boot.last_line) if boot.last_line is not None else "the start"
            out.append(
                f"logcat: the handset rebooted between {since} (the last line read) and {utc_text(boot.noticed)}; "
                "the new boot was read from its start, and whatever the old one logged after that line is lost"
            )
        if self.capped_at is not None:
            out.append(f"logcat: {LOGCAT} reached its cap of {cap} bytes at {utc_text(self.capped_at)}: later "
                       "lines were not kept")  # fmt: skip
        return out


class LogcatRecorder:
    """Streams the handset's logcat into ``path`` until `stop`, resuming across reboots."""

    def __init__(
        self,
        source: LogSource,
        path: Path,
        *,
        cap_bytes: int = DEFAULT_CAP_BYTES,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source, self.cap, self.retry_s, self.clock = source, cap_bytes, retry_s, clock
        self.summary = LogcatSummary(path)
        self._last: float | None = None
        self._recent: deque[bytes] = deque(maxlen=RECENT)
        self._skip: Counter[bytes] = Counter()
        self._resumed_at: float | None = None
        self._boot: str | None = None
        self._stop = threading.Event()
        self._stream: LogStream | None = None
        self._out = path.open("ab")
        self._thread = threading.Thread(target=self._run, name=f"logcat:{path}", daemon=True)

    def start(self) -> LogcatRecorder:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Ends the recording; the notes of what it did not cover."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._thread.join(timeout)
        notes = self.summary.notes(self.cap)
        if self._thread.is_alive():
            notes.append(f"logcat: the recorder did not stop within {timeout:g} s; {LOGCAT} may end mid-line")
        return notes

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.summary.capped_at is None:
                self._once()
        except Exception as exc:  # the recorder must never take the run down
            self._mark(f"recorder failed: {type(exc).__name__}: {exc}")
        finally:
            gap = self._gap()
            if gap is not None:
                self._mark(f"recording ends without ADB (since {utc_text(gap.start)})")
            self._mark("recording ends")
            self._out.close()

    def _gap(self) -> Absence | None:
        gaps = self.summary.absences
        return gaps[-1] if gaps and gaps[-1].end is None else None

    def _once(self) -> None:
        try:
            boot = self.source.boot_id()
            if boot is not None and self._boot is not None and boot != self._boot:
                self._new_boot()
            stream = self.source.open(logcat_argv(self._last))
            self._boot = boot or self._boot
        except Exception as exc:  # LogUnavailable, or a source that failed otherwise: an absence either way
            if self._gap() is None:
                self.summary.absences.append(Absence(self.clock(), str(exc), first=not self.summary.streams))
                self._mark(f"no ADB: {exc}; logcat resumes when it is back")
            self._stop.wait(self.retry_s)
            return
        gap = self._gap()
        if gap is not None:
            gap.end = self.clock()
            self._mark(
                f"ADB is back after {gap.end - gap.start:.1f} s without it; logcat resumed" + self._from()
            )
        elif self.summary.streams:
            self._mark("logcat stream ended; restarted" + self._from())
        self.summary.streams += 1
        self._resumed_at, self._skip = self._last, Counter(self._recent)
        self._stream = stream
        try:
            lines = self._pump(stream)
        except Exception as exc:  # a stream that breaks is a logcat that died: it is reopened
            self._mark(f"logcat stream failed: {type(exc).__name__}: {exc}")
            lines = 0
        finally:
            self._stream = None
            stream.close()
        if lines == 0 and not self._stop.is_set():
            self._stop.wait(self.retry_s)  # a logcat that ends at once is not restarted in a busy loop

    def _new_boot(self) -> None:
        """A boot after the last stream: logd's buffers hold only it, so all of them is read. Not from the
        last line's time: a phone's clock may start behind it until network time sets it."""
        self._mark("the handset booted again: its log buffers are read from their start")
        self.summary.reboots.append(Reboot(self._last, self.clock()))
        self._last = None
        self._recent.clear()

    def _from(self) -> str:
        return f" from {utc_text(self._last)} (-T)" if self._last is not None else " from the buffers' start"

    def _pump(self, stream: LogStream) -> int:
        """Copies lines until the stream ends, `stop`, or the cap; the number of lines written."""
        pending = b""
        written = 0
        while not self._stop.is_set() and self.summary.capped_at is None:
            chunk = stream.read(READ_S)
            if chunk is None:
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE:
                lines.append(pending)
                pending = b""
            for line in lines:
                written += self._line(line.rstrip(b"\r"))
        if pending and self.summary.capped_at is None:
            written += self._line(pending.rstrip(b"\r"))
        return written

    def _line(self, line: bytes) -> int:
        if not line or line.startswith(b"--------- beginning of ") or self.summary.capped_at is not None:
            return 0
        when = line_time(line)
        if when is not None:
            key = hashlib.blake2b(line, digest_size=16).digest()  # 4096 flood lines would be 256 MB
            if self._resumed_at is not None and when <= self._resumed_at and self._skip[key] > 0:
                self._skip[key] -= 1
                return 0  # written before the stream ended: -T includes its start time
            self._recent.append(key)
            self._last = when if self._last is None else max(self._last, when)
        data = line[:MAX_LINE] + b"\n"
        if self.summary.size + len(data) > self.cap:
            self.summary.capped_at = self.clock()
            self._mark(f"{LOGCAT} reached its cap of {self.cap} bytes: later lines are not kept")
            return 0
        self._write(data)
        self.summary.lines += 1
        return 1

    def _mark(self, text: str) -> None:
        self._write(f"{MARK} {utc_text(self.clock())}: {text}\n".encode())

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()
        self.summary.size += len(data)
