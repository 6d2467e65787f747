"""The compliance run's fixtures: bench, handset, identity, manifest, capture, evaluation, verdicts.

Loaded by `phonehome.pytest_plugin` (its ``pytest_plugins``). Every file a
fixture writes goes to the session's own results folder (`Run.claim`), whole
or not at all (`phonehome.results.write_json`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from phonehome import __version__, results
from phonehome.pytest_plugin import RUN_KEY, WINDOW_TIMEOUT_S, Run, Verdicts, profile_manifest
from phonehome.pytest_session import BadInput

if TYPE_CHECKING:
    from phonehome.bench import Bench
    from phonehome.device import Handset
    from phonehome.policy import Evaluation, Identity, Manifest
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
    from phonehome.bench import Bench  # noqa: PLC0415

    with Bench.from_file(phonehome_run.bench_file, workdir=phonehome_run.claim() / "bench") as up:
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
    """The handset's identifiers, read over ADB and merged with the inventory.

    ``identity.json`` in the results is the judged Identity (sources, unread), a file ``phonehome
    analyze --identity`` and ``phonehome judge`` accept; the provenance of every value goes beside it.
    """
    from phonehome.device import load_inventory  # noqa: PLC0415

    inventory = load_inventory(phonehome_run.inventory_file) if phonehome_run.inventory_file else None
    report = handset.read_identity(inventory)
    phonehome_run.write_json(results.IDENTITY, report.identity.model_dump(mode="json", exclude_defaults=True))
    phonehome_run.write_json(results.PROVENANCE, report.as_dict())
    results.write_text(phonehome_run.claim() / "identity.txt", report.table() + "\n")
    phonehome_run.notes += [f"identity: {c}" for c in report.conflicts]
    if report.identity.unread:
        keys = ", ".join(sorted(report.identity.unread))
        phonehome_run.notes.append(
            f"identity: {keys} could not be read over ADB: declare them in the inventory (--inventory)"
        )
    build = handset.read_build()
    phonehome_run.write_json("build.json", build.as_dict())
    return report.identity


@pytest.fixture(scope="session")
def manifest(phonehome_run: Run) -> Manifest | None:
    """The manifest the firmware is judged against: ``--manifest``, or a virtual profile's own; copied
    byte for byte into the results, so a lab can re-judge the run from its folder alone."""
    from phonehome.policy import load_manifest  # noqa: PLC0415

    path = phonehome_run.manifest_file or profile_manifest(phonehome_run.device)
    if path is None:
        phonehome_run.notes.append("no manifest: assertions that need one are INCONCLUSIVE")
        return None
    phonehome_run.manifest_file = path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"manifest {path}: cannot read: {exc.strerror or exc}") from exc
    loaded = load_manifest(path)
    if path.read_bytes() != data:
        raise BadInput(f"manifest {path} changed while the run read it")
    copy = f"{results.MANIFEST_COPY}{path.suffix or '.yaml'}"
    target = phonehome_run.claim() / copy
    target.write_bytes(data)
    phonehome_run.manifest_copy = {
        "path": str(path),
        "copy": copy,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return loaded


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
    folder = phonehome_run.claim()
    phonehome_run.write_json(
        results.CAPTURE, results.relative_paths(captured.to_dict(), folder, ("timeline", "resolver_log"))
    )
    return captured


@pytest.fixture(scope="session")
def evaluation(
    phonehome_run: Run, capture: Capture, identity: Identity, manifest: Manifest | None
) -> Evaluation:
    """Findings and verdicts for the captured window; ``evaluation.json`` in the results folder.

    ``run.json`` (written first, so even a crash of the policy can be replayed) holds what else the
    verdicts rest on: the manifest's copy, the phases covered, the bench's problems.
    """
    from phonehome.policy import evaluate_capture  # noqa: PLC0415

    run = phonehome_run
    run.write_json(results.RUN, _run_record(run))
    analysis, judged = evaluate_capture(
        capture, identity=identity, manifest=manifest, problems=run.bench_problems, phases=run.phases
    )
    run.write_json(results.ANALYSIS, analysis.to_dict())
    record_evaluation(run, judged)
    return judged


def record_evaluation(run: Run, judged: Evaluation) -> None:
    """``evaluation.json`` (schema: ``phonehome/policy/schemas/evaluation.schema.json``), and into allure."""
    run.evaluation = judged
    run.write_json(
        results.EVALUATION,
        {"run_id": run.run_id, "device": run.device.text, "manifest": run.manifest_copy, **judged.to_json()},
    )
    _attach_to_allure(run)


def _run_record(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "phonehome": __version__,
        "device": run.device.text,
        "profile": run.device.profile,
        "bench": str(run.bench_file),
        "inventory": str(run.inventory_file) if run.inventory_file else None,
        "manifest": run.manifest_copy,
        "phases": list(run.phases),
        "bench_problems": list(run.bench_problems),
        "time_scale": run.time_scale,
        "capture": results.CAPTURE,
        "identity": results.IDENTITY,
    }


@pytest.fixture(scope="session")
def verdicts(evaluation: Evaluation, phonehome_run: Run) -> Verdicts:
    """``verdicts.require(name)`` in a test: its outcome, recorded against the test for ``session.json``."""
    return Verdicts(evaluation, phonehome_run)


# -- helpers --------------------------------------------------------------------------------


def _require_root(what: str) -> None:
    from phonehome.bench.doctor import Host, check_privileges  # noqa: PLC0415

    check = check_privileges(Host())
    if not check.ok:
        pytest.fail(f"{what} needs root: {check.detail}", pytrace=False)


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
    for name in (results.EVALUATION, "identity.txt", results.CAPTURE):
        path = run.claim() / name
        if path.exists():
            kind = allure.attachment_type.JSON if name.endswith(".json") else allure.attachment_type.TEXT
            allure.attach.file(str(path), name=name, attachment_type=kind)  # type: ignore[no-untyped-call]
