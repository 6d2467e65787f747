"""Log sources for the recorder's tests: scripted streams, and a virtual handset's own logcat (no adb server)."""

from __future__ import annotations

import concurrent.futures
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from phonehome.device.logs import LogUnavailable
from phonehome.device.transport import shell_join
from phonehome.virtual import VirtualHandset
from phonehome.virtual.handset import BOOT_ID
from phonehome.virtual.shell.streams import BufferOutput, BytesInput, Io


class ScriptedStream:
    """Gives its chunks, then ends (``b""``); ``hold`` keeps it open (None) until closed instead."""

    def __init__(self, chunks: list[bytes], hold: bool = False) -> None:
        self.chunks, self.hold, self.closed = list(chunks), hold, False

    def read(self, timeout: float) -> bytes | None:
        if self.chunks:
            return self.chunks.pop(0)
        if self.hold and not self.closed:
            return None
        return b""

    def close(self) -> None:
        self.closed = True


@dataclass
class ScriptedSource:
    """Each open takes the next item: a stream, or an exception to raise; ``argvs`` records what was run."""

    script: list[ScriptedStream | Exception]
    argvs: list[list[str]] = field(default_factory=list)
    boots: list[str | None] = field(default_factory=list)
    """The boot id before each open (None past the list's end)."""

    def boot_id(self) -> str | None:
        n = len(self.argvs)
        return self.boots[n] if n < len(self.boots) else None

    def open(self, argv: list[str]) -> ScriptedStream:
        self.argvs.append(argv)
        item = self.script.pop(0) if self.script else LogUnavailable("no more in the script")
        if isinstance(item, Exception):
            raise item
        return item


class _QueueOutput:
    def __init__(self, sink: queue.Queue[bytes]) -> None:
        self.sink = sink

    async def write(self, data: bytes) -> None:
        self.sink.put(data)


class VirtualStream:
    """A virtual handset's ``logcat`` running in its shell, ended like adbd ends it: at the next boot."""

    def __init__(self, handset: VirtualHandset, argv: list[str]) -> None:
        self.handset = handset
        self.boot = handset.state.fs.read_bytes(BOOT_ID)
        self.chunks: queue.Queue[bytes] = queue.Queue()
        io = Io(BytesInput(b""), _QueueOutput(self.chunks), BufferOutput())
        self.task: concurrent.futures.Future[int] = handset.run(handset.new_shell().run(shell_join(argv), io))

    def read(self, timeout: float) -> bytes | None:
        if self.task.done() or not self.handset.adb_online or self.gone():
            return b""  # adbd closed its streams at power-off: what the shell printed since never left
        try:
            return self.chunks.get(timeout=min(timeout, 0.05))
        except queue.Empty:
            return None

    def gone(self) -> bool:
        try:
            return self.handset.state.fs.read_bytes(BOOT_ID) != self.boot
        except OSError:
            return True

    def close(self) -> None:
        self.task.cancel()


@dataclass
class VirtualSource:
    handset: VirtualHandset
    argvs: list[list[str]] = field(default_factory=list)

    def boot_id(self) -> str | None:
        if not self.handset.adb_online:
            raise LogUnavailable("device offline")
        return self.handset.state.fs.read_bytes(BOOT_ID).decode().strip()

    def open(self, argv: list[str]) -> VirtualStream:
        self.argvs.append(argv)
        if not self.handset.adb_online:
            raise LogUnavailable("device offline")
        return VirtualStream(self.handset, argv)


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Polls ``check`` until true; fails the test after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
