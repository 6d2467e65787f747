"""What a compliance session saw, test by test: the record ``phonehome run`` checks verdicts against.

Registered by `phonehome.pytest_plugin` when ``--device`` chose a handset.
For each test it keeps the assertions the test required and how the test
ended (allure's words: passed, failed, broken, skipped, error); the first
setup or teardown error is classified (bad input, no verdict, internal) so
the caller can tell a typo in a manifest from a dead bench from a crash. At
the end of the session it rewrites ``session.json`` in the results folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from phonehome.compliance import BadInput, NoVerdict
from phonehome.report import folder as results
from phonehome.report.folder import CaseRecord, SessionError

if TYPE_CHECKING:
    from phonehome.pytest_plugin import Run

__all__ = ["BadInput", "NoVerdict", "SessionRecorder", "error_kind", "outcome"]


def error_kind(exc: BaseException | None) -> str:
    """``bad-input``, ``no-verdict`` or ``internal`` for an exception that stopped a fixture."""
    from phonehome.bench.netops import BenchError  # noqa: PLC0415
    from phonehome.device.errors import DeviceError  # noqa: PLC0415
    from phonehome.traffic import CaptureError  # noqa: PLC0415
    from phonehome.traffic.timeline import TimelineError  # noqa: PLC0415
    from phonehome.yamlconf import ConfigError  # noqa: PLC0415

    if isinstance(exc, BadInput | ConfigError | pytest.UsageError):
        return "bad-input"
    if isinstance(exc, OSError) and exc.errno in results.DISK_ERRORS:
        return "internal"
    device_side: tuple[type[BaseException], ...] = (
        NoVerdict,
        BenchError,
        DeviceError,
        CaptureError,
        TimelineError,
        TimeoutError,
        subprocess.TimeoutExpired,
        pytest.fail.Exception,  # the plugin's fixtures fail this way for a bench they cannot use
        *_virtual_errors(),
    )
    return "no-verdict" if isinstance(exc, device_side) else "internal"


def _virtual_errors() -> tuple[type[BaseException], ...]:
    """The virtual handset's own failures are the handset's, as a real phone's would be."""
    from phonehome.virtual.daemon import DaemonError  # noqa: PLC0415
    from phonehome.virtual.firmware.engine import FirmwareError  # noqa: PLC0415
    from phonehome.virtual.handset import HandsetError  # noqa: PLC0415
    from phonehome.virtual.net.dhcp import DhcpError  # noqa: PLC0415

    return (DaemonError, FirmwareError, HandsetError, DhcpError)


def outcome(report: pytest.TestReport, exc: BaseException | None) -> str:
    """The test's outcome in allure's words (an exception that is not an assertion is ``broken``)."""
    if report.skipped:
        return "skipped"
    if report.passed:
        return "passed"
    if report.when != "call":
        return "error"
    return "failed" if isinstance(exc, AssertionError | pytest.fail.Exception) else "broken"


class SessionRecorder:
    """Pytest hooks that fill `Run.tests` and `Run.error`, and write ``session.json`` at the end."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.run.current = self.run.tests.setdefault(item.nodeid, CaseRecord(item.nodeid))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        test = self.run.tests.setdefault(item.nodeid, CaseRecord(item.nodeid))
        exc = call.excinfo.value if call.excinfo else None
        if report.when == "call" or report.failed or (report.when == "setup" and report.skipped):
            test.outcome = outcome(report, exc)
            if exc is not None:
                test.message = results.first_line(str(exc) or type(exc).__name__)
        if report.failed and report.when != "call" and self.run.error is None:
            why = f"{type(exc).__name__}: {exc}" if exc is not None else report.longreprtext
            self.run.error = SessionError(error_kind(exc), results.first_line(why, 500), item.nodeid)
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A suite that cannot be collected judged nothing: a crash of the suite, not an interruption."""
        if report.failed and self.run.error is None:
            why = results.first_line(
                report.longreprtext.strip().splitlines()[-1] if report.longreprtext else ""
            )
            self.run.error = SessionError("internal", f"collecting {report.nodeid}: {why}", report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run = self.run
        if run.results is None:
            return  # never claimed a folder (nothing ran that needed one, and none was given)
        record = results.session_record(
            run_id=run.run_id,
            device=run.device.text,
            tests=run.tests.values(),
            error=run.error,
            exitstatus=int(exitstatus),
        )
        results.write_json(run.results / results.SESSION, record)
        alluredir = getattr(session.config.option, "allure_report_dir", None)
        if alluredir:
            from phonehome.report.allure import environment, write_categories, write_environment  # noqa: PLC0415

            write_environment(Path(alluredir), environment(run.results, run.device.text))
            write_categories(Path(alluredir))

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The evidence bundle of the folder, once every file is written (JUnit's too, at its session end)."""
        if self.run.results is None:
            return
        from phonehome.report.bundle import seal  # noqa: PLC0415

        try:
            seal(self.run.results)
        except OSError as exc:  # a full disk: the results themselves are what counts
            print(f"phonehome: the evidence bundle of {self.run.results} was not written: {exc}")
