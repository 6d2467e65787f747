"""What every process of a run would otherwise rebuild from the same inputs: validated definition files,
compiled identifier patterns, the public suffix list.

A batch of handsets starts a pytest child, a virtual handset and bench services per handset, and each
used to parse the same profile, manifest and screen maps with a pure-Python YAML parser, compile the
same hyperscan database and parse the same suffix list: about two seconds of CPU per handset, all of it
identical. An entry is keyed by what went in (the file's bytes, the patterns) and by a fingerprint of
phonehome's own code and data, so an edited model, validator or shipped file never reads an old result.

Entries are pickles, so the folder must be this user's alone: one that another user could write to is
not used (everything is then rebuilt, as without a cache). ``PHONEHOME_CACHE=off`` turns it off;
``PHONEHOME_CACHE=DIR`` moves it (default ``$XDG_CACHE_HOME/phonehome`` or ``~/.cache/phonehome``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ENV = "PHONEHOME_CACHE"
KEEP = 300
"""Entries kept per kind and code (a compiled identity is about half a megabyte); older ones go."""
PRUNE_EVERY = 16
"""One write in this many prunes its kind's folder."""
_PACKAGE = Path(__file__).resolve().parent
_SUFFIXES = (".py", ".yaml", ".json")


def folder() -> Path | None:
    """The cache folder, created if needed, or None when off or not safely this user's."""
    given = os.environ.get(ENV, "")
    if given.lower() in {"off", "0", "no", "false"}:
        return None
    base = (
        Path(given)
        if given
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "phonehome"
    )
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.stat()
    except OSError:
        return None
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None  # another user could plant a pickle here
    return base


@functools.cache
def code_fingerprint() -> str:
    """Changes whenever any of phonehome's modules or shipped files does (their paths, sizes and mtimes)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in _SUFFIXES and "__pycache__" not in path.parts:
            with contextlib.suppress(OSError):
                info = path.stat()
                digest.update(f"{path.relative_to(_PACKAGE)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def cached(kind: str, key: bytes, build: Callable[[], T]) -> T:
    """``build()``, or what it returned before for the same ``kind``, ``key`` and code; exceptions are not kept."""
    base = folder()
    if base is None:
        return build()
    name = hashlib.sha256(kind.encode() + b"\0" + key).hexdigest()
    path = base / kind / code_fingerprint() / f"{name}.pickle"
    unreadable = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError)
    with contextlib.suppress(*unreadable), path.open("rb") as fh:
        return pickle.load(fh)  # type: ignore[no-any-return]  # noqa: S301  (our own folder, see folder())
    value = build()
    with contextlib.suppress(OSError, pickle.PicklingError, TypeError, AttributeError):
        if not path.parent.is_dir():  # new code: what older code kept is of no use any more
            _forget_other_code(path.parent)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # readers see a whole entry or none
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if secrets.randbelow(PRUNE_EVERY) == 0:
            prune(path.parent)
    return value


def _forget_other_code(current: Path) -> None:
    with contextlib.suppress(OSError):
        for other in current.parent.iterdir():
            if other != current and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)


def prune(kind_folder: Path, keep: int = KEEP) -> None:
    """Drops all but the ``keep`` newest entries (a test suite writes many one-off files' entries)."""
    with contextlib.suppress(OSError):
        entries = sorted(kind_folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[keep:]:
            with contextlib.suppress(OSError):
                old.unlink()
