"""``bugreportz`` of the virtual handset: a real zip a host fetches with ``adb pull``.

AOSP's bugreportz prints ``BEGIN:PATH``, with ``-p`` ``PROGRESS:N/TOTAL``
lines, and ends with ``OK:PATH`` (or ``FAIL:REASON``); the zip holds
``bugreport-*.txt`` (here: the properties, a package summary and the log
buffers) and ``version.txt``. It lives where the shell app keeps them.
"""

from __future__ import annotations

import io
import time
import zipfile

from phonehome.virtual.logs import BUFFERS
from phonehome.virtual.shell.interpreter import CommandFn, Invocation
from phonehome.virtual.shell.logcat import format_entry
from phonehome.virtual.state import HandsetState

FOLDER = "/data/user_de/0/com.android.shell/files/bugreports"
VERSION = "2.0"
STEPS = 4


def report_name(state: HandsetState, when: float) -> str:
    """``bugreport-DEVICE-BUILD_ID-YYYY-MM-DD-hh-mm-ss``, as dumpstate names it."""
    device = state.props.get("ro.product.device") or "generic"
    build = state.props.get("ro.build.id") or "UNKNOWN"
    return f"bugreport-{device}-{build}-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime(when))}"


def report_text(state: HandsetState, when: float) -> str:
    """The dumpstate text: headers, ``getprop``, a package summary, every log buffer (UTC, year)."""
    out = [
        "========================================================",
        "== dumpstate: " + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)),
        "========================================================",
        f"Build: {state.props.get('ro.build.display.id') or ''}",
        f"Build fingerprint: '{state.props.get('ro.build.fingerprint') or ''}'",
        f"Bugreport format version: {VERSION}",
        "",
        "------ SYSTEM PROPERTIES (getprop) ------",
        *(f"[{name}]: [{value}]" for name, value in state.props.items()),
        "",
        "------ DUMPSYS package (summary) ------",
        *(f"  Package [{p.name}] uid={p.uid} versionName={p.version_name}" for p in state.packages.all()),
        "",
        "------ LOGCAT (logcat -b all -v threadtime -v UTC -v year -d) ------",
    ]
    entries, _ = state.logs.entries(0)
    out += [format_entry(e, "threadtime", {"UTC", "year"}) for e in entries if e.buffer in BUFFERS]
    return "\n".join(out) + "\n"


def build_zip(state: HandsetState, when: float) -> tuple[str, bytes]:
    """(file name, zip bytes) of a bug report taken at ``when``."""
    name = report_name(state, when)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.txt", report_text(state, when))
        zf.writestr("version.txt", VERSION)
        zf.writestr("main_entry.txt", f"{name}.txt")
    return f"{name}.zip", data.getvalue()


class BugreportCommands:
    """``bugreportz`` (``-p``: progress, ``-v``: version)."""

    def __init__(self, state: HandsetState) -> None:
        self.state = state

    async def bugreportz(self, inv: Invocation) -> int:
        args = inv.args
        if "-v" in args:
            await inv.err(f"{VERSION}\n")
            return 0
        unknown = [a for a in args if a not in ("-p", "-s")]
        if unknown:
            await inv.err(f"usage: bugreportz [-h | -v | -p]\n  invalid option: {unknown[0]}\n")
            return 1
        progress = "-p" in args
        name, data = build_zip(self.state, time.time())
        path = f"{FOLDER}/{name}"
        await inv.out(f"BEGIN:{path}\n")
        if progress:
            for step in range(1, STEPS + 1):
                await inv.out(f"PROGRESS:{step * 100 // STEPS}/100\n")
        self.state.fs.install_file(path, data)
        await inv.out(f"OK:{path}\n")
        return 0

    def register(self, table: dict[str, CommandFn]) -> None:
        table["bugreportz"] = self.bugreportz
