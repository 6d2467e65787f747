"""The compliance run as a library object: bench, handset, scenario, capture, evaluation, results.

The pytest fixtures (`phonehome.pytest_fixtures`) only wrap it; a plain script does the same:

    from pathlib import Path
    from phonehome.compliance import ComplianceRun, DeviceSpec

    run = ComplianceRun(
        DeviceSpec.parse("virtual:aosp-clean"),
        scenarios=("first-boot",),
        consent="decline-all",
        inventory_file=Path("devices/virtual-inventory.yaml"),
    )
    evaluation = run.execute()          # needs root: the bench is network namespaces
    print(evaluation.result, run.results)
    for verdict in evaluation.verdicts:
        print(verdict.assertion, verdict.result, verdict.reason)

A run brings its bench up (the capture starts), reaches the handset over ADB
(`phonehome.links`), lets the scenario drive it (every phase a marker on the
bench timeline), stops the capture, reads the handset's identity, judges
the capture, and writes everything into a results folder of its own. The
phases the scenario did not reach, and what it could not make sure of, go
to the policy as problems: no assertion can PASS on them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phonehome import __version__
from phonehome.assets import shipped
from phonehome.report import analysis_json
from phonehome.report import folder as results

if TYPE_CHECKING:
    from phonehome.bench import Bench
    from phonehome.device import AdbServer, Handset, Inventory, InventoryEntry
    from phonehome.device.run_logs import RunLogs
    from phonehome.device.sockets import SocketLog
    from phonehome.links import AdbLink, VirtualLink
    from phonehome.policy import Evaluation, Identity, Manifest
    from phonehome.policy.build import BuildIdentity
    from phonehome.report.progress import ProgressLog
    from phonehome.scenario import Operator, Scenario, ScenarioResult
    from phonehome.traffic.capture import Capture
    from phonehome.traffic.flow import Flow

DEFAULT_BENCH = "benches/virtual.yaml"
DEFAULT_TIME_SCALE = 1e-4  # a virtual handset's firmware hour (hourly retries) in 0.36 s
DEFAULT_SCENARIO = "first-boot"
DEFAULT_CONSENT = "accept-all"
PREFLIGHT_S = 10.0
LOGCAT_CAP_BYTES = 256 * 1024 * 1024
BUGREPORT_TIMEOUT_S = 180.0
"""How long an ``adb:`` handset may take to show on the adb server before any bench comes up."""
SCENARIO = "scenario.json"
"""The scenario run: every step with its times and detail, the failure and its evidence, the wizard's walk."""


class BadInput(Exception):
    """An input the run was given cannot be used (a device spec, a scenario, a results folder taken)."""


class NoVerdict(Exception):
    """The bench or the handset failed before verdicts could be given."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """``--device``: ``virtual:PROFILE`` (a virtual handset on the bench) or ``adb:SERIAL`` / ``SERIAL``.

    ``virtual:PROFILE@SEED`` is another unit of the same build: its identity comes from ``SEED`` (a
    batch of handsets with different IMEIs, as differential detection needs)."""

    kind: str
    name: str
    seed: str | None = None
    """A virtual handset's identity seed (default: its profile's, `phonehome.links.virtual_seed`)."""

    @classmethod
    def parse(cls, text: str) -> DeviceSpec:
        kind, sep, name = text.partition(":")
        if sep and kind == "virtual" and name:
            profile, at, seed = name.partition("@")
            if profile and (seed or not at):
                return cls(kind, profile, seed or None)
        elif sep and kind == "adb" and name:
            return cls(kind, name)
        elif text and not text.startswith("virtual"):
            return cls("adb", text)  # a bare serial, which may itself hold a colon (HOST:PORT)
        raise BadInput(
            f"--device {text!r}: expected virtual:PROFILE or adb:SERIAL (another unit of a virtual build: "
            "virtual:PROFILE@SEED)"
        )

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.text.replace(":", "-", 1))

    @property
    def text(self) -> str:
        """``virtual:PROFILE[@SEED]`` or ``adb:SERIAL``: how reports name the handset."""
        return f"{self.kind}:{self.name}" + (f"@{self.seed}" if self.seed else "")

    @property
    def profile(self) -> str:
        """The virtual handset's profile; ``real handset`` for one over ADB."""
        return self.name if self.kind == "virtual" else "real handset"


