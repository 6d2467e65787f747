"""``phonehome judge RESULTS_DIR``: an archived run judged again from its folder alone.

A lab that receives a results folder must be able to repeat the verdicts
without the bench or the handset: the folder holds the capture
(``capture.json`` and its files, with their SHA-256), the judged identity
(``identity.json``), the manifest's byte-for-byte copy, and what else the
verdicts rested on (``run.json``: the phases covered, the bench's and the scenario's problems).
`rejudge` reads exactly those, verifies the files are the ones the run
sealed, judges, and lists every way the new verdicts differ from the
archived ``evaluation.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phonehome.policy import Evaluation, evaluate_capture, load_identity, load_manifest
from phonehome.policy.build import BuildIdentity
from phonehome.report import folder as results
from phonehome.traffic import Analysis
from phonehome.traffic.capture import Capture


class JudgeError(Exception):
    """The folder cannot be re-judged: a file is missing, unreadable, or not the one the run sealed."""


@dataclass
class Rejudged:
    """The verdicts judged again, and how they differ from the archived ones."""

    evaluation: Evaluation
    archived: dict[str, Any] | None
    differences: list[str] = field(default_factory=list)
    analysis: Analysis | None = None
    """The capture analyzed again (what the re-rendered report's flow table shows)."""


def rejudge(folder: Path, *, with_manifest: bool = True) -> Rejudged:
    """Judges ``folder``'s capture again with its identity, manifest copy, phases and bench problems.

    ``with_manifest=False`` judges without the manifest: every identifier seen in a flow of the
    handset is then a finding (who may receive it is unknown), what the results store reads to
    know every identifier sent, to declared recipients too."""
    run = _object(folder / results.RUN)
    capture = _capture(folder, _object(folder / str(run.get("capture", results.CAPTURE))))
    try:
        identity = load_identity(folder / str(run.get("identity", results.IDENTITY)))
        manifest = _manifest(folder, run.get("manifest")) if with_manifest else None
    except ValueError as exc:  # ConfigError: file, line and key
        raise JudgeError(str(exc).splitlines()[0]) from exc
    analysis, evaluation = evaluate_capture(
        capture,
        identity=identity,
        manifest=manifest,
        problems=[str(p) for p in [*run.get("bench_problems", []), *run.get("problems", [])]],
        phases=[str(p) for p in run["phases"]] if run.get("phases") is not None else None,
        build=_build(folder, run.get("build")),
    )
    archived_path = folder / results.EVALUATION
    archived = _object(archived_path) if archived_path.exists() else None
    differences = (
        compare(archived, evaluation.to_json()) if archived else [f"no archived {results.EVALUATION}"]
    )
    return Rejudged(evaluation, archived, differences, analysis)


def compare(archived: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Every verdict (result and number of findings) and the overall result that differ."""
    out = []
    if archived.get("result") != now["result"]:
        out.append(f"overall: archived {archived.get('result')}, now {now['result']}")
    before = {v.get("assertion"): v for v in archived.get("verdicts", []) if isinstance(v, dict)}
    after = {v["assertion"]: v for v in now["verdicts"]}
    for name in list(dict.fromkeys([*before, *after])):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            out.append(f"{name}: {'not archived' if old is None else 'no longer judged'}")
        elif (old.get("result"), old.get("findings")) != (new["result"], new["findings"]):
            out.append(
                f"{name}: archived {old.get('result')} ({old.get('findings')} findings), "
                f"now {new['result']} ({new['findings']} findings)"
            )
    return out


def _object(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JudgeError(f"{path}: missing (is this a phonehome results folder?)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JudgeError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(doc, dict):
        raise JudgeError(f"{path}: not a JSON object")
    return doc


def _capture(folder: Path, doc: dict[str, Any]) -> Capture:
    def inside(value: Any) -> Any:
        return (
            str(folder / value)
            if isinstance(value, str) and value and not Path(value).is_absolute()
            else value
        )

    doc = {**doc, "timeline": inside(doc.get("timeline")), "resolver_log": inside(doc.get("resolver_log"))}
    doc["files"] = [{**f, "path": inside(f.get("path"))} for f in doc.get("files", []) if isinstance(f, dict)]
    try:
        capture = Capture.from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise JudgeError(f"{folder / results.CAPTURE}: not a capture record ({exc})") from exc
    bad = capture.verify()
    if bad:
        raise JudgeError(f"the capture is not the one the run sealed: {bad[0]}")
    return capture


def _build(folder: Path, name: Any) -> BuildIdentity | None:
    """The build the run read (``build.json``, named in ``run.json``); None when it read none."""
    if name is None:
        return None
    try:
        return BuildIdentity.from_dict(_object(folder / str(name)))
    except ValueError as exc:
        raise JudgeError(f"{folder / str(name)}: {exc}") from exc


def _manifest(folder: Path, record: Any) -> Any:
    if record is None:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("copy"), str):
        raise JudgeError(f"{folder / results.RUN}: manifest is not a record of its copy")
    path = folder / record["copy"]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise JudgeError(f"{path}: the manifest's copy is missing or unreadable: {exc}") from exc
    if digest != record.get("sha256"):
        raise JudgeError(f"{path}: not the manifest the run judged against (SHA-256 differs)")
    return load_manifest(path)
