"""phonehome's pytest plugin: options, fixtures and markers. Thin: it maps to the library.

Registered through the ``pytest11`` entry point, so a lab's compliance suite
gets it by installing phonehome. The session's fixtures build one run:

    bench      the isolated router (``--bench``), up for the session
    handset    a `phonehome.device.Handset` on its port (``--device virtual:PROFILE`` or ``adb:SERIAL``)
    identity   what the handset is, read over ADB (and ``--inventory``), as a policy Identity
    manifest   the declared endpoints (``--manifest``), or None
    capture    the boot-and-attach window, captured and stopped
    evaluation findings and verdicts for that capture; written to the results folder
    verdicts   ``verdicts.require("declared-endpoints")``: pass, or fail with the evidence

A FAIL fails the test with its findings; INCONCLUSIVE fails it too (a pass
that was not earned is the one result a compliance suite must never give);
NOT_APPLICABLE skips it with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from phonehome.bench.doctor import Host, check_privileges

if TYPE_CHECKING:
    from phonehome.bench import Bench
    from phonehome.device import Handset
    from phonehome.policy import Evaluation, Identity, Manifest
    from phonehome.traffic.capture import Capture

DEFAULT_BENCH = "benches/virtual.yaml"
DEFAULT_TIME_SCALE = 1e-4  # a virtual handset's firmware hour (hourly retries) in 0.36 s
WINDOW_TIMEOUT_S = 120.0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """``--device``: ``virtual:PROFILE`` (a virtual handset on the bench) or ``adb:SERIAL`` / ``SERIAL``."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> DeviceSpec:
        kind, sep, name = text.partition(":")
        if sep and kind in ("virtual", "adb") and name:
            return cls(kind, name)
        if text and not text.startswith("virtual"):
            return cls("adb", text)  # a bare serial, which may itself hold a colon (HOST:PORT)
        raise pytest.UsageError(f"--device {text!r}: expected virtual:PROFILE or adb:SERIAL")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.kind}-{self.name}")


@dataclass
class Run:
    """One compliance run: its options, where its results go, and what it learned (for the summary)."""

    device: DeviceSpec
    bench_file: Path
    manifest_file: Path | None
    inventory_file: Path | None
    results: Path
    time_scale: float
    window: float
    adb_port: int | None
    evaluation: Evaluation | None = None
    firmware: Any = None
    """A virtual handset's `phonehome.virtual.firmware.Firmware`, while it runs."""
    phases: tuple[str, ...] = ()
    """The phases the run's scenario covered (the first-boot window: boot, network-attach)."""
    bench_problems: list[str] = field(default_factory=list)
    """What the bench reported wrong while the capture still ran (isolation, a dead process)."""
    notes: list[str] = field(default_factory=list)

    def write_json(self, name: str, doc: object) -> Path:
        path = self.results / name
        path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
        return path


