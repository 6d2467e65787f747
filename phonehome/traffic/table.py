"""The human view of an analysis: one line per endpoint, as ``phonehome analyze`` prints it.

Everything here came off the wire, so every cell is escaped: a hostile Host
header must not be able to move a terminal's cursor or fake a line.
"""

from __future__ import annotations

from datetime import UTC, datetime

from phonehome.traffic.analysis import Analysis
from phonehome.traffic.endpoints import Endpoint

COLUMNS = ("NAME", "ADDRESSES", "PORTS", "TRANSPORT", "FLOWS", "BYTES", "FIRST SEEN")
MAX_LIST = 3
MAX_NAME = 60


def safe(text: str) -> str:
    """``text`` with anything unprintable escaped, so it cannot act on a terminal."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text
    )


def _listed(items: list[str]) -> str:
    shown = ",".join(items[:MAX_LIST])
    return shown + (f",+{len(items) - MAX_LIST}" if len(items) > MAX_LIST else "")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _when(ep: Endpoint) -> str:
    stamp = (
        datetime.fromtimestamp(ep.first_ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if 0 <= ep.first_ts < 32503680000
        else "?"
    )
    return f"{stamp} #{ep.first_frame}"


def _row(ep: Endpoint) -> tuple[str, ...]:
    name = safe(ep.name) or "unknown"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 1] + "…"
    if not ep.named:
        name = f"({name})"
    return (
        name,
        _listed(ep.addresses),
        _listed(ep.ports),
        "/".join(ep.transports),
        str(ep.flows),
        _size(ep.bytes),
        _when(ep),
    )


def render(analysis: Analysis) -> str:
    """The endpoint table, with a one-line summary above it; unnamed endpoints show in parentheses."""
    eps = analysis.endpoints()
    rows = [COLUMNS, *(_row(ep) for ep in eps)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    right = {4, 5}
    lines = []
    files = len(analysis.files)
    others = sum(1 for f in analysis.flows if f.proto not in ("tcp", "udp"))
    lines.append(
        f"{analysis.packets} packets in {files} file{'s' if files != 1 else ''}, "
        f"{len(analysis.flows)} flows"
        + (f" ({others} neither TCP nor UDP)" if others else "")
        + f", {len(eps)} endpoints"
        + (" (capture truncated)" if analysis.truncated else "")
    )
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
