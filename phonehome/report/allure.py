"""What allure shows beside each test's outcome: the run's environment, categories, phases and evidence.

The plugin decides outcomes (a FAIL fails, an INCONCLUSIVE is *broken*, device
and profile are parameters so handsets never merge); this module adds what a
lab reads around them:

- ``environment.properties`` in the allure results: phonehome's version, and per
  handset its build fingerprint, build type, bench and manifest SHA-256 (merged
  under a lock, since every handset of a batch writes into one folder);
- ``categories.json``: FAILs, INCONCLUSIVEs, and errors of the bench, the handset
  or phonehome, each its own category;
- one step per phase in each assertion's test, with that assertion's findings
  sent in the phase (failed where a FAIL's findings were sent, broken where a
  phase the assertion needs was not reached);
- the evidence as attachments: evaluation.json, the HTML report, the capture
  and its phase-marked copy, the scenario record, the identity table.

Written through allure-pytest's own API (``allure.attach``, its step hooks),
so the files are allure's, whatever version writes them.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from phonehome import __version__
from phonehome.report import folder as results
from phonehome.report.escape import visible
from phonehome.report.view import BUILD, PHASED, REPORT, items, obj, read_json

ENVIRONMENT = "environment.properties"
CATEGORIES = "categories.json"
MAX_STEP_FINDINGS = 20

CATEGORY_LIST: list[dict[str, Any]] = [
    {
        "name": "FAIL: the firmware broke an assertion (evidence in the message)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s)[a-z0-9-]+: FAIL: .*",
    },
    {
        "name": "INCONCLUSIVE: a PASS was not earned (the message says what to supply or fix)",
        "matchedStatuses": ["broken"],
        "messageRegex": r"(?s).*[a-z0-9-]+: INCONCLUSIVE: .*",
    },
    {
        "name": "No verdict: an error of the bench, the handset or phonehome",
        "matchedStatuses": ["broken", "failed"],
    },
]


def _escape(text: str, key: bool) -> str:
    """Java properties escaping (the format allure reads): backslash, separators in keys, line breaks,
    anything outside printable ASCII as ``\\uXXXX``."""
    out = []
    for i, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[char])
        elif key and char in " :=#!":
            out.append("\\" + char)
        elif not key and i == 0 and char == " ":
            out.append("\\ ")
        elif not (0x20 <= ord(char) < 0x7F):
            out.extend(f"\\u{unit:04x}" for unit in _utf16(char))
        else:
            out.append(char)
    return "".join(out)


def _utf16(char: str) -> list[int]:
    data = char.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _read_properties(path: Path) -> dict[str, str]:
    """Our own file's entries back (one ``key=value`` a line, as `write_environment` writes them)."""
    out = {}
    with suppress(OSError):
        for line in path.read_text(encoding="latin-1").splitlines():
            if line and not line.startswith(("#", "!")):
                key, value = _split(line)
                out[key] = value
    return out


def _split(line: str) -> tuple[str, str]:
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "=":
            return line[:i], line[i + 1 :]
        i += 1
    return line, ""


def environment(folder: Path, device: str) -> dict[str, str]:
    """The environment entries of one handset's run, from its results folder."""
    run = obj(read_json(folder / results.RUN))
    build = obj(read_json(folder / BUILD))
    manifest = obj(run.get("manifest"))
    return {
        "phonehome": __version__,
        f"{device} build fingerprint": str(build.get("fingerprint") or "not read"),
        f"{device} build type": str(build.get("build_type") or "not read"),
        f"{device} bench": str(run.get("bench") or "-"),
        f"{device} manifest sha256": str(manifest.get("sha256") or "none"),
        f"{device} run": str(run.get("run_id") or "-"),
    }


