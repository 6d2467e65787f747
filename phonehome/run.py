"""``phonehome run``: the compliance suite under pytest, once per handset, and a summary of the verdicts.

A convenience, not a second orchestrator: each handset is one ``pytest
tests/compliance --device ...`` in a child process (the plugin's fixtures do
the work), so what a lab runs in CI and what this prints are the same run.

Each child is told exactly which folder is its own (``--results-dir``, a new
folder with a random part), and only that folder is read back. A handset's
verdict is believed only when the child's own session record agrees with its
``evaluation.json`` (`phonehome.results.disagreements`); anything else is NO
VERDICT with the reason on the terminal. Inputs are checked before any bench
comes up, so a typo in a manifest costs a second, not a boot.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phonehome import exits
from phonehome.report import batch, bundle
from phonehome.report import folder as results
from phonehome.report.folder import EVALUATION, FINISHED, SESSION, disagreements
from phonehome.report.progress import PROGRESS, Display, Follower
from phonehome.report.view import REPORT

SUMMARY = "summary.json"
RUN_TIMEOUT_S = 1800
STOP_GRACE_S = 60  # after SIGINT, for the child's fixtures to take its bench down
_PYTEST_INTERRUPTED, _PYTEST_USAGE = 2, 4
_ERROR_STATUS = {
    "bad-input": exits.BAD_INPUT,
    "no-verdict": exits.NO_VERDICT,
    "internal": exits.INTERNAL_ERROR,
}

Launcher = Callable[[Sequence[str], Path, float], int | None]
"""Runs a child's argv with its output to a log; its exit status, or None when it ran out of time."""
Watch = Callable[[], None]
"""Called about every `WATCH_S` while a child runs (the progress display follows its events)."""
WATCH_S = 0.25


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """One handset's run: its exit status, its own results folder, and the evaluation believed (or why not)."""

    device: str
    status: int
    """The handset's exit status (`phonehome.exits`)."""
    results: Path | None
    evaluation: dict[str, Any] | None
    """``evaluation.json``, only when the session that wrote it agrees with it."""
    reason: str = ""
    """Why there is no verdict (shown on the terminal)."""
    pytest_status: int | None = None

    @property
    def result(self) -> str | None:
        return self.evaluation["result"] if self.evaluation else None


def run(
    devices: Sequence[str],
    *,
    suite: Path,
    results_dir: Path,
    bench: str | None,
    manifest: str | None = None,
    inventory: str | None = None,
    scenarios: Sequence[str] = (),
    consent: str | None = None,
    scenario_options: Sequence[str] = (),
    options: Sequence[str] = (),
    out: Callable[[str], None] = print,
    launch: Launcher | None = None,
    display: Display | None = None,
    verbosity: int = 0,
    fmt: str = "table",
    jobs: int = 1,
) -> int:
    """Runs ``suite`` for each device, ``jobs`` handsets at once (each child brings its own bench up);
    prints verdicts, one line per kind of finding, and the HTML report's path last (``fmt="json"``: the
    summary as one JSON document); returns the worst exit status.

    ``display`` shows each child's progress while it runs (nothing when it is disabled, or with several
    jobs); ``verbosity`` -1 prints one line per handset, 1 every verdict's reason and the doubts. Each
    handset is judged against its inventory entry's manifest, else ``manifest``, else its profile's."""
    problems = check_inputs(
        devices,
        bench=bench,
        manifest=manifest,
        inventory=inventory,
        scenarios=scenarios,
        consent=consent,
        scenario_options=scenario_options,
    )
    if problems:
        for problem in problems:
            out(f"phonehome run: {problem}")
        return exits.BAD_INPUT
    try:
        run_dir = results.new_folder(results_dir.resolve(), "run")
    except OSError as exc:
        if exc.errno in results.DISK_ERRORS:
            raise  # a full disk is an internal error (the command's crash handler says so)
        out(f"phonehome run: cannot create a results folder under {results_dir}: {exc.strerror or exc}")
        return exits.USAGE
    given = [f"--bench={bench}"] if bench else []
    given += [f"--inventory={inventory}"] if inventory else []
    given += [f"--scenario={name}" for name in scenarios]
    given += [f"--consent={consent}"] if consent else []
    given += [f"--scenario-option={option}" for option in scenario_options]
    manifests = device_manifests(devices, manifest, inventory)
    display = display or Display(sys.stdout, enabled=False)
    if jobs > 1:
        display = Display(sys.stdout, enabled=False)  # one status line cannot follow several handsets

    interrupted = threading.Event()

    def one(device: str) -> DeviceResult:
        if interrupted.is_set():  # Ctrl-C: no handset still waiting for a job may start
            return DeviceResult(device, exits.NO_VERDICT, None, None, "interrupted before it began")
        if fmt != "json" and verbosity >= 0:
            out(f"phonehome run: {device} ...")
        own = [f"--manifest={manifests[device]}"] if manifests.get(device) else []
        try:
            return run_one(
                device, suite, run_dir, [*given, *own, *options], launch=launch or _launch, display=display
            )
        except KeyboardInterrupt:
            interrupted.set()
            raise

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="phonehome-run")
    try:
        outcomes = list(pool.map(one, devices))  # in --device order, whichever finished first
    except KeyboardInterrupt:  # the running children got Ctrl-C too and take their benches down
        interrupted.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    summary = [
        {
            "device": o.device,
            "status": o.status,
            "result": o.result,
            "reason": o.reason or None,
            "pytest_status": o.pytest_status,
            "results": str(o.results) if o.results else None,
            "verdicts": _verdicts(o),
        }
        for o in outcomes
    ]
    results.write_json(run_dir / SUMMARY, summary)
    report = finish(run_dir, outcomes)
    status = _status(outcomes)
    if fmt == "json":
        out(
            json.dumps(
                {"status": status, "report": str(report), "results": str(run_dir), "handsets": summary},
                indent=1,
            )
        )
        return status
    for line in _table(outcomes, verbose=verbosity > 0, quiet=verbosity < 0):
        out(line)
    out(f"report: {report}")
    return status


