"""The handset's log buffer, as ``logcat`` prints it (threadtime format)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

MAX_LINES = 20000
PRIORITIES = "VDIWEF"


class LogBuffer:
    """A bounded ring of log lines; ``logcat`` without ``-d`` follows new ones."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lock = threading.Lock()
        self._lines: deque[tuple[int, str]] = deque(maxlen=max_lines)
        self._seq = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def log(self, priority: str, tag: str, message: str, pid: int = 1000, tid: int | None = None) -> None:
        now = time.time()
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        line = f"{stamp} {pid:5d} {tid or pid:5d} {priority} {tag}: {message}"
        with self._lock:
            self._seq += 1
            self._lines.append((self._seq, line))
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def since(self, seq: int = 0) -> tuple[list[str], int]:
        """Lines logged after sequence number ``seq``, and the number to pass next time."""
        with self._lock:
            return [line for n, line in self._lines if n > seq], self._seq

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

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
