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
(`phonehome.pytest_session`). One handset per session: ``--device`` with
pytest-xdist is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from phonehome.compliance import (
    DEFAULT_BENCH,
    DEFAULT_CONSENT,
    DEFAULT_SCENARIO,
    DEFAULT_TIME_SCALE,
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

__all__ = ["RUN_KEY", "DeviceSpec", "Inconclusive", "Run", "Verdicts", "profile_manifest"]


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


RUN_KEY = pytest.StashKey[Run]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phonehome", "phonehome compliance run")
    group.addoption("--device", help="handset under test: virtual:PROFILE (devices/virtual/) or adb:SERIAL")
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "root: needs root or CAP_NET_ADMIN (network namespaces, nftables, capture); "
        "skipped with the reason when not privileged, an error in CI",
    )
    spec = config.getoption("device", None)
    if not spec:
        return
    _refuse_xdist(config)
    manifest = config.getoption("manifest")
    inventory = config.getoption("inventory")
    bench = config.getoption("bench")
    try:
        run = Run(
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
        )
        if not config.getoption("help", False):
            run.scenario()  # a wrong scenario, variant or option is refused before any bench comes up
            exact = config.getoption("results_dir")
            if exact:  # claimed now, so that a folder in use is refused before anything runs
                run.claim(Path(exact).resolve())
    except BadInput as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(SessionRecorder(run), "phonehome-session")


def _name_the_suite(config: pytest.Config, run: Run) -> None:
    from phonehome.report.junit import suite_name  # noqa: PLC0415

    suite_name(config, run.device.text)


def _refuse_xdist(config: pytest.Config) -> None:
    """One handset per session: xdist workers would each bring up a bench and handset, or judge one's
    capture in another's worker."""
    option = config.option
    distributed = (
        hasattr(config, "workerinput")
        or bool(getattr(option, "numprocesses", None))
        or getattr(option, "dist", "no") != "no"
        or bool(getattr(option, "tx", None))
    )
    if distributed:
        raise pytest.UsageError(
            "--device runs one handset per pytest session and cannot be split over pytest-xdist workers "
            "(-n/--dist): drop -n, or use `phonehome run --device A --device B` for several handsets"
        )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A ``compliance`` folder needs a handset: it is collected only when ``--device`` chose one."""
    if collection_path.name == "compliance" and RUN_KEY not in config.stash:
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    run = item.config.stash.get(RUN_KEY, None)
    if run is not None:
        _name_the_suite(item.config, run)
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
    run = config.stash.get(RUN_KEY, None)
    if run is None or not (run.tests or run.error or run.evaluation):
        return
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