def device_manifests(devices: Sequence[str], manifest: str | None, inventory: str | None) -> dict[str, str]:
    """Each device's manifest (`phonehome.compliance.device_manifest`), for the ones that have one."""
    from phonehome.compliance import DeviceSpec, device_manifest  # noqa: PLC0415

    found = {}
    for device in devices:
        path = device_manifest(
            DeviceSpec.parse(device),
            Path(inventory) if inventory else None,
            Path(manifest) if manifest else None,
        )
        if path is not None:
            found[device] = str(path)
    return found


def finish(run_dir: Path, outcomes: Sequence[DeviceResult]) -> Path:
    """The batch's HTML report, every folder sealed (each handset's again, now with its log), and the
    batch indexed in the results store: the batch report's path."""
    for o in outcomes:
        if o.results is not None and o.results.is_dir():
            bundle.seal(o.results)
    report = results.write_text(run_dir / REPORT, batch.render_batch(_outcomes(outcomes), run_dir))
    bundle.seal(run_dir)
    from phonehome.store.hook import index_finished  # noqa: PLC0415  (the store loads SQLAlchemy)

    index_finished([run_dir], results_parent=run_dir.parent)  # a store that fails says so, the run stands
    return report


def _table(outcomes: Sequence[DeviceResult], *, verbose: bool = False, quiet: bool = False) -> list[str]:
    """The terminal summary of ``outcomes`` (`phonehome.report.batch.lines`)."""
    return batch.lines(_outcomes(outcomes), verbose=verbose, quiet=quiet)


def _outcomes(outcomes: Sequence[DeviceResult]) -> list[batch.Outcome]:
    return [
        batch.Outcome(
            o.device,
            o.status,
            o.result,
            o.reason,
            o.results,
            o.evaluation,
        )
        for o in outcomes
    ]


