"""phonehome's pytest plugin: options, fixtures and markers. Thin: it maps to the library.

Registered through the ``pytest11`` entry point, so a lab's compliance suite
gets it by installing phonehome. The session's fixtures (`phonehome.pytest_fixtures`)
wrap one `phonehome.compliance.ComplianceRun`:

    bench      the isolated router (``--bench``), up for the session
    scenario   the scenario (``--scenario``, ``--consent``) driven through the handset, markers on the timeline
    handset    the `phonehome.device.Handset` the scenario reached over ADB
    capture    the capture of everything the scenario made the handset send, stopped
    identity   what the handset is, read over ADB after the scenario (and ``--inventory``), as a policy Identity
    manifest   the declared endpoints (``--manifest``), or None
    evaluation findings and verdicts for that capture; written to the results folder
    verdicts   ``verdicts.require("declared-endpoints")``: pass, or fail with the evidence

A FAIL fails the test with its findings; INCONCLUSIVE raises `Inconclusive`,
which is not an assertion, so the test fails and allure marks it *broken* with
the reason (a pass that was not earned is the one result a compliance suite
must never give); NOT_APPLICABLE skips it with the reason.

Each session has its own results folder (``--results-dir``, or a new one
under ``--results`` with a random part), claimed exclusively; what each test
required and how it ended goes to ``session.json`` there
(`phonehome.pytest_session`). ``--device`` repeats: each handset gets a run and
a folder of its own, and under pytest-xdist (``-n N``) a worker of its own
(`phonehome.pytest_handsets`).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from phonehome import pytest_handsets as handsets
from phonehome.assets import shipped_or_none
from phonehome.compliance import (
    BUGREPORT_TIMEOUT_S,
    DEFAULT_BENCH,
    DEFAULT_CONSENT,
    DEFAULT_SCENARIO,
    DEFAULT_TIME_SCALE,
    LOGCAT_CAP_BYTES,
    BadInput,
    ComplianceRun,
    DeviceSpec,
    profile_manifest,
    scenario_names,
    scenario_options,
)
from phonehome.pytest_session import SessionRecorder
from phonehome.report.folder import CaseRecord, SessionError

if TYPE_CHECKING:
    from phonehome.policy import Evaluation

pytest_plugins = ["phonehome.pytest_fixtures"]

__all__ = ["RUNS_KEY", "DeviceSpec", "Inconclusive", "Run", "Verdicts", "profile_manifest"]


class Inconclusive(Exception):
    """An assertion could not be judged: not an AssertionError, so allure marks its test *broken*."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Run(ComplianceRun):
    """A `ComplianceRun` as one pytest session: plus what each test required and how it ended."""

    tests: dict[str, CaseRecord] = field(default_factory=dict)
    """Each test's requirements and outcome, by node id (`phonehome.pytest_session`)."""
    current: CaseRecord | None = None
    """The test running now: what ``verdicts.require`` records against."""
    error: SessionError | None = None
    """The first setup or teardown error: why the session gave no verdicts."""
    allure: bool = False
    """allure-pytest is collecting (--alluredir): tests get phase steps, the session its environment."""
    exact: Path | None = None
    """``--results-dir``: the folder to claim (by the xdist worker that runs the handset's tests)."""

    def claim(self, folder: Path | None = None) -> Path:
        return super().claim(folder or self.exact)


