"""Where the bench finds the host tools it drives (dnsmasq, nft, dumpcap...).

Root's tools live in the sbin directories, which a non-login shell or a CI
runner often leaves out of ``PATH``; looking there too keeps a fresh machine
from failing for a reason nobody can see.
"""

from __future__ import annotations

import os
import shutil

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def default_search_path() -> str:
    """``PATH`` followed by the sbin directories it lacks."""
    parts = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p]
    parts += [d for d in SBIN_DIRS if d not in parts]
    return os.pathsep.join(parts)


def find_tool(name: str, search_path: str | None = None) -> str | None:
    """Absolute path of the executable ``name``, or None when it is not installed."""
    return shutil.which(name, path=search_path if search_path is not None else default_search_path())