def check_inputs(
    devices: Sequence[str],
    *,
    bench: str | None,
    manifest: str | None,
    inventory: str | None,
    scenarios: Sequence[str] = (),
    consent: str | None = None,
    scenario_options: Sequence[str] = (),
) -> list[str]:
    """Every --device, manifest (given or a profile's own), inventory, bench definition and scenario,
    read once before anything runs: one line per problem, naming file, line and key."""
    from phonehome.bench.definition import BenchDef, load_bench  # noqa: PLC0415
    from phonehome.bench.ports import absent_interfaces  # noqa: PLC0415
    from phonehome.compliance import (  # noqa: PLC0415
        DEFAULT_CONSENT,
        BadInput,
        DeviceSpec,
        device_manifest,
        lab_bench,
        scenario_names,
    )
    from phonehome.compliance import scenario_options as parse_options  # noqa: PLC0415
    from phonehome.device import load_inventory  # noqa: PLC0415
    from phonehome.policy import load_manifest  # noqa: PLC0415
    from phonehome.scenario import Options, ScenarioError, build_scenario  # noqa: PLC0415
    from phonehome.yamlconf import ConfigError  # noqa: PLC0415

    problems: list[str] = []
    try:
        build_scenario(
            scenario_names(list(scenarios)),
            Options(consent or DEFAULT_CONSENT, parse_options(list(scenario_options))),
        )
    except (ScenarioError, BadInput) as exc:
        problems.append(str(exc))
    manifests = {Path(manifest)} if manifest else set()
    benches = {Path(bench)} if bench else set()
    try:
        lab = load_inventory(Path(inventory)) if inventory else None
    except ConfigError as exc:
        problems += _problems(exc, str(inventory))
        lab = None
    for text in devices:
        try:
            spec = DeviceSpec.parse(text)
            inventory_file = Path(inventory) if inventory else None
            if (
                own := device_manifest(spec, inventory_file, Path(manifest) if manifest else None)
            ) is not None:
                manifests.add(own)
            entry = lab.find(spec.name, spec.name) if lab is not None and spec.kind == "adb" else None
            benches.add(lab_bench(spec, Path(bench) if bench else None, entry)[0])
        except (ConfigError, BadInput) as exc:  # BadInput: a malformed spec, a bench it lacks
            problems += _problems(exc, f"--device {text!r}")
    loaders: list[tuple[Callable[[Path], object], Path]] = [(load_manifest, m) for m in sorted(manifests)]
    loaders += [(load_bench, b) for b in sorted(benches)]
    for load, path in loaders:
        try:
            loaded = load(path)
        except ConfigError as exc:
            problems += _problems(exc, str(path))
            continue
        if isinstance(loaded, BenchDef):  # a cable that is not there fails now, not once a bench is half up
            problems += [f"{path}: {line}" for line in absent_interfaces(loaded)]
    return problems


def _problems(exc: Exception, what: str) -> list[str]:
    from phonehome.yamlconf import ConfigError  # noqa: PLC0415

    if isinstance(exc, ConfigError):
        return list(exc.problems)
    return [f"{what}: {exc}"]


def run_one(
    device: str,
    suite: Path,
    run_dir: Path,
    options: Sequence[str],
    *,
    launch: Launcher | None = None,
    display: Display | None = None,
) -> DeviceResult:
    """One child pytest for ``device`` in a new folder of its own; its verdict read from that folder only."""
    from phonehome.compliance import DeviceSpec  # noqa: PLC0415

    folder = results.new_folder(run_dir, DeviceSpec.parse(device).slug)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        f"--device={device}",
        f"--results-dir={folder}",
        f"--junitxml={folder / 'junit.xml'}",
        f"--alluredir={run_dir / 'allure'}",
        "-o",
        f"junit_suite_name={device}",  # JUnit's suite is the handset, so CI lists each on its own
        "-p",
        "no:cacheprovider",
        # The suite has no use for hypothesis's pytest plugin (hypothesis itself works without it), and
        # loading it costs each handset's child about 2 s of CPU: with --jobs, the batch's wall time.
        "-p",
        "no:hypothesispytest",
        # Nor for labgrid's (the labgrid extra): a lent handset's place is held by `phonehome run` itself.
        "-p",
        "no:labgrid",
        "-q",
        *options,
    ]
    follower = Follower(folder / PROGRESS)
    shown = display or Display(sys.stdout, enabled=False)

    def watch() -> None:
        shown.show(device, follower.events())

    try:
        if launch is None:
            code = _launch(argv, folder / "pytest.log", RUN_TIMEOUT_S, watch)
        else:
            code = launch(argv, folder / "pytest.log", RUN_TIMEOUT_S)
    finally:
        shown.clear()
    return collect(device, folder, code)


