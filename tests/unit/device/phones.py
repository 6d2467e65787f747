"""Recorded outputs of real phones' shell commands (``recordings/*.txt``), as `RecordedShell`s."""

from __future__ import annotations

from pathlib import Path

from phonehome.device.testing import RecordedShell

RECORDINGS = Path(__file__).with_name("recordings")
PHONES = ("nokia-7-plus-android9", "pixel-7-android14", "galaxy-s4-android4.4")
PKG = "s16 com.android.shell"


def recorded(name: str) -> RecordedShell:
    return RecordedShell.from_file(RECORDINGS / f"{name}.txt", serial=name)


def output(name: str, cmd: str) -> str:
    """What phone ``name`` printed for ``cmd``."""
    return recorded(name).results[cmd].stdout
