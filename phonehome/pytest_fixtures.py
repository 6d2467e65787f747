"""The compliance run's fixtures: thin wrappers of `phonehome.compliance.ComplianceRun`'s steps.

Loaded by `phonehome.pytest_plugin` (its ``pytest_plugins``). Each fixture is
one step of the run, session-scoped, so pytest tears them down in reverse
(the handset, the adb server, the bench), also after a failure. Every file a
step writes goes to the session's own results folder, whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from phonehome.pytest_plugin import RUN_KEY, Run, Verdicts

if TYPE_CHECKING:
    from phonehome.bench import Bench
    from phonehome.device import AdbServer, Handset
    from phonehome.links import AdbLink, VirtualLink
    from phonehome.policy import Evaluation, Identity, Manifest
    from phonehome.scenario import ScenarioResult
    from phonehome.traffic.capture import Capture


@pytest.fixture(scope="session")
def phonehome_run(request: pytest.FixtureRequest) -> Run:
    """The run's options and results folder; fails with what to pass when no ``--device`` was given."""
    run = request.config.stash.get(RUN_KEY, None)
    if run is None:
        pytest.fail("no handset chosen: pass --device virtual:PROFILE or --device adb:SERIAL", pytrace=False)
    run.claim()
    return run


@pytest.fixture(scope="session")
def bench(phonehome_run: Run) -> Iterator[Bench]:
    """The isolated bench, up (capture running) for the session; brought down, whatever happens."""
    _require_root("a bench")
    with phonehome_run.bench_up() as up:
        yield up


@pytest.fixture(scope="session")
def _adb_server(phonehome_run: Run) -> Iterator[AdbServer]:
    with phonehome_run.adb_server() as server:
        yield server


@pytest.fixture(scope="session")
def _link(phonehome_run: Run, bench: Bench, _adb_server: AdbServer) -> Iterator[AdbLink | VirtualLink]:
    with phonehome_run.link_up(bench, _adb_server) as link:
        yield link


@pytest.fixture(scope="session")
def scenario(phonehome_run: Run, bench: Bench, _link: AdbLink | VirtualLink) -> ScenarioResult:
    """The scenario, driven through the handset: what it covered, what it did not, and why."""
    return phonehome_run.drive(bench, _link)


@pytest.fixture(scope="session")
def handset(phonehome_run: Run, scenario: ScenarioResult) -> Handset:
    """The handset under test, as the scenario reached it over ADB (out of band)."""
    if phonehome_run.handset is None:
        pytest.fail(f"the scenario never reached the handset over ADB: {scenario.problems()}", pytrace=False)
    return phonehome_run.handset


@pytest.fixture(scope="session")
def capture(phonehome_run: Run, bench: Bench, scenario: ScenarioResult) -> Capture:
    """Everything the scenario made the handset send, captured; the capture stopped."""
    return phonehome_run.stop_capture(bench)


@pytest.fixture(scope="session")
def identity(phonehome_run: Run, capture: Capture) -> Identity:
    """The handset's identifiers, read over ADB after the scenario and merged with the inventory.

    ``identity.json`` in the results is the judged Identity (sources, unread), a file ``phonehome
    analyze --identity`` and ``phonehome judge`` accept; the provenance of every value goes beside it.
    """
    return phonehome_run.read_identity()


@pytest.fixture(scope="session")
def manifest(phonehome_run: Run) -> Manifest | None:
    """The manifest the firmware is judged against: ``--manifest``, or a virtual profile's own; copied
    byte for byte into the results, so a lab can re-judge the run from its folder alone."""
    return phonehome_run.read_manifest()


@pytest.fixture(scope="session")
def evaluation(
    phonehome_run: Run, capture: Capture, identity: Identity, manifest: Manifest | None
) -> Evaluation:
    """Findings and verdicts for the capture; ``evaluation.json`` in the results folder."""
    judged = phonehome_run.judge(capture, identity, manifest)
    _attach_to_allure(phonehome_run)
    return judged


def record_evaluation(run: Run, judged: Evaluation) -> None:
    """``evaluation.json`` (schema: ``phonehome/policy/schemas/evaluation.schema.json``), and into allure."""
    run.record_evaluation(judged)
    _attach_to_allure(run)


@pytest.fixture(scope="session")
def verdicts(evaluation: Evaluation, phonehome_run: Run, record_testsuite_property: Any) -> Verdicts:
    """``verdicts.require(name)`` in a test: its outcome, recorded against the test for ``session.json``.

    The JUnit suite gets the handset's properties (device, build fingerprint and type, manifest SHA-256),
    so CI can index every result by the build it judged."""
    from phonehome.report.junit import suite_properties  # noqa: PLC0415

    for name, value in suite_properties(phonehome_run.claim(), phonehome_run.device.text, evaluation.result):
        record_testsuite_property(name, value)
    return Verdicts(evaluation, phonehome_run)


# -- helpers --------------------------------------------------------------------------------


def _require_root(what: str) -> None:
    from phonehome.bench.doctor import Host, check_privileges  # noqa: PLC0415

    check = check_privileges(Host())
    if not check.ok:
        pytest.fail(f"{what} needs root: {check.detail}", pytrace=False)


def _attach_to_allure(run: Run) -> None:
    """Verdicts and evidence into the allure report, when allure-pytest is collecting (--alluredir)."""
    try:
        import allure  # noqa: F401, PLC0415
    except ImportError:  # allure-pytest is a dependency; a broken install must not hide verdicts
        return
    from phonehome.report.allure import attach_evidence  # noqa: PLC0415

    failure = run.scenario_result.failure if run.scenario_result else None
    attach_evidence(run.claim(), failure.evidence if failure else ())