def _launch(argv: Sequence[str], log: Path, timeout: float, watch: Watch | None = None) -> int | None:
    with log.open("w", encoding="utf-8") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    return child.wait(timeout=max(0.0, min(WATCH_S, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        raise
                    if watch is not None:
                        watch()
        except subprocess.TimeoutExpired:
            sink.write(f"\nphonehome run: did not finish within {timeout:g} s; interrupting\n")
            sink.flush()
            _stop(child)
            return None
        except KeyboardInterrupt:  # Ctrl-C reached the child too: let it take its bench down first
            _stop(child, signalled=True)
            raise


def _stop(child: subprocess.Popen[bytes], *, signalled: bool = False) -> None:
    """SIGINT (pytest then tears its fixtures, the bench, down), and SIGKILL if that takes too long."""
    if not signalled:
        child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def collect(device: str, folder: Path, pytest_status: int | None) -> DeviceResult:
    """What ``folder`` says of ``device``'s run (``pytest_status`` None: the child ran out of time)."""

    def no_verdict(status: int, reason: str) -> DeviceResult:
        return DeviceResult(device, status, folder, None, reason, pytest_status)

    log = folder / "pytest.log"
    if pytest_status is None:
        return no_verdict(exits.NO_VERDICT, f"did not finish within {RUN_TIMEOUT_S} s (log: {log})")
    try:
        session = _read(folder / SESSION)
    except ValueError as exc:
        return no_verdict(exits.INTERNAL_ERROR, f"{SESSION} is unreadable ({exc})")
    if session is None:
        if pytest_status == _PYTEST_USAGE:
            return no_verdict(exits.USAGE, f"pytest refused its options: {_log_error(log)}")
        if pytest_status == _PYTEST_INTERRUPTED:
            return no_verdict(exits.NO_VERDICT, f"interrupted before it began (log: {log})")
        return no_verdict(
            exits.INTERNAL_ERROR,
            f"pytest exited {pytest_status} without claiming its results folder: {_log_error(log)}",
        )
    judged = {str(session.get("device"))} | ({str(doc.get("device"))} if (doc := _peek(folder)) else set())
    if judged != {device}:
        return no_verdict(
            exits.INTERNAL_ERROR, f"the folder holds a run of {', '.join(sorted(judged))}, not {device}"
        )
    if session.get("state") != FINISHED:
        return no_verdict(
            exits.INTERNAL_ERROR, f"the pytest session did not finish (crashed or killed; log: {log})"
        )
    error = session.get("error")
    if isinstance(error, dict):
        status = _ERROR_STATUS.get(str(error.get("kind")), exits.INTERNAL_ERROR)
        return no_verdict(status, str(error.get("message", "")))
    if session.get("exitstatus") == _PYTEST_INTERRUPTED:
        return no_verdict(exits.NO_VERDICT, f"interrupted (log: {log})")
    try:
        evaluation = _read(folder / EVALUATION)
    except ValueError as exc:
        return no_verdict(exits.INTERNAL_ERROR, f"{EVALUATION} is unreadable ({exc})")
    if evaluation is None:
        return no_verdict(exits.NO_VERDICT, f"the session wrote no {EVALUATION} (no test asked for verdicts)")
    contradictions, gaps = disagreements(session, evaluation)
    result = str(evaluation.get("result"))
    if not contradictions and (pytest_status == 0) != (exits.FOR_RESULT.get(result) == exits.PASS):
        contradictions.append(f"pytest exited {pytest_status} but evaluation.json says {result}")
    if contradictions:
        more = f" (and {len(contradictions) - 1} more)" if len(contradictions) > 1 else ""
        return no_verdict(
            exits.INTERNAL_ERROR, f"the session and {EVALUATION} disagree: {contradictions[0]}{more}"
        )
    if gaps:
        return no_verdict(
            exits.NO_VERDICT, f"{gaps[0]}" + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else "")
        )
    return DeviceResult(device, exits.FOR_RESULT[result], folder, evaluation, "", pytest_status)


def _peek(folder: Path) -> dict[str, Any] | None:
    """``evaluation.json`` if it is readable (for its device), else None: whether it is, is judged later."""
    try:
        return _read(folder / EVALUATION)
    except ValueError:
        return None


def _read(path: Path) -> dict[str, Any] | None:
    """A JSON object, None when the file is absent; ValueError when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _log_error(log: Path) -> str:
    """The line of a child's log that says what went wrong (pytest's ``ERROR:``, a traceback's last)."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return f"no log ({log})"
    lines = [line for line in lines if line]
    picked = next((line for line in lines if line.startswith(("ERROR:", "INTERNALERROR>"))), None)
    return results.first_line(picked or (lines[-1] if lines else f"empty log {log}"))


def _verdicts(outcome: DeviceResult) -> dict[str, str]:
    return {v["assertion"]: v["result"] for v in (outcome.evaluation or {}).get("verdicts", [])}


def _status(outcomes: Sequence[DeviceResult]) -> int:
    return exits.worst(o.status for o in outcomes)
