"""Helpers for the virtual handset's unit tests: run its shell, and read it as the device layer does."""

from __future__ import annotations

from phonehome.device.transport import ShellResult, shell_join
from phonehome.virtual import VirtualHandset
from phonehome.virtual.shell.interpreter import BufferOutput, BytesInput, Io


def run_shell(handset: VirtualHandset, script: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """Runs ``script`` in a new shell session on ``handset``: (status, stdout, stderr)."""

    async def go() -> tuple[int, str, str]:
        out, err = BufferOutput(), BufferOutput()
        session = handset.new_shell()
        status = await session.run(script, Io(BytesInput(stdin), out, err))
        await session.wait_attached()
        return status, out.data.decode("utf-8", "surrogateescape"), err.data.decode()

    return handset.run(go()).result(10)


class VirtualShell:
    """The device layer's `Shell` over a virtual handset's own shell (no adb server): for the readers."""

    def __init__(self, handset: VirtualHandset) -> None:
        self.handset = handset
        self.serial = handset.adb_serial

    def shell(self, argv, *, timeout=None, step="shell", check=True):  # type: ignore[no-untyped-def]

        cmd = shell_join(argv)
        status, out, err = run_shell(self.handset, cmd)
        return ShellResult(cmd, status, out, err)
