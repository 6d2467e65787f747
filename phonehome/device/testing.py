"""A recorded shell: replays what a real phone printed, so identity and build readers run without one.

A transcript is what a lab copies from ``adb shell``: a ``$ CMD`` line, then
the command's stdout; ``#exit=N`` and ``#stderr=TEXT`` after the command
when they are not 0 and empty. Lines before the first ``$`` are comments.
A command the transcript does not hold raises `LookupError`: a test must
know every command the code under test runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phonehome.device.errors import AdbCommandError
from phonehome.device.transport import ShellResult, shell_join

_COMMAND = re.compile(r"^\$ (?P<cmd>.*?)(?:\s+#exit=(?P<exit>\d+))?(?:\s+#stderr=(?P<stderr>.*))?$")


def parse_transcript(text: str) -> dict[str, ShellResult]:
    """``$ CMD`` blocks -> results keyed by the command line."""
    results: dict[str, ShellResult] = {}
    current: ShellResult | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            stdout = "\n".join(lines) + "\n" if lines else ""
            results[current.cmd] = ShellResult(current.cmd, current.exit_code, stdout, current.stderr)

    for line in text.splitlines():
        m = _COMMAND.match(line)
        if m:
            close()
            stderr = m.group("stderr") or ""
            current = ShellResult(
                m.group("cmd"), int(m.group("exit") or 0), "", stderr + "\n" if stderr else ""
            )
            lines = []
        elif current is not None:
            lines.append(line)
    close()
    return results


@dataclass
class RecordedShell:
    """A `phonehome.device.reader.Shell` answering from a transcript; ``calls`` lists what ran."""

    serial: str
    results: dict[str, ShellResult]
    calls: list[str] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path | str, serial: str = "RECORDED") -> RecordedShell:
        return cls(serial, parse_transcript(Path(path).read_text(encoding="utf-8")))

    def shell(
        self, argv: Sequence[str], *, timeout: float | None = None, step: str = "shell", check: bool = True
    ) -> ShellResult:
        cmd = shell_join(argv)
        self.calls.append(cmd)
        if cmd not in self.results:
            raise LookupError(f"the transcript of {self.serial} has no '$ {cmd}'")
        result = self.results[cmd]
        if check and result.exit_code != 0:
            raise AdbCommandError(
                self.serial, step, cmd, exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr
            )
        return result
