"""The evidence bundle: every file of a run with its SHA-256, and what produced them.

``evidence.json`` in a results folder lists each file below it (path, size,
SHA-256), the phonehome version, the definitions the run used (copied into
``definitions/`` byte for byte: bench, inventory, profile, scenarios; the
manifest's copy and the identity as judged are in the folder already), and the
versions of the host tools that made the capture (dumpcap or tcpdump, dnsmasq,
adb). ``SHA256SUMS`` beside it says the same in ``sha256sum -c`` form, so
another lab can check an archive without phonehome. `verify` checks a folder
against its bundle: every listed file present and unchanged, nothing unlisted,
and each capture file still the one its bench sealed.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from phonehome import __version__
from phonehome.report import folder as results
from phonehome.report.view import PHASED, items, obj, read_json

EVIDENCE = "evidence.json"
SUMS = "SHA256SUMS"
DEFINITIONS = "definitions"
FORMAT = "phonehome-evidence/1"
TOOLS: Mapping[str, tuple[str, ...]] = {
    "dumpcap": ("--version",),
    "tcpdump": ("--version",),
    "dnsmasq": ("--version",),
    "adb": ("version",),
    "nft": ("--version",),
}
"""The host tools a capture rests on, and how each says its version."""
_SEARCH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOL_TIMEOUT_S = 10


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@functools.cache
def tool_versions() -> dict[str, str | None]:
    """Each tool's first line of its version output; None when it is not installed or does not answer."""
    out: dict[str, str | None] = {}
    for name, argv in TOOLS.items():
        path = shutil.which(name, path=_SEARCH)
        if path is None:
            out[name] = None
            continue
        try:
            done = subprocess.run(
                [path, *argv], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            out[name] = None
            continue
        text = (done.stdout or done.stderr).strip().splitlines()
        out[name] = f"{text[0][:200]} ({path})" if text else f"? ({path})"
    out["python"] = platform.python_version()
    return out


def copy_definitions(folder: Path, sources: Mapping[str, Path | None]) -> dict[str, str]:
    """Copies each definition file (``bench``, ``inventory``, ``profile``, ``scenario:NAME``) into
    ``folder/definitions/``, byte for byte; their copies' paths, relative to ``folder``."""
    target = folder / DEFINITIONS
    copied: dict[str, str] = {}
    for role, path in sources.items():
        if path is None or not Path(path).is_file():
            continue
        target.mkdir(mode=0o700, exist_ok=True)
        name = f"{role.replace(':', '-')}{Path(path).suffix or '.txt'}"
        data = Path(path).read_bytes()
        (target / name).write_bytes(data)
        (target / name).chmod(0o600)
        copied[role] = f"{DEFINITIONS}/{name}"
    return copied


def _listed(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` but the bundle's own and half-written ones, sorted."""
    skip = {EVIDENCE, SUMS}
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(folder)
        if (rel.name in skip and rel.parent == Path(".")) or rel.name.endswith(".tmp"):
            continue
        out.append(path)
    return out


def seal(folder: Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Writes ``evidence.json`` and ``SHA256SUMS`` for everything in ``folder`` now."""
    run = obj(read_json(folder / results.RUN))
    files = []
    for path in _listed(folder):
        files.append(
            {"path": path.relative_to(folder).as_posix(), "size": path.stat().st_size, "sha256": sha256(path)}
        )
    definitions: dict[str, Any] = dict(obj(run.get("definitions")))
    manifest = obj(run.get("manifest"))
    if manifest.get("copy"):
        definitions["manifest"] = manifest["copy"]
    if (folder / results.IDENTITY).exists():
        definitions["identity"] = results.IDENTITY
    doc = {
        "format": FORMAT,
        "phonehome": __version__,
        "run_id": run.get("run_id"),
        "device": run.get("device"),
        "definitions": definitions,
        "tools": tool_versions(),
        **(extra or {}),
        "files": files,
    }
    results.write_json(folder / EVIDENCE, doc)
    sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in files)
    sums += f"{sha256(folder / EVIDENCE)}  {EVIDENCE}\n"
    results.write_text(folder / SUMS, sums)
    return folder / EVIDENCE


def verify(folder: Path) -> tuple[int, list[str]]:
    """(files checked, problems) for ``folder`` against its ``evidence.json``; no problems: it holds."""
    doc = read_json(folder / EVIDENCE)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return 0, [f"{folder / EVIDENCE}: missing or not an evidence bundle (was the run sealed?)"]
    problems: list[str] = []
    listed: dict[str, dict[str, Any]] = {}
    for entry in map(obj, items(doc.get("files"))):
        rel = entry.get("path")
        if not isinstance(rel, str) or not _inside(folder, rel):
            problems.append(f"evidence.json lists a path outside the folder: {rel!r}")
            continue
        listed[rel] = entry
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256(path) != entry.get("sha256"):
            problems.append(f"{rel}: SHA-256 differs from the bundle's (changed since the run sealed it)")
    for path in _listed(folder):
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not in the bundle (added after the run sealed it)")
    problems += _sums(folder)
    problems += _captures(folder)
    return len(listed), problems


def _inside(folder: Path, rel: str) -> bool:
    path = Path(rel)
    return not path.is_absolute() and ".." not in path.parts and rel != ""


def _sums(folder: Path) -> list[str]:
    """``SHA256SUMS`` agrees with the folder (it names evidence.json too, so the bundle is covered)."""
    path = folder / SUMS
    if not path.exists():
        return [f"{SUMS}: missing"]
    problems = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, rel = line.partition("  ")
        if not _inside(folder, rel):
            problems.append(f"{SUMS} names a path outside the folder: {rel!r}")
        elif not (folder / rel).is_file() or sha256(folder / rel) != digest:
            problems.append(f"{rel}: does not match {SUMS}")
    return problems


def _captures(folder: Path) -> list[str]:
    """Each handset folder's capture files against the SHA-256 its bench sealed them with."""
    problems = []
    for record in sorted(folder.rglob(results.CAPTURE)):
        base = record.parent
        doc = obj(read_json(record))
        sealed = {}
        for f in map(obj, items(doc.get("files"))):
            rel = f.get("path")
            if not isinstance(rel, str):
                continue
            path = Path(rel) if Path(rel).is_absolute() else base / rel
            sealed[str(path)] = f.get("sha256")
            if path.is_file() and sha256(path) != f.get("sha256"):
                problems.append(f"{path.relative_to(folder) if path.is_relative_to(folder) else path}: "
                                "not the capture its bench sealed (SHA-256 differs from capture.json)")  # fmt: skip
        phased = obj(read_json(base / PHASED))
        for f in map(obj, items(phased.get("files"))):
            source = base / str(f.get("source"))
            if sealed and sealed.get(str(source)) not in (None, f.get("source_sha256")):
                problems.append(f"{f.get('path')}: made from another capture than the one sealed")
    return problems


def summary(folder: Path) -> dict[str, Any]:
    """What ``phonehome verify --format json`` prints."""
    checked, problems = verify(folder)
    doc = obj(read_json(folder / EVIDENCE))
    return {
        "folder": str(folder),
        "ok": not problems,
        "files": checked,
        "phonehome": doc.get("phonehome"),
        "problems": problems,
    }


__all__ = ["EVIDENCE", "SUMS", "copy_definitions", "seal", "summary", "tool_versions", "verify"]