def write_environment(alluredir: Path, entries: Mapping[str, str]) -> Path:
    """Adds ``entries`` to ``environment.properties`` (under a lock: handsets share the folder)."""
    alluredir.mkdir(parents=True, exist_ok=True)
    path = alluredir / ENVIRONMENT
    with (alluredir / ".phonehome-environment.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _read_properties(path)
        current.update({_escape(k, key=True): _escape(v, key=False) for k, v in entries.items()})
        body = "".join(f"{k}={v}\n" for k, v in sorted(current.items()))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(body, encoding="latin-1")
        tmp.replace(path)
    return path


def write_categories(alluredir: Path) -> Path:
    alluredir.mkdir(parents=True, exist_ok=True)
    path = alluredir / CATEGORIES
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(CATEGORY_LIST, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def attach_evidence(folder: Path, evidence: Sequence[str] = ()) -> None:
    """The run's evidence files as attachments of the step running now (the ``evaluation`` fixture)."""
    import allure  # noqa: PLC0415

    kinds = allure.attachment_type
    capture = obj(read_json(folder / results.CAPTURE))
    phased = obj(read_json(folder / PHASED))
    wanted: list[tuple[str, str, Any]] = [
        (results.EVALUATION, "evaluation.json", kinds.JSON),
        (REPORT, "report.html (the offline HTML report)", kinds.HTML),
        ("scenario.json", "scenario.json", kinds.JSON),
        ("identity.txt", "identity (with the source of each value)", kinds.TEXT),
        (results.CAPTURE, "capture.json (files, SHA-256, drops, phase markers)", kinds.JSON),
    ]
    for f in map(obj, items(capture.get("files"))):
        rel = str(f.get("path"))
        wanted.append(
            (rel, f"capture {Path(rel).name} (sealed, SHA-256 {str(f.get('sha256'))[:16]}...)", kinds.PCAP)
        )
    for f in map(obj, items(phased.get("files"))):
        wanted.append(
            (
                str(f.get("path")),
                f"{f.get('path')} (the capture with its phases as packet comments)",
                kinds.PCAP,
            )
        )
    for rel in evidence:
        wanted.append((rel, rel, kinds.PNG if rel.endswith(".png") else kinds.XML))
    for rel, name, kind in wanted:
        path = folder / rel
        if path.is_file() and path.resolve().is_relative_to(folder.resolve()):
            allure.attach.file(str(path), name=name, attachment_type=kind)  # type: ignore[no-untyped-call]


class _Finding(AssertionError):
    """A step that shows a FAIL's findings is *failed* in allure (it marks steps by the exception)."""


class _Unreached(Exception):
    """A step of a phase the assertion needs that the scenario did not reach is *broken*."""


def phase_steps(folder: Path, assertion: str, result: str | None, findings: Sequence[dict[str, Any]]) -> None:
    """One allure step per phase of the run, with ``assertion``'s findings sent in it."""
    from uuid import uuid4  # noqa: PLC0415  (allure names its steps by a uuid4 string)

    from allure_commons import plugin_manager  # noqa: PLC0415

    evaluation = obj(read_json(folder / results.EVALUATION))
    capture = obj(read_json(folder / results.CAPTURE))
    starts = [
        obj(m) for m in items(capture.get("markers")) if obj(obj(m).get("detail")).get("end") is not True
    ]
    phases = list(dict.fromkeys(str(m.get("phase")) for m in starts))
    needed = [str(p) for p in items(obj(evaluation.get("phases_needed")).get(assertion))]
    covered = {str(p) for p in items(evaluation.get("phases"))}
    for phase in needed:
        if phase not in phases:
            phases.append(phase)
    mine = [f for f in findings if f.get("assertion") == assertion]
    for phase in phases:
        sent = [f for f in mine if f.get("phase") == phase]
        title = f"phase {phase}: {len(sent)} finding{'s' if len(sent) != 1 else ''} of {assertion}"
        error: BaseException | None = None
        if phase in needed and evaluation.get("phases") is not None and phase not in covered:
            title = f"phase {phase}: not reached (needed by {assertion})"
            error = _Unreached(title)
        elif sent and result == "FAIL":
            error = _Finding(f"{len(sent)} findings of {assertion} in phase {phase}")
        uuid = str(uuid4())
        plugin_manager.hook.start_step(uuid=uuid, title=visible(title, 300), params={})
        for f in sent[:MAX_STEP_FINDINGS]:
            inner = str(uuid4())
            flow = obj(f.get("flow"))
            where = f"{flow.get('server_name') or flow.get('dst')}:{flow.get('dport')}/{flow.get('proto')}"
            what = f"{f.get('rule')}: {f.get('identifier') or ''} {f.get('decode') or ''} -> {where}"
            frames = ",".join(str(n) for n in items(f.get("frames"))[:8])
            plugin_manager.hook.start_step(
                uuid=inner, title=visible(f"{what} frames {frames}", 300), params={}
            )
            plugin_manager.hook.stop_step(uuid=inner, exc_type=None, exc_val=None, exc_tb=None)
        plugin_manager.hook.stop_step(
            uuid=uuid, exc_type=type(error) if error else None, exc_val=error, exc_tb=None
        )
