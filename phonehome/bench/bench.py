"""``Bench``: the handset's whole world, brought up from a definition and removed without a trace.

    with Bench.from_file("benches/virtual.yaml") as bench:
        port = bench.port("wlan")          # port.netns: where the virtual handset lives
        ...                                # the handset takes a lease, talks, is captured
        bench.mark("consent")
    bench.capture                          # the finished Capture; bench.leases(), bench.sink_records()

Every namespace, link, nft table, sysctl and process is written to the
bench's state file as it is created (``phonehome.bench.undo``) and removed in
reverse order; another process can bring the same bench down from that file
(``phonehome bench down``), and a bench whose owner died is removed by the
next one to start (``phonehome bench clean``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from phonehome.bench import hostif, netops, recorder, runtime, sinks, undo
from phonehome.bench.build import Builder
from phonehome.bench.cleanup import clean_stale, shared_host_sysctls
from phonehome.bench.definition import BenchDef, load_bench
from phonehome.bench.dnsmasq import DnsLogEntry, Lease, read_leases
from phonehome.bench.netops import BenchError
from phonehome.bench.runtime import ProcessId, StateFile
from phonehome.bench.sinks import SinkRecord
from phonehome.bench.topology import Port, Topology, plan
from phonehome.traffic.capture import Capture, file_digest
from phonehome.traffic.timeline import PhaseMarker, append_marker, load_timeline

log = logging.getLogger(__name__)


class Bench:
    """An isolated router namespace with DHCP, DNS, sinks or NAT, and a capture on every port.

    ``detached=True`` leaves the bench running when this process exits (the
    command line's ``bench up``); otherwise the bench belongs to this process
    and is stale, and cleaned by the next bench, if the process dies.
    """

    def __init__(
        self,
        definition: BenchDef,
        *,
        workdir: Path | str | None = None,
        detached: bool = False,
        source: Path | str | None = None,
        clean_stale_benches: bool = True,
    ) -> None:
        self.definition = definition
        self.source = str(source) if source else None
        self.detached = detached
        self._workdir = Path(workdir) if workdir else None
        self._clean = clean_stale_benches
        self.state: StateFile | None = None
        self.topology: Topology | None = None
        self._captures: dict[str, Capture] = {}
        self._stopped = False

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: Path | str, **kwargs: Any) -> Bench:
        """Reads and validates a definition (errors name file, line and key) without creating anything."""
        return cls(load_bench(path), source=path, **kwargs)

    @classmethod
    def attach(cls, name: str) -> Bench:
        """The running bench with this run id (or, if unique, this name), from its state file."""
        states = [s for s in runtime.read_states() if name in (s.run_id, s.name)]
        if not states:
            raise BenchError(f"no running bench is called {name!r} (phonehome bench status lists them)")
        if len(states) > 1:
            ids = ", ".join(s.run_id for s in states)
            raise BenchError(f"several benches are called {name!r}: give the run id ({ids})")
        state = states[0]
        bench = cls(BenchDef.model_validate(state.data["definition"]), workdir=state.data["workdir"])
        bench.detached = state.owner is None
        bench.source = state.data.get("source")
        bench.state = state
        bench.topology = Topology.from_dict(state.data["topology"])
        for port, data in state.data.get("captures", {}).items():
            bench._captures[port] = Capture.from_dict(data)
        bench._stopped = bool(state.data.get("capture_stopped"))
        return bench

    # --- what a running bench offers ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def run_id(self) -> str:
        return self._state().run_id

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise BenchError("the bench has no folder before up()")
        return self._workdir

    @property
    def router_ns(self) -> str:
        return self._topology().router_ns

    @property
    def ports(self) -> dict[str, Port]:
        return {p.name: p for p in self._topology().ports}

    def port(self, name: str | None = None) -> Port:
        """The port called ``name``; without a name, the bench's only port."""
        ports = self.ports
        if name is None:
            if len(ports) != 1:
                raise BenchError(f"bench {self.name} has ports {sorted(ports)}: name one")
            return next(iter(ports.values()))
        if name not in ports:
            raise BenchError(f"bench {self.name} has no port {name!r} (it has {sorted(ports)})")
        return ports[name]

    def mark(self, phase: str, **detail: object) -> PhaseMarker:
        """Writes a phase marker (now, on the capture's clock) into the timeline beside the capture."""
        marker = PhaseMarker(time.time(), phase, dict(detail))
        append_marker(self.timeline_path, marker)
        return marker

    @property
    def timeline_path(self) -> Path:
        return self.workdir / "timeline.jsonl"

    def leases(self) -> list[Lease]:
        """Every DHCP lease handed out so far (MAC, IP, DHCP hostname, vendor class)."""
        return read_leases(self.workdir)[0]

    def dns_queries(self) -> list[DnsLogEntry]:
        """Every DNS question the handsets asked, with the bench's answers, in order."""
        return read_leases(self.workdir)[1]

    def sink_records(self) -> list[SinkRecord]:
        """What each TCP connection and UDP datagram to the sinks carried, with its original destination."""
        return sinks.read_records(self.workdir / "sinks.jsonl")

    @property
    def capture(self) -> Capture:
        """The capture of the bench's only port (see ``captures``)."""
        return self.captures[self.port().name]

    @property
    def captures(self) -> dict[str, Capture]:
        """Per port: the finished capture once stopped, else what has been written so far."""
        if self._stopped:
            return dict(self._captures)
        return {name: self._snapshot(name) for name in self.ports}

    def status(self) -> list[str]:
        """Problems of a running bench (a process that died...); empty when all is well."""
        problems = []
        for record in self._state().data["undo"]:
            if record["kind"] == "process" and not ProcessId(record["pid"], record["start"]).alive():
                problems.append(f"{record['role']} (pid {record['pid']}) is not running")
        for record in self._state().data["undo"]:
            if record["kind"] == "netns" and not netops.netns_exists(record["name"]):
                problems.append(f"namespace {record['name']} is gone")
        return problems

    # --- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Bench:
        return self.up()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def up(self, log_fn: Callable[[str], None] | None = None) -> Bench:
        """Builds the bench; on any failure removes what was built and raises ``BenchError``."""
        if self.state is not None:
            raise BenchError(f"bench {self.name} ({self.run_id}) is already up")
        say = log_fn or log.warning
        owner = None if self.detached else ProcessId.of(os.getpid())
        with runtime.host_lock():
            if self._clean:
                for line in clean_stale(log=say, locked=True):
                    say(line)
            self.state = runtime.claim(
                self.name, owner, {"definition": self.definition.model_dump(mode="json")}
            )
            try:  # subnets that overlap nothing on the host or of another bench (chosen under the lock)
                self.topology = plan(
                    self.definition,
                    self.state.run_id,
                    self.state.slot,
                    hostif.networks_in_use(self.state.run_id),
                )
            except BenchError:
                self.state.path.unlink(missing_ok=True)
                self.state = None
                raise
            self.state.data["topology"] = self.topology.to_dict()
            self.state.save()
        state = self.state
        if self._workdir is None:
            self._workdir = Path.cwd() / "results" / f"{self.name}-{state.run_id}"
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._workdir.chmod(0o700)  # the results hold identifiers: their owner's only
        state.data.update(
            {
                "workdir": str(self._workdir),
                "source": self.source,
                "created": time.time(),
                "topology": self.topology.to_dict(),
                "python": sys.executable,
            }
        )
        state.save()
        builder = Builder(self.definition, self.topology, self._workdir, self._record)
        try:
            builder.build()
        except BaseException as exc:
            failures = self._teardown(say)
            if isinstance(exc, BenchError | OSError | ValueError):
                extra = f" (and cleaning up: {'; '.join(failures)})" if failures else ""
                raise BenchError(f"bench {self.name} ({state.run_id}) did not come up: {exc}{extra}") from exc
            raise
        state.data["capture_info"] = builder.captures
        state.save()
        return self

    def stop_capture(self) -> dict[str, Capture]:
        """Stops every capture tool, reads its drop counters and seals the files (SHA-256); idempotent."""
        if self._stopped:
            return dict(self._captures)
        state = self._state()
        tools = {
            r["role"].split(":", 1)[1]: ProcessId(r["pid"], r["start"])
            for r in state.data["undo"]
            if r["kind"] == "process" and r["role"].startswith("capture:")
        }
        dead = {port for port, proc in tools.items() if not proc.alive()}
        link_counts = {port: netops.link_packets(self.router_ns, self.port(port).interface) for port in tools}
        time.sleep(recorder.SETTLE_S[self.definition.capture.tool])
        for proc in tools.values():
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        shared = sinks.problems(self.workdir) if self.definition.mode == "sinkhole" else []
        shared += netops.capped_logs(self.workdir, self.definition.disk.logs_mb)
        for port, proc in tools.items():
            netops.stop_process(proc)
            problems = list(shared)
            if port in dead:
                problems.append(
                    f"the capture tool on port {port} (pid {proc.pid}) ended before the bench stopped it; "
                    "the files hold what it wrote until then"
                )
            self._captures[port] = self._finish(port, problems, link_counts[port])
        self._stopped = True
        state.data["capture_stopped"] = True
        state.data["captures"] = {name: cap.to_dict() for name, cap in self._captures.items()}
        state.save()
        for capture in self._captures.values():
            try:
                capture.save(self.workdir / f"capture-{capture.port}.json")
            except OSError as exc:  # a full disk: the capture itself is what counts; say so, go on
                capture.problems.append(f"capture-{capture.port}.json could not be written: {exc.strerror}")
        return dict(self._captures)

    def down(self, log_fn: Callable[[str], None] | None = None) -> dict[str, Capture]:
        """Stops the captures, then removes everything the bench created, newest first."""
        if self.state is None:
            return dict(self._captures)
        say = log_fn or log.warning
        try:
            if self.topology is not None and self.state.data.get("capture_info"):
                self.stop_capture()
        finally:
            failures = self._teardown(say)
        if failures:
            raise BenchError(
                f"bench {self.name} ({self.state.run_id}) left things behind: " + "; ".join(failures)
            )
        return dict(self._captures)

    # --- internals ----------------------------------------------------------------------------------

    def _record(self, record: undo.Record) -> None:
        """Called by the builder right after it created something: the state file knows it at once."""
        state = self._state()
        if record["kind"] == "sysctl" and record["netns"] is None:
            for other in runtime.read_states():
                if other.run_id == state.run_id or other.stale():
                    continue
                for theirs in other.data["undo"]:
                    if (
                        theirs["kind"] == "sysctl"
                        and theirs["netns"] is None
                        and theirs["key"] == record["key"]
                    ):
                        record = {**record, "old": theirs["old"]}  # the host's value before any bench
        state.data["undo"].append(record)
        state.save()

    def _teardown(self, say: Callable[[str], None]) -> list[str]:
        state = self._state()
        records = state.data["undo"]
        for record in records:  # all processes stop in parallel; undo_all then waits for each
            if record["kind"] == "process":
                proc = ProcessId(record["pid"], record["start"])
                if proc.alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGTERM)
        with runtime.host_lock():
            failures = undo.undo_all(records, say, shared_host_sysctls(exclude=state.run_id))
            if not failures:
                state.path.unlink(missing_ok=True)
            else:
                state.data["undo_failures"] = failures
                state.save()
        return failures

    def _capture_base(self, port: str) -> Path:
        suffix = ".pcapng" if self.definition.capture.format == "pcapng" else ".pcap"
        return self.workdir / f"{port}{suffix}"

    def _snapshot(self, port: str) -> Capture:
        capture = self._finish(
            port, ["the capture is still running: files may grow and drops are not counted yet"]
        )
        capture.ended = None
        capture.drops = []
        return capture

    def _finish(self, port_name: str, problems: list[str], link_now: int | None = None) -> Capture:
        port = self.port(port_name)
        spec = self.definition.capture
        info = self._state().data.get("capture_info", {}).get(port_name, {})
        base = self._capture_base(port_name)
        log_text = _read(self.workdir / f"capture-{port_name}.log")
        drops = recorder.parse_drops(spec.tool, port.interface, log_text)
        link_then = info.get("link_packets")
        if link_now is not None and link_then is not None:
            drops = dataclasses.replace(drops, link_packets=link_now - int(link_then))
        if not drops.counted:
            problems.append(
                f"{spec.tool} on {port.interface} printed no drop statistics: completeness unknown"
            )
        if drops.missed:
            problems.append(
                f"{port.interface} counted {drops.link_packets} frames while {spec.tool} captured "
                f"{drops.captured}: {drops.missed} are missing from the files"
            )
        paths = recorder.capture_files(base)
        problems += recorder.cap_problems(spec, port_name, paths, log_text)
        files = [file_digest(path) for path in paths]
        if not files:
            problems.append(f"no capture file was written for port {port_name} ({base})")
        lease = self._lease_of(port)
        markers = load_timeline(self.timeline_path) if self.timeline_path.exists() else []
        return Capture(
            files=files,
            interface=port.interface,
            port=port_name,
            format=spec.format,
            tool=spec.tool,
            started=float(info.get("started", 0.0)),
            ended=time.time(),
            handset_mac=lease.mac if lease else port.handset_mac,
            handset_ip=lease.ip if lease else None,
            markers=markers,
            drops=[drops],
            timeline=self.timeline_path,
            problems=problems,
        )

    def _lease_of(self, port: Port) -> Lease | None:
        leases = self.leases()
        if port.handset_mac:
            return next((lease for lease in reversed(leases) if lease.mac == port.handset_mac), None)
        on_bridge = [lease for lease in leases if lease.interface == port.bridge]
        return on_bridge[-1] if len({lease.mac for lease in on_bridge}) == 1 else None

    def _state(self) -> StateFile:
        if self.state is None:
            raise BenchError(f"bench {self.name} is not up")
        return self.state

    def _topology(self) -> Topology:
        if self.topology is None:
            raise BenchError(f"bench {self.name} is not up")
        return self.topology


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