def scenario_names(given: list[str] | None) -> tuple[str, ...]:
    """``--scenario a,b --scenario c`` -> (a, b, c); none given: the default."""
    names = [n.strip() for value in given or [] for n in value.split(",") if n.strip()]
    return tuple(names) or (DEFAULT_SCENARIO,)


def scenario_options(given: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; `BadInput` for one without ``=``."""
    out = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--scenario-option {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def manifest_path(name: str) -> Path:
    """A manifest named as profiles and inventories name them: a bare name is ``manifests/NAME.yaml``."""
    path = Path(name)
    return path if path.suffix else shipped(Path("manifests") / f"{name}.yaml")


def device_manifest(
    device: DeviceSpec, inventory: Path | Inventory | None, default: Path | None, seed: str | None = None
) -> Path | None:
    """The manifest ``device`` is judged against: its inventory entry's, else ``default`` (``--manifest``),
    else a virtual profile's own. A batch of different builds needs no run per build.

    Raises `phonehome.yamlconf.ConfigError` for an inventory or profile with an error."""
    if isinstance(inventory, Path):
        from phonehome.device import load_inventory  # noqa: PLC0415

        inventory = load_inventory(inventory)
    if inventory is not None and inventory.handsets:
        entry = inventory.find(*_serials(device, seed))
        if entry is not None and entry.manifest:
            return manifest_path(entry.manifest)
    return default or profile_manifest(device)


def _serials(device: DeviceSpec, seed: str | None) -> tuple[str, str]:
    """The hardware and adb serials an inventory knows ``device`` by (a virtual one's from its seed)."""
    if device.kind == "adb":
        return device.name, device.name
    from phonehome.links import seed_of  # noqa: PLC0415
    from phonehome.virtual.identity import generate_identity  # noqa: PLC0415
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    profile = load_profile(device.name)  # once: a profile's YAML costs half a second to read
    serial = generate_identity(seed or seed_of(profile), profile.identity_spec()).serial
    return serial, serial


def lab_bench(
    device: DeviceSpec, bench: Path | None, entry: InventoryEntry | None
) -> tuple[Path, str | None]:
    """The bench definition and port for ``device``: ``--bench``, else the inventory entry's, else (virtual
    handsets) the virtual bench; and the port the inventory puts it on. `BadInput` for an ``adb:`` handset
    without a bench (the virtual bench has no cable to a phone) or a port the definition lacks."""
    from phonehome.bench.definition import load_bench  # noqa: PLC0415

    path = bench or (Path(entry.bench) if entry is not None and entry.bench else None)
    if path is None and device.kind == "adb":
        raise BadInput(
            f"--device {device.text}: --bench is required for a handset over ADB (the virtual bench has no cable "
            "to a phone): pass --bench benches/LAB.yaml, or name `bench:` in its inventory entry"
        )
    path = path or shipped(DEFAULT_BENCH)
    port = entry.port if entry is not None else None
    if port is not None:
        ports = [p.name for p in load_bench(path).ports]
        if port not in ports:
            raise BadInput(
                f"--device {device.text}: the inventory puts it on bench port {port!r}, which {path} does not "
                f"have (it has: {', '.join(ports)}): fix `port:` in the inventory or the bench definition"
            )
    return path, port


def profile_manifest(device: DeviceSpec) -> Path | None:
    """A virtual handset's own manifest (its profile's ``behaviour.manifest``); None for a real handset.
    Raises `phonehome.yamlconf.ConfigError` for a profile that does not exist or has an error."""
    if device.kind != "virtual":
        return None
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    name = load_profile(device.name).behaviour.manifest
    return manifest_path(name) if name else None


@dataclass
class ComplianceRun:
    """One handset's compliance run: its options, its results folder, and what it learned on the way."""

    device: DeviceSpec
    bench_file: Path | None = None
    """``--bench``; None: the inventory entry's, or the virtual bench for a virtual handset (`lab_bench`)."""
    manifest_file: Path | None = None
    inventory_file: Path | None = None
    results_parent: Path = Path("results")
    """Where a new results folder is made when `claim` is not given one."""
    time_scale: float = DEFAULT_TIME_SCALE
    adb_port: int | None = None
    scenarios: Sequence[str] = (DEFAULT_SCENARIO,)
    """Scenario names (``scenarios/NAME.py``) or paths, run in order as one."""
    consent: str = DEFAULT_CONSENT
    scenario_options: dict[str, str] = field(default_factory=dict)
    tls: str | None = None
    """What the bench does with TLS (``alert``, ``validate``, ``intercept``), instead of its definition's."""
    operator: Operator | None = None
    """Who does physical acts on a real handset (default: a prompt on the terminal)."""
    seed: str | None = None
    """A virtual handset's identity seed (default: its profile's, else ``phonehome``)."""
    results: Path | None = None
    """This run's own folder, once claimed (`claim`)."""
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    """Written into every file of the folder, so files of different runs cannot be mixed."""
    evaluation: Evaluation | None = None
    phases: tuple[str, ...] = ()
    """The phases the scenario covered."""
    bench_problems: list[str] = field(default_factory=list)
    """What the bench reported wrong while the capture still ran (isolation, a dead process)."""
    problems: list[str] = field(default_factory=list)
    """What else undermines a PASS: the scenario's unreached phases, an identity that could not be read."""
    manifest_copy: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    scenario_result: ScenarioResult | None = None
    handset: Handset | None = None
    """The handset over ADB, once the scenario connected to it."""
    capture: Capture | None = None
    sockets: SocketLog | None = None
    """The handset's socket tables as polled during the scenario (which app owned which flow)."""
    build: BuildIdentity | None = None
    lab_ca: str | None = None
    """What became of the bench's lab CA on a real handset (``tls: validate|intercept``)."""
    """The firmware the handset runs, read over ADB after the scenario (the build-identity assertion)."""
    definitions: dict[str, str] = field(default_factory=dict)
    """The definitions copied into the results (role -> path in the folder), for the evidence bundle."""
    report: Path | None = None
    """The HTML report, once judged."""
    logcat_cap: int = LOGCAT_CAP_BYTES
    """Bytes of ``logcat.txt`` kept at most (firmware can flood its log)."""
    bugreport_timeout: float = BUGREPORT_TIMEOUT_S
    """Seconds the bug report at the end may take (real ones take 1-3 minutes); then it is a note."""
    logs: RunLogs | None = field(default=None, repr=False)
    """The handset's logcat and bug report (`phonehome.device.run_logs`), from the link's start."""
    _log: ProgressLog | None = field(default=None, repr=False)
    _scenario: Scenario | None = field(default=None, repr=False)
    _inventory: Inventory | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = self.device.seed  # virtual:PROFILE@SEED

    # -- the results folder ---------------------------------------------------------------------
    def claim(self, folder: Path | None = None) -> Path:
        """This run's results folder: ``folder`` or a new one under `results_parent`, claimed once."""
        if self.results is None:
            target = folder or results.new_folder(self.results_parent, self.device.slug)
            try:
                results.claim(target, {"run_id": self.run_id, "device": self.device.text, "pid": os.getpid()})
            except results.FolderTaken as exc:
                raise BadInput(f"--results-dir: {exc}") from exc
            self.results = target
        return self.results

    def write_json(self, name: str, doc: object) -> Path:
        return results.write_json(self.claim() / name, doc)

    def say(self, step: str, text: str = "", **detail: object) -> None:
        """A progress event (``progress.jsonl`` in the results; ``phonehome run`` shows it)."""
        if self._log is None:
            from phonehome.report.progress import PROGRESS, ProgressLog  # noqa: PLC0415

            self._log = ProgressLog(self.claim() / PROGRESS)
        self._log.event(step, text, **detail)

    # -- the scenario ---------------------------------------------------------------------------
    def scenario(self) -> Scenario:
        """The scenarios named, built as one (once); `BadInput` for a name, variant or option that is wrong."""
        if self._scenario is None:
            from phonehome.scenario import Options, ScenarioError, build_scenario  # noqa: PLC0415

            try:
                self._scenario = build_scenario(
                    list(self.scenarios), Options(self.consent, dict(self.scenario_options))
                )
            except ScenarioError as exc:
                raise BadInput(str(exc)) from exc
        return self._scenario

    # -- the lab's inventory ------------------------------------------------------------------------
    def inventory(self) -> Inventory | None:
        """``inventory_file``, read once (`phonehome.yamlconf.ConfigError` names file, line and key)."""
        if self._inventory is None and self.inventory_file is not None:
            from phonehome.device import load_inventory  # noqa: PLC0415

            self._inventory = load_inventory(self.inventory_file)
        return self._inventory

    def inventory_entry(self) -> InventoryEntry | None:
        """An ``adb:`` handset's inventory entry, found by its adb serial (its ADB may not run yet)."""
        inventory = self.inventory()
        if inventory is None or self.device.kind != "adb":
            return None
        return inventory.find(self.device.name, self.device.name)

    def bench_port(self) -> tuple[Path, str | None]:
        return lab_bench(self.device, self.bench_file, self.inventory_entry())

    def preflight(self) -> None:
        """An ``adb:`` handset whose ADB runs from boot must be on the adb server now: a missing or
        unauthorized one fails in seconds, naming itself and what to do, before any bench comes up."""
        entry = self.inventory_entry()
        if self.device.kind != "adb" or (entry is not None and entry.adb == "after-setup"):
            return
        from phonehome.device import AdbServer, Handset  # noqa: PLC0415

        server = AdbServer(port=self.adb_port) if self.adb_port else AdbServer()
        Handset.connect(self.device.name, server, timeout=PREFLIGHT_S)

    # -- what the run brings up, each torn down whatever happens ------------------------------------
    @contextlib.contextmanager
    def bench_up(self) -> Iterator[Bench]:
        """The isolated bench, capture running, for the run; brought down at the end."""
        from phonehome.bench import Bench  # noqa: PLC0415  (the bench is heavy to import)
        from phonehome.bench.definition import load_bench  # noqa: PLC0415

        path, _ = self.bench_port()
        self.preflight()
        self.say("bench", "coming up")
        definition = load_bench(path)
        if self.tls is not None:
            definition = definition.model_validate({**definition.model_dump(), "tls": self.tls})
        with Bench(definition, source=path, workdir=self.claim() / "bench") as up:
            self.say("bench", "up, capture running")
            yield up

    @contextlib.contextmanager
    def adb_server(self) -> Iterator[AdbServer]:
        """A real handset's adb server (``adb_port`` or 5037); a private one for virtual handsets."""
        from phonehome.device import AdbServer  # noqa: PLC0415

        if self.adb_port is not None or self.device.kind == "adb":
            yield AdbServer(port=self.adb_port) if self.adb_port else AdbServer()
            return
        with AdbServer.private() as server:  # no mDNS; recorded, so a killed run's server is cleaned
            yield server

    @contextlib.contextmanager
    def link_up(self, bench: Bench, server: AdbServer) -> Iterator[AdbLink | VirtualLink]:
        """How the scenario reaches the handset (`phonehome.links`); a virtual one is stopped at the end."""
        from phonehome.links import AdbLink, VirtualLink  # noqa: PLC0415

        if self.device.kind == "adb":
            adb_link = AdbLink(self.device.name, server, self.operator, self.inventory_entry())
            with self.handset_logs(adb_link.serial, server):
                if bench.lab_ca is not None:
                    self.lab_ca = self.install_lab_ca(adb_link, bench.lab_ca.read_bytes())
                yield adb_link
            return
        port = bench.port(self.bench_port()[1])
        if port.netns is None or port.handset_ifname is None:
            raise NoVerdict(
                f"bench port {port.name} has no handset namespace: a virtual handset needs a veth port"
            )
        link = VirtualLink(
            self.device.name,
            netns=port.netns,
            ifname=port.handset_ifname,
            server=server,
            time_scale=self.time_scale,
            seed=self.seed,
            log=self.claim() / "firmware-phases.jsonl",
        )
        inventory = self.inventory()
        link.entry = inventory.find(link.virtual.serial) if inventory is not None else None
        try:
            with self.handset_logs(link.adb_serial, server):
                if (
                    bench.lab_ca is not None
                ):  # what a lab does once per handset (docs/tls.md): its CA in /system
                    link.virtual.install_ca(bench.lab_ca.read_bytes())
                yield link
        finally:
            link.close()

    @contextlib.contextmanager
    def handset_logs(self, serial: str | Callable[[], str], server: AdbServer) -> Iterator[RunLogs]:
        """logcat into the results from the first ADB contact; stopped (without a bug report) if the run
        ends before `stop_capture` finished them."""
        from phonehome.device.run_logs import RunLogs  # noqa: PLC0415

        self.logs = RunLogs(
            serial, server, self.claim(), cap_bytes=self.logcat_cap, bugreport_timeout=self.bugreport_timeout
        ).start()
        try:
            yield self.logs
        finally:
            self.notes += self.logs.finish(bugreport=False)

    def install_lab_ca(self, link: AdbLink, pem: bytes) -> str:
        """The lab CA into a real handset's system store before the scenario (docs/tls.md), as far as ADB
        allows; what happened, for run.json. Not a problem of the run when it cannot be done (a user build,
        ADB only after setup): the TLS service's records then show the CA refused, and the verdicts that
        need it say so."""
        from phonehome.bench.certs import android_ca_file  # noqa: PLC0415
        from phonehome.device import DeviceError  # noqa: PLC0415
        from phonehome.device.trust import install_system_ca  # noqa: PLC0415

        if link.adb_mode != "at-boot":
            return (
                "not installed: this build's ADB runs only after setup (install the CA in the build itself)"
            )
        if not link.online():
            return "not installed: the handset was not on ADB before the scenario"
        name, body = android_ca_file(pem)
        try:
            done = install_system_ca(link.connect(10.0), body, name)
        except DeviceError as exc:
            self.say("tls", f"lab CA not installed: {exc}")
            return f"not installed: {exc}"
        where = f"{done.path}" + (" and over the Conscrypt APEX (until the next boot)" if done.apex else "")
        self.say("tls", f"lab CA installed in {where}")
        return f"installed in {where}"

    # -- the steps of a run -------------------------------------------------------------------------
    def drive(self, bench: Bench, link: AdbLink | VirtualLink) -> ScenarioResult:
        """Runs the scenario (markers on ``bench``'s timeline); records what it covered and did not."""
        from phonehome.scenario import Context, Options, run_scenario  # noqa: PLC0415

        scenario = self.scenario()

        def mark(phase: str, **detail: object) -> object:
            marker = bench.mark(phase, **detail)
            self.say("phase", phase + (" ends" if detail.get("end") is True else ""))
            return marker

        ctx = Context(
            mark=mark,
            operator=link.operator,
            evidence=self.claim() / "evidence",
            options=Options(self.consent, dict(self.scenario_options)),
            time_scale=link.time_scale,
            connect=link.connect,
            online=link.online,
            lifecycle=link.lifecycle,
            adb=link.adb_mode,
            progress=self.say,
        )
        self.say("scenario", scenario.name)
        from phonehome.run_apps import poller  # noqa: PLC0415

        with poller(link) as sockets:
            try:
                assert self._log is not None  # say() made it
                with self._log.ticker(lambda: _link_packets(bench)):
                    done = run_scenario(scenario, ctx)
            finally:
                ctx.close()
            self.notes += link.settle()
        self.sockets = sockets.log
        self.notes += sockets.log.notes
        self.handset = link.handset
        self.scenario_result = done
        self.phases = tuple(done.covered)
        self.problems += done.problems()
        self.write_json(SCENARIO, {"run_id": self.run_id, "consent": self.consent, **done.to_dict()})
        _refused_reset(done)
        return done

    def stop_capture(self, bench: Bench) -> Capture:
        """Asks the bench for its problems while everything still runs, then stops the capture."""
        self.say("capture", "stopping: closing the window, reading the tools' counters")
        self.bench_problems = bench.status()
        captured = bench.stop_capture()[bench.port(self.bench_port()[1]).name]
        self.capture = captured
        if self.logs is not None:
            self.say("logs", "taking the bug report, stopping logcat")
            self.notes += self.logs.finish()
        self.write_json(
            results.CAPTURE,
            results.relative_paths(captured.to_dict(), self.claim(), ("timeline", "resolver_log")),
        )
        self._mark_phases(captured)
        return captured

    def _mark_phases(self, captured: Capture) -> None:
        """A copy of the capture with its phase markers as packet comments (`phonehome.report.phases`);
        the sealed file stays as the bench wrote it. A copy that cannot be made is a note, not an error."""
        from phonehome.report.phases import RECORD, PhaseCopyError, annotate_capture  # noqa: PLC0415

        try:
            self.write_json(RECORD, annotate_capture(captured, self.claim()))
        except (PhaseCopyError, OSError) as exc:
            self.notes.append(f"the phase-marked copy of the capture was not made: {exc}")

    def read_identity(self) -> Identity:
        """The handset's identifiers: read over ADB after the scenario, merged with the inventory and what
        the scenario learned (a new SIM). A handset that cannot be read leaves a problem, not a crash."""
        from phonehome.run_identity import read_run_identity  # noqa: PLC0415

        self.say("identity", "reading the handset's identity over ADB")
        return read_run_identity(self)

    def read_manifest(self) -> Manifest | None:
        """``manifest_file``, or a virtual profile's own; copied byte for byte into the results."""
        from phonehome.policy import load_manifest  # noqa: PLC0415

        path = device_manifest(self.device, self.inventory_file, self.manifest_file, self.seed)
        if path is None:
            self.notes.append("no manifest: assertions that need one are INCONCLUSIVE")
            return None
        self.manifest_file = path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"manifest {path}: cannot read: {exc.strerror or exc}") from exc
        loaded = load_manifest(path)
        if path.read_bytes() != data:
            raise BadInput(f"manifest {path} changed while the run read it")
        copy = f"{results.MANIFEST_COPY}{path.suffix or '.yaml'}"
        (self.claim() / copy).write_bytes(data)
        self.manifest_copy = {"path": str(path), "copy": copy, "sha256": hashlib.sha256(data).hexdigest()}
        return loaded

    def judge(self, capture: Capture, identity: Identity, manifest: Manifest | None) -> Evaluation:
        """Findings and verdicts; ``run.json`` first (a crash of the policy can be replayed), then the
        analysis and ``evaluation.json``."""
        from phonehome.policy import evaluate_capture  # noqa: PLC0415
        from phonehome.report.bundle import copy_definitions  # noqa: PLC0415
        from phonehome.report.html import write_run_report  # noqa: PLC0415

        self.definitions = copy_definitions(self.claim(), self.definition_files())
        self.write_json(results.RUN, self.run_record())
        self.say("analysis", "analyzing the capture and judging every assertion")
        analysis, judged = evaluate_capture(
            capture,
            identity=identity,
            manifest=manifest,
            problems=[*self.bench_problems, *self.problems],
            phases=self.phases,
            build=self.build,
        )
        doc = analysis_json.to_dict(analysis)
        self.write_json(results.ANALYSIS, doc)
        self.write_apps(analysis.flows)
        self.record_evaluation(judged)
        self.say("analysis", f"{len(analysis.flows)} flows, {len(judged.findings)} findings: {judged.result}")
        self.report = write_run_report(self.claim(), judged, doc)
        self.say("report", str(self.report))
        return judged

    def write_apps(self, flows: list[Flow]) -> None:
        """``apps.json``: the app that owned each flow, where the handset's socket tables said so.
        Written after the verdicts' inputs and read by no assertion (evidence only)."""
        from phonehome.run_apps import apps_record  # noqa: PLC0415

        judged, doc = apps_record(self.run_id, self.sockets, flows, self.build, self.capture)
        self.write_json(results.APPS, doc)
        if judged.owners:
            self.say(
                "apps", f"{len(judged.owners)} flows attributed to an app by the handset's socket tables"
            )

    def definition_files(self) -> dict[str, Path | None]:
        """The definitions this run used, by role, for the evidence bundle's copies."""
        try:
            bench: Path | None = self.bench_port()[0]
        except (BadInput, ValueError):  # refused before the run: no bench was used
            bench = self.bench_file
        files: dict[str, Path | None] = {"bench": bench, "inventory": self.inventory_file}
        if self.device.kind == "virtual":
            from phonehome.virtual.profile import profile_dirs  # noqa: PLC0415

            given = Path(self.device.name)
            found = (
                [given]
                if given.suffix in (".yaml", ".yml")
                else [d / f"{self.device.name}.yaml" for d in profile_dirs()]
            )
            files["profile"] = next((p for p in found if p.is_file()), None)
        from phonehome.scenario.loader import find_scenario  # noqa: PLC0415

        for name in self.scenarios:
            with contextlib.suppress(Exception):  # a scenario that cannot be found was refused long before
                files[f"scenario:{Path(name).stem}"] = find_scenario(name)
        return files

    def record_evaluation(self, judged: Evaluation) -> None:
        """``evaluation.json`` (schema: ``phonehome/policy/schemas/evaluation.schema.json``)."""
        self.evaluation = judged
        self.write_json(
            results.EVALUATION,
            {
                "run_id": self.run_id,
                "device": self.device.text,
                "manifest": self.manifest_copy,
                **judged.to_json(),
                "scenario": self.scenario_record(),
                "phases_needed": self.phases_needed(),
            },
        )

    def execute(self) -> Evaluation:
        """The whole run, everything it brought up torn down in reverse, whatever happens."""
        self.scenario()  # a typo in a scenario name costs a second, not a boot
        with self.bench_up() as bench, self.adb_server() as server:
            with self.link_up(bench, server) as link:
                self.drive(bench, link)
                capture = self.stop_capture(bench)
                identity = self.read_identity()
            manifest = self.read_manifest()
            return self.judge(capture, identity, manifest)

    # -- records --------------------------------------------------------------------------------
    def consent_markers(self) -> list[str]:
        """The capture's consent markers, each with its time and choices, as a lab reads them."""
        import time  # noqa: PLC0415

        from phonehome.traffic.timeline import CONSENT  # noqa: PLC0415

        out = []
        for marker in self.capture.markers if self.capture else []:
            if marker.phase == CONSENT:
                when = (
                    time.strftime("%H:%M:%S", time.gmtime(marker.ts)) + f".{int(marker.ts % 1 * 1000):03d}Z"
                )
                choices = " ".join(
                    f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in marker.detail.items()
                )
                out.append(f"{when} (ts {marker.ts:.3f}) {choices}")
        return out

    def phases_needed(self) -> dict[str, list[str]]:
        """Per assertion, the phases it needs: every phase the scenario declared, and its own
        (``consent`` needs the consent decision marked)."""
        from phonehome.policy import registry  # noqa: PLC0415

        declared = list(dict.fromkeys(self._scenario.phase_names)) if self._scenario else []
        return {a.name: list(dict.fromkeys([*declared, *a.phases])) for a in registry()}

    def scenario_record(self) -> dict[str, Any] | None:
        done = self.scenario_result
        if done is None:
            return None
        return {
            "name": done.scenario,
            "consent": self.consent,
            "declared": list(done.declared),
            "covered": done.covered,
            "unreached": done.unreached,
            "failure": None
            if done.failure is None
            else {
                "phase": done.failure.phase,
                "step": done.failure.step,
                "error": done.failure.error,
                "evidence": list(done.failure.evidence),
            },
        }

    def run_record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "phonehome": __version__,
            "device": self.device.text,
            "profile": self.device.profile,
            "bench": str(self.bench_port()[0]),
            "build": "build.json" if self.build is not None else None,
            "build_identity": self.build.summary() if self.build is not None else None,
            "inventory": str(self.inventory_file) if self.inventory_file else None,
            "manifest": self.manifest_copy,
            "scenario": self._scenario.name if self._scenario else None,
            "consent": self.consent,
            "scenario_options": dict(self.scenario_options),
            "phases": list(self.phases),
            "bench_problems": list(self.bench_problems),
            "problems": list(self.problems),
            "notes": list(self.notes),
            "lab_ca": self.lab_ca,
            "time_scale": self.time_scale,
            "capture": results.CAPTURE,
            "identity": results.IDENTITY,
            "definitions": dict(self.definitions),
            "handset_logs": self.logs.record() if self.logs is not None else None,
        }


def _refused_reset(done: ScenarioResult) -> None:
    """A handset whose reset was refused before anything was erased (a locked bootloader, another unit in
    fastboot mode, no ADB for recovery) was not tested: the reset's error ends the run without verdicts,
    naming the step and what to do, instead of verdicts about a capture with no first boot in it. A reset
    that failed after erasing keeps its verdicts: the first boot may be in the capture."""
    from phonehome.device.fastboot import BootloaderLockedError  # noqa: PLC0415
    from phonehome.device.lifecycle import ResetRefused  # noqa: PLC0415

    if isinstance(done.cause, ResetRefused | BootloaderLockedError):
        raise done.cause


def _link_packets(bench: Bench) -> int | None:
    """Frames the bench port's interface has seen so far (the capture window's packet count)."""
    from phonehome.bench import netops  # noqa: PLC0415

    return netops.link_packets(bench.router_ns, bench.port().interface)
