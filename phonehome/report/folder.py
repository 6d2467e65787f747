"""A handset's results folder: its own, whatever else runs, and a record of what its pytest session saw.

One folder per run and handset, named to the second *and* a random part, and
created exclusively, so two runs started in the same second never share one.
A pytest session claims its folder by creating ``session.json`` exclusively;
a folder that already holds a run's results is refused, never mixed into. At
the end the session rewrites ``session.json`` with each test's outcome, and
``phonehome run`` checks that record against ``evaluation.json``
(`disagreements`): a verdict is only believed when the session that produced
it agrees.

Every file is written whole or not at all (a temporary file, then a rename),
so a child killed mid-write leaves no half file under a final name, and
readable by its owner only, since the results name the handset's identifiers.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phonehome.policy.build import BUILD_SCHEMA

SESSION = "session.json"
"""What the pytest session saw: written when it claims the folder (``running``) and when it ends."""
RUN = "run.json"
"""The run's inputs besides the capture: device, manifest copy, phases, bench problems (`phonehome judge`)."""
CAPTURE = "capture.json"
IDENTITY = "identity.json"
"""The judged `phonehome.policy.Identity` (with sources and unread): a file ``--identity`` accepts."""
PROVENANCE = "identity-provenance.json"
"""Every value read or declared, with its source; conflicts; what could not be read."""
EVALUATION = "evaluation.json"
ANALYSIS = "analysis.json"
MANIFEST_COPY = "manifest"
APPS = "apps.json"
"""Which app owned each flow, where the handset's socket tables said so (evidence only: never judged)."""
"""The manifest the run judged against, copied byte for byte (its suffix kept)."""
CLAIMS = (SESSION, RUN, CAPTURE, IDENTITY, EVALUATION)
"""Files whose presence means a folder already holds a run's results."""

RUNNING, FINISHED = "running", "finished"
OUTCOMES = ("passed", "failed", "broken", "skipped", "error")
"""A test's outcome as allure names it: ``broken`` is an INCONCLUSIVE (or a crash) inside the test,
``error`` a failure of its setup or teardown."""
EXPECTED = {"PASS": "passed", "FAIL": "failed", "INCONCLUSIVE": "broken", "NOT_APPLICABLE": "skipped"}
"""The outcome a test that requires an assertion must have, for each verdict."""
ERROR_KINDS = ("bad-input", "no-verdict", "internal")
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
"""A disk that cannot take the results: phonehome's failure (internal), not the caller's or the bench's."""


class FolderTaken(Exception):
    """The folder already holds another run's results (or is being used by another session)."""


