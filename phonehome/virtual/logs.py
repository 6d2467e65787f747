"""The handset's log buffers (logd's ring), as ``logcat`` reads them.

Entries keep their wall-clock time, pid, tid, priority, tag and buffer, so
``logcat`` can print any format and filter by buffer or start time
(`phonehome.virtual.shell.logcat`). Like logd's, the buffer lives in RAM: the
handset clears it at every boot, so lines from before a reboot exist only in
what a host already read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass

MAX_LINES = 20000
PRIORITIES = "VDIWEF"
BUFFERS = ("main", "system", "radio", "events", "crash", "kernel")
DEFAULT_BUFFERS = ("main", "system", "crash", "kernel")
"""What ``logcat`` without ``-b`` reads (Android 9+)."""
SYSTEM_SERVER_PID = 1024
RADIO_TAGS = frozenset({"RIL", "RILJ", "RILC", "GsmCdmaPhone", "ServiceState", "CarrierConfigLoader"})


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record as logd keeps it."""

    seq: int
    when: float
    """Seconds since the epoch (the handset's wall clock)."""
    pid: int
    tid: int
    priority: str
    tag: str
    message: str
    buffer: str


def buffer_for(tag: str, pid: int) -> str:
    """The ring a record lands in: system_server's in ``system``, telephony's in ``radio``, the rest ``main``."""
    if tag in RADIO_TAGS:
        return "radio"
    return "system" if pid == SYSTEM_SERVER_PID else "main"


def threadtime(entry: LogEntry) -> str:
    """The entry in logcat's default format, local time without the year (what ``logcat`` prints)."""
    stamp = (
        time.strftime("%m-%d %H:%M:%S", time.localtime(entry.when)) + f".{int(entry.when * 1000) % 1000:03d}"
    )
    return f"{stamp} {entry.pid:5d} {entry.tid:5d} {entry.priority} {entry.tag}: {entry.message}"


class LogBuffer:
    """A bounded ring of log entries; ``logcat`` without ``-d`` follows new ones."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LogEntry] = deque(maxlen=max_lines)
        self._seq = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def log(
        self,
        priority: str,
        tag: str,
        message: str,
        pid: int = 1000,
        tid: int | None = None,
        *,
        buffer: str | None = None,
    ) -> None:
        with self._lock:
            self._seq += 1
            entry = LogEntry(
                self._seq,
                time.time(),
                pid,
                tid or pid,
                priority,
                tag,
                message,
                buffer or buffer_for(tag, pid),
            )
            self._entries.append(entry)
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def entries(self, seq: int = 0) -> tuple[list[LogEntry], int]:
        """Entries logged after sequence number ``seq``, and the number to pass next time."""
        with self._lock:
            return [e for e in self._entries if e.seq > seq], self._seq

    def since(self, seq: int = 0) -> tuple[list[str], int]:
        """Lines (threadtime) logged after sequence number ``seq``, and the number to pass next time."""
        entries, last = self.entries(seq)
        return [threadtime(e) for e in entries], last

    def clear(self) -> None:
        """``logcat -c``, and what a reboot does to logd's RAM buffers."""
        with self._lock:
            self._entries.clear()

    async def wait(self, seq: int, timeout: float = 1.0) -> None:
        """Returns once a line newer than ``seq`` exists, or after ``timeout``."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._seq > seq:
                return
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.remove(entry)
