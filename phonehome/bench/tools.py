"""Where the bench finds the host tools it drives (dnsmasq, nft, dumpcap...).

Root's tools live in the sbin directories, which a non-login shell or a CI
runner often leaves out of ``PATH``; looking there too keeps a fresh machine
from failing for a reason nobody can see. ``PHONEHOME_TOOL_PATH``, when set,
is the whole search path instead: a lab (or a test) shows the bench exactly
the tools of another machine, e.g. one with tcpdump and no dumpcap.
"""

from __future__ import annotations

import os
import shutil

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
TOOL_PATH_ENV = "PHONEHOME_TOOL_PATH"


def default_search_path() -> str:
    """``$PHONEHOME_TOOL_PATH`` if set, else ``PATH`` followed by the sbin directories it lacks."""
    if (only := os.environ.get(TOOL_PATH_ENV)) is not None:
        return only
    parts = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p]
    parts += [d for d in SBIN_DIRS if d not in parts]
    return os.pathsep.join(parts)


def find_tool(name: str, search_path: str | None = None) -> str | None:
    """Absolute path of the executable ``name``, or None when it is not installed."""
    return shutil.which(name, path=search_path if search_path is not None else default_search_path())