RUNS_KEY = pytest.StashKey[dict[str, Run]]()
"""The session's handsets' runs, by ``--device`` text, in the order given."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phonehome", "phonehome compliance run")
    group.addoption(
        "--device",
        action="append",
        help="handset under test: virtual:PROFILE (devices/virtual/) or adb:SERIAL; repeat for several "
        "(with -n N each handset gets a pytest-xdist worker of its own)",
    )
    group.addoption(
        "--bench",
        help=f"bench definition (default: the handset's inventory entry's; virtual handsets: {DEFAULT_BENCH}); "
        "required for adb: handsets the inventory does not place",
    )
    group.addoption("--manifest", help="the firmware's declared endpoints (default: a virtual profile's own)")
    group.addoption(
        "--inventory",
        help="declared identifiers the shell cannot read (devices/inventory.yaml; virtual handsets: "
        "devices/virtual-inventory.yaml)",
    )
    group.addoption(
        "--results", default="results", help="parent of the run's own results folder (default results/)"
    )
    group.addoption(
        "--results-dir",
        help="this run's results folder exactly (created if absent; refused if it holds another run's results)",
    )
    group.addoption(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"virtual handsets: multiplies firmware delays (default {DEFAULT_TIME_SCALE})",
    )
    group.addoption(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"scenario to drive the handset through (scenarios/NAME.py or a .py path; default {DEFAULT_SCENARIO}); "
        "repeat, or separate with commas, to run several in order",
    )
    group.addoption(
        "--consent",
        default=DEFAULT_CONSENT,
        help=f"consent variant on the Setup Wizard's consent screens: accept-all, decline-all, minimal "
        f"(default {DEFAULT_CONSENT})",
    )
    group.addoption(
        "--scenario-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the scenario (e.g. settle=60, idle=7200, reset=adb); repeat for several",
    )
    group.addoption(
        "--adb-port", type=int, help="adb server port (default: private for virtual handsets, else 5037)"
    )
    group.addoption(
        "--tls",
        choices=["alert", "validate", "intercept"],
        help="what the bench does with TLS, instead of its definition's `tls:`: alert, validate (offer "
        "certificates the handset must refuse) or intercept (decrypt with the lab CA; docs/tls.md)",
    )

    group.addoption(
        "--bugreport-timeout",
        type=float,
        default=BUGREPORT_TIMEOUT_S,
        help=f"seconds the bug report at the end may take (default {BUGREPORT_TIMEOUT_S:g}; 0: none taken)",
    )
    group.addoption(
        "--logcat-cap-mb",
        type=int,
        default=LOGCAT_CAP_BYTES >> 20,
        help=f"megabytes of the handset's logcat.txt kept at most (default {LOGCAT_CAP_BYTES >> 20})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "root: needs root or CAP_NET_ADMIN (network namespaces, nftables, capture); "
        "skipped with the reason when not privileged, an error in CI",
    )
    specs = config.getoption("device", None)
    if not specs:
        return
    exact = config.getoption("results_dir")
    if exact and len(specs) > 1:
        raise pytest.UsageError(
            "--results-dir names one handset's folder: with several --device, give --results (a parent)"
        )
    runs: dict[str, Run] = {}
    try:
        for spec in specs:
            run = _new_run(config, spec)
            if run.device.text in runs:
                raise BadInput(f"--device {spec!r}: given twice (one run per handset)")
            runs[run.device.text] = run
        if not config.getoption("help", False):
            next(iter(runs.values())).scenario()  # a wrong scenario, variant or option: refused up front
            if exact:
                only = next(iter(runs.values()))
                only.exact = Path(exact).resolve()
                if handsets.distributed_controller(config):
                    handsets.refuse_taken(only.exact)  # the worker that runs the tests claims it
                elif not hasattr(
                    config, "workerinput"
                ):  # claimed now, so that a folder in use is refused before anything runs
                    only.claim()
    except BadInput as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[RUNS_KEY] = runs
    config.pluginmanager.register(SessionRecorder(runs), "phonehome-session")


def _new_run(config: pytest.Config, spec: str) -> Run:
    manifest = shipped_or_none(config.getoption("manifest"))
    inventory = shipped_or_none(config.getoption("inventory"))
    bench = shipped_or_none(config.getoption("bench"))
    return Run(
        device=DeviceSpec.parse(spec),
        bench_file=Path(bench) if bench else None,
        manifest_file=Path(manifest) if manifest else None,
        inventory_file=Path(inventory) if inventory else None,
        results_parent=Path(config.getoption("results")).resolve(),
        time_scale=config.getoption("time_scale"),
        adb_port=config.getoption("adb_port"),
        scenarios=scenario_names(config.getoption("scenario")),
        consent=config.getoption("consent"),
        scenario_options=scenario_options(config.getoption("scenario_option")),
        tls=config.getoption("tls"),
        bugreport_timeout=config.getoption("bugreport_timeout"),
        logcat_cap=config.getoption("logcat_cap_mb") << 20,
    )


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(
    config: pytest.Config,
) -> Generator[None, int | pytest.ExitCode, int | pytest.ExitCode]:
    handsets.choose_distribution(config)  # before pytest-xdist (tryfirst itself) turns -n into --dist load
    return (yield)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler when handsets are given: each handset's tests on one worker."""
    runs = config.stash.get(RUNS_KEY, None)
    if not runs:
        return None
    from phonehome.pytest_scheduler import HandsetScheduling  # noqa: PLC0415  (xdist: a test dependency)

    return HandsetScheduling(config, log, list(runs))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runs = metafunc.config.stash.get(RUNS_KEY, None)
    if runs:
        handsets.parametrize(metafunc, runs)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    runs = config.stash.get(RUNS_KEY, None)
    if runs:  # before pytest-xdist's worker names each test by its group
        handsets.group_items(items, runs)
    return (yield)