RUN_KEY = pytest.StashKey[Run]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phonehome", "phonehome compliance run")
    group.addoption("--device", help="handset under test: virtual:PROFILE (devices/virtual/) or adb:SERIAL")
    group.addoption("--bench", default=DEFAULT_BENCH, help=f"bench definition (default {DEFAULT_BENCH})")
    group.addoption("--manifest", help="the firmware's declared endpoints (default: a virtual profile's own)")
    group.addoption("--inventory", help="declared identifiers of real handsets (devices/inventory.yaml)")
    group.addoption("--results", default="results", help="folder for the run's results (default results/)")
    group.addoption(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"virtual handsets: multiplies firmware delays (default {DEFAULT_TIME_SCALE})",
    )
    group.addoption(
        "--window",
        type=float,
        default=60.0,
        help="real handsets: seconds to capture after boot for the boot-and-attach window (default 60)",
    )
    group.addoption(
        "--adb-port", type=int, help="adb server port (default: private for virtual handsets, else 5037)"
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
    device = DeviceSpec.parse(spec)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = Path(config.getoption("results")).resolve() / f"{device.slug}-{stamp}"
    manifest = config.getoption("manifest")
    inventory = config.getoption("inventory")
    config.stash[RUN_KEY] = Run(
        device=device,
        bench_file=Path(config.getoption("bench")),
        manifest_file=Path(manifest) if manifest else None,
        inventory_file=Path(inventory) if inventory else None,
        results=results,
        time_scale=config.getoption("time_scale"),
        window=config.getoption("window"),
        adb_port=config.getoption("adb_port"),
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A ``compliance`` folder needs a handset: it is collected only when ``--device`` chose one."""
    if collection_path.name == "compliance" and RUN_KEY not in config.stash:
        return True
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is None:
        return
    check = check_privileges(Host())
    if check.ok:
        return
    reason = f"needs root: {check.detail}"
    if _truthy(os.environ.get("CI")):
        # CI runs as root; a privileged test that cannot run there must not pass by skipping.
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None or run.evaluation is None:
        if run is not None:
            terminalreporter.write_line(f"phonehome: no verdicts (results, if any: {run.results})")
        return
    from phonehome.policy.table import render  # noqa: PLC0415

    terminalreporter.section(f"phonehome verdicts: {run.device.kind}:{run.device.name}")
    terminalreporter.write(render(run.evaluation))
    for note in run.notes:
        terminalreporter.write_line(f"note: {note}")
    terminalreporter.write_line(f"results: {run.results}")


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def phonehome_run(request: pytest.FixtureRequest) -> Run:
    """The run's options and results folder; fails with what to pass when no ``--device`` was given."""
    run = request.config.stash.get(RUN_KEY, None)
    if run is None:
        pytest.fail("no handset chosen: pass --device virtual:PROFILE or --device adb:SERIAL", pytrace=False)
    run.results.mkdir(parents=True, exist_ok=True)
    return run


@pytest.fixture(scope="session")
def bench(phonehome_run: Run) -> Iterator[Bench]:
    """The isolated bench, up (capture running) for the session; brought down, whatever happens."""
    _require_root("a bench")
    from phonehome.bench import Bench  # noqa: PLC0415

    with Bench.from_file(phonehome_run.bench_file, workdir=phonehome_run.results / "bench") as up:
        yield up


@pytest.fixture(scope="session")
def _adb_server(phonehome_run: Run) -> Iterator[Any]:
    from phonehome.device import AdbServer  # noqa: PLC0415

    if phonehome_run.adb_port is not None or phonehome_run.device.kind == "adb":
        yield AdbServer(port=phonehome_run.adb_port) if phonehome_run.adb_port else AdbServer()
        return
    # Virtual handsets get a private adb server: a lab's own server (and its devices) stay untouched.
    with _private_adb_server() as server:
        yield server


@pytest.fixture(scope="session")
def handset(phonehome_run: Run, bench: Bench, _adb_server: Any) -> Iterator[Handset]:
    """The handset under test on the bench's port, connected over ADB (out of band)."""
    from phonehome.device import Handset  # noqa: PLC0415
    from phonehome.traffic.timeline import BOOT  # noqa: PLC0415

    device = phonehome_run.device
    if device.kind == "adb":
        bench.mark(BOOT, device=device.name)
        yield Handset.connect(device.name, _adb_server)
        return
    from phonehome.virtual.firmware import on_port  # noqa: PLC0415

    port = bench.port()
    if port.netns is None or port.handset_ifname is None:
        pytest.fail(f"bench port {port.name} has no handset namespace: a virtual handset needs a veth port")
    with on_port(
        device.name,
        port.netns,
        port.handset_ifname,
        time_scale=phonehome_run.time_scale,
        on_marker=bench.mark,
    ) as firmware:
        phonehome_run.firmware = firmware
        yield Handset.connect(firmware.handset.adb_serial, _adb_server)


@pytest.fixture(scope="session")
def identity(phonehome_run: Run, handset: Handset) -> Identity:
    """The handset's identifiers, read over ADB and merged with the inventory; provenance in the results."""
    from phonehome.device import load_inventory  # noqa: PLC0415

    inventory = load_inventory(phonehome_run.inventory_file) if phonehome_run.inventory_file else None
    report = handset.read_identity(inventory)
    phonehome_run.write_json("identity.json", report.as_dict())
    (phonehome_run.results / "identity.txt").write_text(report.table() + "\n", encoding="utf-8")
    phonehome_run.notes += [f"identity: {c}" for c in report.conflicts]
    build = handset.read_build()
    phonehome_run.write_json("build.json", build.as_dict())
    return report.identity


@pytest.fixture(scope="session")
def manifest(phonehome_run: Run) -> Manifest | None:
    """The manifest the firmware is judged against: ``--manifest``, or a virtual profile's own."""
    from phonehome.policy import load_manifest  # noqa: PLC0415

    path = phonehome_run.manifest_file or _profile_manifest(phonehome_run)
    if path is None:
        phonehome_run.notes.append("no manifest: assertions that need one are NOT_APPLICABLE")
        return None
    phonehome_run.manifest_file = path
    return load_manifest(path)


@pytest.fixture(scope="session")
def capture(phonehome_run: Run, bench: Bench, handset: Handset) -> Capture:
    """The boot-and-attach window, captured: waits until the firmware sent it, then stops the capture."""
    from phonehome.traffic.timeline import BOOT, NETWORK_ATTACH  # noqa: PLC0415

    if phonehome_run.firmware is not None:
        phonehome_run.firmware.wait_window(timeout=WINDOW_TIMEOUT_S)
    else:
        time.sleep(phonehome_run.window)
    phonehome_run.phases = (BOOT, NETWORK_ATTACH)
    phonehome_run.bench_problems = bench.status()  # asked while everything should still be running
    captured = bench.stop_capture()[bench.port().name]
    phonehome_run.write_json("capture.json", captured.to_dict())
    return captured


@pytest.fixture(scope="session")
def evaluation(
    phonehome_run: Run, capture: Capture, identity: Identity, manifest: Manifest | None
) -> Evaluation:
    """Findings and verdicts for the captured window; ``evaluation.json`` in the results folder."""
    from phonehome.policy import evaluate_capture  # noqa: PLC0415

    analysis, judged = evaluate_capture(
        capture,
        identity=identity,
        manifest=manifest,
        problems=phonehome_run.bench_problems,
        phases=phonehome_run.phases,
    )
    phonehome_run.evaluation = judged
    phonehome_run.write_json("analysis.json", analysis.to_dict())
    phonehome_run.write_json(
        "evaluation.json",
        {
            "device": f"{phonehome_run.device.kind}:{phonehome_run.device.name}",
            "manifest": str(phonehome_run.manifest_file) if phonehome_run.manifest_file else None,
            **judged.to_json(),
        },
    )
    _attach_to_allure(phonehome_run)
    return judged


class Verdicts:
    """Turns one assertion's verdict into a test outcome, with the evidence as the failure message."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation

    def require(self, assertion: str) -> None:
        from phonehome.policy.table import explain  # noqa: PLC0415

        verdict = next((v for v in self.evaluation.verdicts if v.assertion == assertion), None)
        text = explain(self.evaluation, assertion)
        if verdict is None:
            pytest.fail(text, pytrace=False)
        elif verdict.result == "NOT_APPLICABLE":
            pytest.skip(f"NOT_APPLICABLE: {verdict.reason}")
        elif verdict.result != "PASS":
            pytest.fail(text, pytrace=False)


@pytest.fixture(scope="session")
def verdicts(evaluation: Evaluation) -> Verdicts:
    return Verdicts(evaluation)


# -- helpers ----------------------------------------------------------------------------------


def _require_root(what: str) -> None:
    check = check_privileges(Host())
    if not check.ok:
        pytest.fail(f"{what} needs root: {check.detail}", pytrace=False)


def _profile_manifest(run: Run) -> Path | None:
    if run.device.kind != "virtual":
        return None
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    name = load_profile(run.device.name).behaviour.manifest
    if not name:
        return None
    path = Path(name)
    return path if path.suffix else Path("manifests") / f"{name}.yaml"


@contextlib.contextmanager
def _private_adb_server() -> Iterator[Any]:
    from phonehome.device import AdbServer  # noqa: PLC0415

    with AdbServer.private() as server:  # no mDNS; recorded, so a killed run's server is cleaned
        yield server


def _attach_to_allure(run: Run) -> None:
    """Verdicts and evidence into the allure report, when allure-pytest is collecting (--alluredir)."""
    try:
        import allure  # noqa: PLC0415
    except ImportError:  # allure-pytest is a dependency; a broken install must not hide verdicts
        return
    for name in ("evaluation.json", "identity.txt", "capture.json"):
        path = run.results / name
        if path.exists():
            kind = allure.attachment_type.JSON if name.endswith(".json") else allure.attachment_type.TEXT
            allure.attach.file(str(path), name=name, attachment_type=kind)  # type: ignore[no-untyped-call]
