"""Where a shell command reads and writes: pipes (bounded buffers), files, ``/dev/null``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from phonehome.virtual.fs import DeviceFs

MAX_CAPTURE = 64 * 1024 * 1024  # output of $(...) and pipes; beyond it the command is cut off


class Output(Protocol):
    async def write(self, data: bytes) -> None: ...


class Input(Protocol):
    async def read(self) -> bytes:
        """All of the input (commands that read stdin read it whole)."""
        ...


class NullOutput:
    async def write(self, data: bytes) -> None:
        return None


class BufferOutput:
    """Collects output (pipes, command substitution), bounded."""

    def __init__(self, limit: int = MAX_CAPTURE) -> None:
        self.data = bytearray()
        self.limit = limit

    async def write(self, data: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += data[:room]


class BytesInput:
    """Input that is all there (a pipe's or a file's bytes); reads consume it, as from a pipe."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.pos = 0

    async def read(self) -> bytes:
        rest = self.data[self.pos :]
        self.pos = len(self.data)
        return rest

    async def readline(self) -> bytes:
        """The next line with its newline (without one at the end of input); b"" at the end."""
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        line = self.data[self.pos : end]
        self.pos = end
        return line


class FileOutput:
    """``> FILE`` / ``>> FILE`` on the handset's file system."""

    def __init__(self, fs: DeviceFs, path: str, cwd: str, append: bool) -> None:
        self.host = fs.writable_path(path, cwd)
        if self.host.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        with self.host.open("ab" if append else "wb"):
            pass

    async def write(self, data: bytes) -> None:
        with self.host.open("ab") as f:
            f.write(data)


@dataclass
class Io:
    stdin: Input
    stdout: Output
    stderr: Output