def _name_the_suite(config: pytest.Config, run: Run) -> None:
    from phonehome.report.junit import suite_name  # noqa: PLC0415

    suite_name(config, run.device.text)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A ``compliance`` folder needs a handset: it is collected only when ``--device`` chose one."""
    if collection_path.name == "compliance" and RUNS_KEY not in config.stash:
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    runs = item.config.stash.get(RUNS_KEY, None)
    run = handsets.run_of(item, runs) if runs else None
    if run is not None:
        if len(runs or ()) == 1:
            _name_the_suite(item.config, run)
        else:  # several handsets share the session's JUnit suite (and xdist drops suite properties)
            item.user_properties.append(("device", run.device.text))
        run.allure = _label_for_allure(item.config, run.device)
    if item.get_closest_marker("root") is None:
        return
    from phonehome.bench.doctor import Host, check_privileges  # noqa: PLC0415  (the bench is heavy to import)

    check = check_privileges(Host())
    if check.ok:
        return
    reason = f"needs root: {check.detail}"
    if _truthy(os.environ.get("CI")):
        # CI runs as root; a privileged test that cannot run there must not pass by skipping.
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def _label_for_allure(config: pytest.Config, device: DeviceSpec) -> bool:
    """Device and profile as allure parameters (they enter its historyId: two handsets' results are never
    retries of each other) and as labels (a report groups and filters by handset); whether allure collects."""
    if config.pluginmanager.get_plugin("allure_listener") is None:
        return False  # allure is not collecting (no --alluredir): its dynamic API has no test to annotate
    import allure  # noqa: PLC0415

    allure.dynamic.parameter("device", device.text)
    allure.dynamic.parameter("profile", device.profile)
    allure.dynamic.label("device", device.text)  # type: ignore[no-untyped-call]
    allure.dynamic.label("profile", device.profile)  # type: ignore[no-untyped-call]
    allure.dynamic.parent_suite(device.text)  # type: ignore[no-untyped-call]
    return True


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for run in config.stash.get(RUNS_KEY, {}).values():
        if run.tests or run.error or run.evaluation:
            _summarise(terminalreporter, run)


def _summarise(terminalreporter: Any, run: Run) -> None:
    if run.evaluation is None:
        why = f"{run.error.kind}: {run.error.message}" if run.error else "the session judged nothing"
        terminalreporter.write_line(f"phonehome: no verdicts ({why}); results: {run.results or 'none'}")
        return
    from phonehome.report.terminal import render_verdicts as render  # noqa: PLC0415

    terminalreporter.section(f"phonehome verdicts: {run.device.text}")
    terminalreporter.write(render(run.evaluation))
    for note in run.notes:
        terminalreporter.write_line(f"note: {note}")
    terminalreporter.write_line(f"results: {run.results}")


class Verdicts:
    """Turns one assertion's verdict into a test outcome, with the evidence as the failure message."""

    def __init__(self, evaluation: Evaluation, run: Run | None = None) -> None:
        self.evaluation = evaluation
        self.run = run

    def require(self, assertion: str) -> None:
        """PASS passes; FAIL fails with the evidence; INCONCLUSIVE raises `Inconclusive` (allure: broken);
        NOT_APPLICABLE skips; an assertion the evaluation does not have fails."""
        __tracebackhide__ = True
        from phonehome.report.terminal import explain  # noqa: PLC0415

        if self.run is not None and self.run.current is not None:
            self.run.current.assertions.append(assertion)
        verdict = next((v for v in self.evaluation.verdicts if v.assertion == assertion), None)
        text = explain(self.evaluation, assertion) + self._timeline(assertion)
        if self.run is not None and self.run.allure and self.run.results is not None:
            from phonehome.report.allure import phase_steps  # noqa: PLC0415

            found = [f.to_json() for f in self.evaluation.findings if f.assertion == assertion]
            phase_steps(self.run.results, assertion, verdict.result if verdict else None, found)
        if verdict is None or verdict.result == "FAIL":
            pytest.fail(text, pytrace=False)
        elif verdict.result == "NOT_APPLICABLE":
            pytest.skip(f"NOT_APPLICABLE: {verdict.reason}")
        elif verdict.result == "INCONCLUSIVE":
            raise Inconclusive(text)
        elif verdict.result != "PASS":
            pytest.fail(f"{assertion}: unknown verdict {verdict.result!r}", pytrace=False)

    def _timeline(self, assertion: str) -> str:
        """The scenario's phases and, for ``consent``, each consent marker with its choices: the evidence a
        consent finding is judged against."""
        record = self.run.scenario_record() if self.run is not None else None
        if record is None:
            return ""
        lines = [
            f"scenario: {record['name']} (consent {record['consent']}); phases covered: "
            f"{', '.join(record['covered']) or 'none'}"
            + (f"; not reached: {', '.join(record['unreached'])}" if record["unreached"] else "")
        ]
        if assertion == "consent" and self.run is not None:
            for marker in self.run.consent_markers():
                lines.append(f"consent marker: {marker}")
        return "\n" + "\n".join(lines)