def new_folder(parent: Path, stem: str) -> Path:
    """A new folder ``parent/STEM-YYYYmmdd-HHMMSS-RANDOM``, created here and nowhere else.

    ``mkdir`` without ``exist_ok`` is the exclusive step: of two runs that picked the same name, one
    gets FileExistsError and draws again.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(64):
        path = parent / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o700)  # results name the handset's identifiers: its owner's eyes only
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: no free folder name for {stem} after 64 draws")


def write_json(path: Path, doc: object) -> Path:
    """Writes ``doc`` as JSON, whole or not at all, readable by the owner only."""
    return write_text(path, json.dumps(doc, indent=1, default=str) + "\n")


def write_text(path: Path, text: str) -> Path:
    """Writes ``text``, whole or not at all (a temporary file, then a rename), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def claim(folder: Path, record: dict[str, Any]) -> None:
    """Makes ``folder`` this session's: creates it if needed, then ``session.json`` exclusively.

    Raises `FolderTaken` when results of another run are there (a stale folder from yesterday, a
    second session given the same folder): the caller must pick another folder, never mix into it.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = [name for name in CLAIMS if (folder / name).exists()]
    if found:
        raise FolderTaken(f"{folder} already holds a run's results ({', '.join(found)}): give a new folder")
    try:
        fd = os.open(folder / SESSION, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FolderTaken(f"{folder} was claimed by another pytest session just now") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps({**record, "state": RUNNING}, indent=1, default=str) + "\n")


@dataclass(slots=True)
class CaseRecord:
    """One test of the session: what it asked the verdicts for, and how it ended."""

    nodeid: str
    assertions: list[str] = field(default_factory=list)
    """The assertions the test required (``verdicts.require``), in order."""
    outcome: str | None = None
    """One of `OUTCOMES`; None: the test never ran to an outcome."""
    message: str = ""


@dataclass(slots=True)
class SessionError:
    """Why the session could not judge: the first error in a setup or teardown."""

    kind: str
    """``bad-input``, ``no-verdict`` (a bench or device error) or ``internal`` (a crash)."""
    message: str
    test: str = ""


def session_record(
    *,
    run_id: str,
    device: str,
    tests: Iterable[CaseRecord],
    error: SessionError | None,
    exitstatus: int | None,
) -> dict[str, Any]:
    """The ``session.json`` a finished session writes."""
    return {
        "run_id": run_id,
        "device": device,
        "state": FINISHED,
        "pid": os.getpid(),
        "exitstatus": exitstatus,
        "error": asdict(error) if error else None,
        "tests": [asdict(t) for t in tests],
    }


def disagreements(session: dict[str, Any], evaluation: dict[str, Any]) -> tuple[list[str], list[str]]:
    """What stops ``evaluation.json`` from being this session's verdict: (contradictions, gaps).

    A contradiction is a test whose outcome does not match its verdict (a test failed while the
    evaluation says PASS, a test passed while it says FAIL), a failed test no verdict explains, an
    evaluation from another session, or an overall result that is not its verdicts' worst. A gap is a
    verdict no test of the session judged (``-x`` stopped it, ``-k`` deselected it).
    """
    from phonehome.policy.findings import RESULTS, worst  # noqa: PLC0415  (the plugin loads this module)

    contradictions: list[str] = []
    if session.get("run_id") != evaluation.get("run_id"):
        contradictions.append(
            f"evaluation.json is from run {evaluation.get('run_id')!r}, the session is {session.get('run_id')!r}"
        )
    verdicts = {v.get("assertion"): v.get("result") for v in evaluation.get("verdicts", [])}
    results = [r for r in verdicts.values() if r in RESULTS]
    if len(results) != len(verdicts) or evaluation.get("result") != worst(results):
        contradictions.append(
            f"evaluation.json says {evaluation.get('result')!r} but its verdicts' worst is "
            f"{worst(results) if results else 'nothing'}"
        )
    tests = [t for t in session.get("tests", []) if isinstance(t, dict)]
    gaps = []
    for assertion, result in verdicts.items():
        judged = [t for t in tests if assertion in t.get("assertions", []) and t.get("outcome")]
        if not judged:
            gaps.append(f"no test of the session judged {assertion} (evaluation.json: {result})")
        contradictions += [
            f"{t['nodeid']} {t['outcome']} but evaluation.json says {assertion} {result}"
            for t in judged
            if t["outcome"] != EXPECTED.get(str(result))
        ]
    for t in tests:
        unexplained = [a for a in t.get("assertions", []) if a not in verdicts]
        if t.get("outcome") in ("failed", "broken", "error") and (unexplained or not t.get("assertions")):
            what = f"asked for {', '.join(unexplained)}" if unexplained else "judged no assertion"
            contradictions.append(f"{t['nodeid']} {t['outcome']} ({what}): {t.get('message', '')}"[:300])
    return contradictions, gaps


def first_line(text: str, limit: int = 300) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def relative_paths(doc: dict[str, Any], folder: Path, keys: Sequence[str]) -> dict[str, Any]:
    """``doc`` with the paths under ``keys`` made relative to ``folder`` (an archive can move)."""

    def rel(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = Path(value)
        return str(path.relative_to(folder)) if path.is_absolute() and path.is_relative_to(folder) else value

    out = dict(doc)
    for key in keys:
        out[key] = rel(out.get(key))
    if isinstance(out.get("files"), list):
        out["files"] = [{**f, "path": rel(f.get("path"))} for f in out["files"]]
    return out


def evaluation_schema() -> dict[str, Any]:
    """The JSON Schema of ``evaluation.json`` as the pytest plugin writes it (shipped as
    ``phonehome/policy/schemas/evaluation.schema.json``; ``python -m phonehome.report.folder`` rewrites it)."""
    from pydantic import TypeAdapter  # noqa: PLC0415

    from phonehome.policy.findings import Finding, FlowRef, Verdict  # noqa: PLC0415
    from phonehome.policy.schema import judgement_properties  # noqa: PLC0415

    defs: dict[str, Any] = {}
    for name, kind in (("Finding", Finding), ("Verdict", Verdict), ("FlowRef", FlowRef)):
        sub = TypeAdapter(kind).json_schema(ref_template="#/$defs/{model}")
        sub.pop("$defs", None)
        sub["additionalProperties"] = False
        sub["required"] = sorted(sub["properties"])  # to_json writes every key, defaults included
        defs[name] = sub
    strings = {"type": "array", "items": {"type": "string"}}
    properties: dict[str, Any] = {
        "run_id": {
            "type": "string",
            "description": "The session's id; session.json and run.json carry it too.",
        },
        "device": {"type": "string", "description": "The --device judged: virtual:PROFILE or adb:SERIAL."},
        "manifest": {
            "description": "The manifest judged against, copied into the results; null: none was given.",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path", "copy", "sha256"],
                    "properties": {
                        "path": {"type": "string", "description": "where the run read it"},
                        "copy": {"type": "string", "description": "its copy, relative to the results folder"},
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                },
            ],
        },
        **judgement_properties(),
        "phases": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "The phases the run's scenario covered (its completed phases and the decisions it marked, "
            "e.g. consent).",
        },
        "phases_needed": {
            "type": "object",
            "additionalProperties": strings,
            "description": "Per assertion, the phases it needs: every phase the scenario declared, and its own "
            "(consent: the consent decision). A phase needed but not covered is why a verdict is INCONCLUSIVE.",
        },
        "scenario": {
            "description": "The scenario that drove the handset; null when none ran.",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "consent", "declared", "covered", "unreached", "failure"],
                    "properties": {
                        "name": {"type": "string"},
                        "consent": {"type": "string", "description": "the consent variant"},
                        "declared": strings,
                        "covered": strings,
                        "unreached": strings,
                        "failure": {
                            "oneOf": [
                                {"type": "null"},
                                {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["phase", "step", "error", "evidence"],
                                    "properties": {
                                        "phase": {"type": "string"},
                                        "step": {"type": "string"},
                                        "error": {"type": "string"},
                                        "evidence": {
                                            **strings,
                                            "description": "screenshot and hierarchy, relative to the folder",
                                        },
                                    },
                                },
                            ]
                        },
                    },
                },
            ],
        },
        "policy_warnings": strings,
        "build": BUILD_SCHEMA,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://phonehome.invalid/schemas/evaluation.schema.json",
        "title": "phonehome evaluation.json",
        "description": "One handset's verdicts and findings as a compliance run wrote them to its results "
        "folder; `phonehome judge RESULTS_DIR` reproduces them from the folder alone.",
        "type": "object",
        "additionalProperties": False,
        "required": sorted(properties),
        "properties": properties,
        "$defs": defs,
    }


EVALUATION_SCHEMA = Path(__file__).parents[1] / "policy" / "schemas" / "evaluation.schema.json"


def render_schema() -> str:
    return json.dumps(evaluation_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    EVALUATION_SCHEMA.write_text(render_schema(), encoding="utf-8")
    print(f"wrote {EVALUATION_SCHEMA}")
