"""``phonehome run``: the compliance suite under pytest, once per handset, and a summary of the verdicts.

A convenience, not a second orchestrator: each handset is one ``pytest
tests/compliance --device ...`` in a child process (the plugin's fixtures do
the work), so what a lab runs in CI and what this prints are the same run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 3
EXIT_NO_VERDICT = 5
"""A handset's run ended without verdicts (a bench or device error): the log says why."""

_WORST = ("FAIL", "INCONCLUSIVE", "PASS", "NOT_APPLICABLE")
_EXIT = {"FAIL": EXIT_FAIL, "INCONCLUSIVE": EXIT_INCONCLUSIVE, "PASS": EXIT_PASS, "NOT_APPLICABLE": EXIT_PASS}
RUN_TIMEOUT_S = 1800
_SHOWN = 12  # distinct findings printed per handset; all of them are in evaluation.json


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """One handset's run: its pytest status, its results folder and its verdicts (None: no verdicts)."""

    device: str
    pytest_status: int
    results: Path | None
    evaluation: dict[str, Any] | None

    @property
    def result(self) -> str | None:
        return self.evaluation["result"] if self.evaluation else None


def run(
    devices: Sequence[str],
    *,
    suite: Path,
    results: Path,
    options: Sequence[str] = (),
    out: Callable[[str], None] = print,
) -> int:
    """Runs ``suite`` for each device; prints verdicts and results paths; returns the worst status."""
    run_dir = results.resolve() / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for device in devices:
        out(f"phonehome run: {device} ...")
        outcomes.append(_run_one(device, suite, run_dir, options))
    summary = [
        {
            "device": o.device,
            "result": o.result,
            "pytest_status": o.pytest_status,
            "results": str(o.results) if o.results else None,
            "verdicts": {v["assertion"]: v["result"] for v in (o.evaluation or {}).get("verdicts", [])},
        }
        for o in outcomes
    ]
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    for line in _table(outcomes):
        out(line)
    out(f"report: {run_dir}")
    return _status(outcomes)


def _run_one(device: str, suite: Path, run_dir: Path, options: Sequence[str]) -> DeviceResult:
    slug = _slug(device)
    log = run_dir / f"{slug}.log"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        f"--device={device}",
        f"--results={run_dir}",
        f"--junitxml={run_dir / f'{slug}-junit.xml'}",
        f"--alluredir={run_dir / 'allure'}",
        "-p",
        "no:cacheprovider",
        "-q",
        *options,
    ]
    with log.open("w", encoding="utf-8") as sink:
        try:
            status = subprocess.run(
                argv, stdout=sink, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S, check=False
            )
            code = status.returncode
        except subprocess.TimeoutExpired:
            sink.write(f"\nphonehome run: {device} did not finish within {RUN_TIMEOUT_S} s\n")
            code = EXIT_NO_VERDICT
    pattern = re.compile(re.escape(_slug(device)) + r"-\d{8}-\d{6}$")
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and pattern.match(p.name))
    folder = folders[-1] if folders else None
    evaluation = None
    if folder is not None and (folder / "evaluation.json").exists():
        evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    return DeviceResult(device, code, folder or log, evaluation)


def _slug(device: str) -> str:
    from phonehome.pytest_plugin import DeviceSpec  # noqa: PLC0415  (pytest only when running)

    return DeviceSpec.parse(device).slug


def _table(outcomes: Sequence[DeviceResult]) -> list[str]:
    assertions = list(dict.fromkeys(a for o in outcomes for a in _verdicts(o)))
    lines = [""]
    for o in outcomes:
        lines.append(f"{o.device}: {o.result or 'NO VERDICT (see ' + str(o.results) + ')'}")
        for assertion in assertions:
            verdict = _verdicts(o).get(assertion)
            if verdict:
                lines.append(f"  {assertion:<26} {verdict}")
        if o.evaluation:
            # A firmware that retries sends the same finding on every flow: one line each, with a count.
            counts = Counter(f"{f['rule']}: {f['detail']}" for f in o.evaluation.get("findings", []))
            for text, count in list(counts.items())[:_SHOWN]:
                lines.append(f"    {text}" + (f" (x{count})" if count > 1 else ""))
            if len(counts) > _SHOWN:
                lines.append(
                    f"    ... {len(counts) - _SHOWN} more kinds of finding in {o.results}/evaluation.json"
                )
        lines.append(f"  results: {o.results}")
    return lines


def _verdicts(outcome: DeviceResult) -> dict[str, str]:
    return {v["assertion"]: v["result"] for v in (outcome.evaluation or {}).get("verdicts", [])}


def _status(outcomes: Sequence[DeviceResult]) -> int:
    if any(o.evaluation is None for o in outcomes):
        return EXIT_NO_VERDICT
    worst = min((_WORST.index(o.result or "FAIL") for o in outcomes), default=_WORST.index("NOT_APPLICABLE"))
    return _EXIT[_WORST[worst]]
