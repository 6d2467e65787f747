"""A failed step's evidence: a screenshot and the UI hierarchy, saved beside the results.

Tried through the running uiautomator2 session first, then through plain
ADB (``screencap -p``, ``uiautomator dump``); each try has a deadline, and
what could not be taken is said, not hidden (a handset that is gone leaves
no picture, and the problem names that too).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

from phonehome.scenario.context import Context

ADB_TIMEOUT_S = 10.0
_TRAILER = re.compile(r"UI hie?rc?h?ar?c?hy dumped to: .*$", re.DOTALL)


def write_private(path: Path, data: bytes) -> None:
    """Whole or not at all, readable by the owner only (a screen may show identifiers)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(ctx: Context, stem: str) -> tuple[list[str], list[str]]:
    """Screenshot ``STEM-screenshot.png`` and hierarchy ``STEM-hierarchy.xml`` in ``ctx.evidence``.

    Returns the files written (relative to the evidence folder's parent, the results folder) and a
    note for each that could not be taken.
    """
    shot = ctx.evidence / f"{stem}-screenshot.png"
    dump = ctx.evidence / f"{stem}-hierarchy.xml"
    written: list[str] = []
    notes: list[str] = []
    for what, path, takers in (
        ("screenshot", shot, (_shot_u2, _shot_adb)),
        ("hierarchy", dump, (_dump_u2, _dump_adb)),
    ):
        why = []
        for take in takers:
            try:
                data = take(ctx)
            except Exception as exc:  # a gone device fails in many ways; each is only a note here
                why.append(f"{take.__doc__}: {type(exc).__name__}: {str(exc)[:160]}")
                continue
            if data:
                write_private(path, data)
                written.append(str(path.relative_to(ctx.evidence.parent)))
                break
        else:
            notes.append(f"no {what} ({'; '.join(why) or 'no ADB connection to the handset'})")
    return written, notes


def _shot_u2(ctx: Context) -> bytes | None:
    """uiautomator2 screenshot"""
    ui = ctx.ui_started
    if ui is None:
        return None
    image: Any = ui.device.screenshot()
    import io  # noqa: PLC0415

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _shot_adb(ctx: Context) -> bytes | None:
    """adb screencap"""
    if not ctx.connected:
        return None
    device = getattr(ctx.handset, "adb_device", None)
    if device is None:
        return None
    data = device().shell(["screencap", "-p"], encoding=None, timeout=ADB_TIMEOUT_S)
    return data if isinstance(data, bytes) and data.startswith(b"\x89PNG") else None


def _dump_u2(ctx: Context) -> bytes | None:
    """uiautomator2 dump"""
    ui = ctx.ui_started
    return ui.hierarchy_xml().encode("utf-8") if ui is not None else None


def _dump_adb(ctx: Context) -> bytes | None:
    """adb uiautomator dump"""
    if not ctx.connected:
        return None
    done = ctx.handset.shell(
        ["uiautomator", "dump", "/dev/tty"], timeout=ADB_TIMEOUT_S, step="evidence", check=False
    )
    xml = _TRAILER.sub("", done.stdout).strip()
    return xml.encode("utf-8") if xml.startswith("<") else None
