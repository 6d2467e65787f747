"""``Bench``: the handset's whole world, brought up from a definition and removed without a trace.

    with Bench.from_file("benches/virtual.yaml") as bench:
        port = bench.port("wlan")          # port.netns: where the virtual handset lives
        ...                                # the handset takes a lease, talks, is captured
        bench.mark("consent")
    bench.capture                          # the finished Capture; bench.leases(), bench.dns_queries()...

Every namespace, link, nft table, sysctl and process is written to the
bench's state file as it is created (``phonehome.bench.undo``) and removed in
reverse order; another process can bring the same bench down from that file
(``phonehome bench down``), and a bench whose owner died is removed by the
next one to start (``phonehome bench clean``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from phonehome.bench import (
    audit,
    certs,
    hostif,
    netops,
    nft,
    privilege,
    recorder,
    runtime,
    sinks,
    tls_service,
    undo,
)
from phonehome.bench.build import Builder
from phonehome.bench.cleanup import clean_stale, shared_host_sysctls
from phonehome.bench.definition import BenchDef, load_bench
from phonehome.bench.dnsmasq import Lease, lease_of, read_leases
from phonehome.bench.netops import BenchError
from phonehome.bench.records import NetnsCreated, SysctlSet
from phonehome.bench.resolver import DnsLogEntry, read_log
from phonehome.bench.runtime import ProcessId, StateFile
from phonehome.bench.sinks import SinkRecord
from phonehome.bench.topology import Port, Topology, plan
from phonehome.traffic.capture import Capture, CaptureFormat, file_digest
from phonehome.traffic.interception import Interception, read_interception, summary
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
        states = [s for s in runtime.read_states(everywhere=False) if name in (s.run_id, s.name)]
        if not states:
            raise BenchError(f"no running bench is called {name!r} (phonehome bench status lists them)")
        if len(states) > 1:
            ids = ", ".join(s.run_id for s in states)
            raise BenchError(f"several benches are called {name!r}: give the run id ({ids})")
        state = states[0]
        if state.topology is None:
            raise BenchError(f"bench {state.name} ({state.run_id}) is still being planned: try again")
        bench = cls(BenchDef.model_validate(state.definition), workdir=state.workdir)
        bench.detached = state.owner is None
        bench.source = state.source
        bench.state = state
        bench.topology = state.topology
        for port, data in state.captures.items():
            bench._captures[port] = Capture.from_dict(data)
        bench._stopped = state.capture_stopped
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
        return read_leases(self.workdir)

    @property
    def resolver_log(self) -> Path:
        """The bench resolver's JSON Lines record of every DNS message and its answer."""
        return self.workdir / "resolver.jsonl"

    def dns_queries(self) -> list[DnsLogEntry]:
        """Every DNS message the handsets sent the bench's resolver, with its answer, in order."""
        return read_log(self.resolver_log)

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
        """Problems of a running bench (a process that died, a starved port...); empty when all is well."""
        problems = []
        for proc in self._state().processes():
            if self._stopped and proc.role.startswith("capture:"):
                continue  # a capture tool the bench stopped is no problem
            if not proc.process.alive():
                problems.append(f"{proc.role} (pid {proc.pid}) is not running")
        for record in self._state().undo:
            if isinstance(record, NetnsCreated) and not netops.netns_exists(record.name):
                problems.append(f"namespace {record.name} is gone")
        if self._stopped:
            return problems
        problems += audit.resolver_problems(self.resolver_log)
        for port in self.ports.values():
            macs = audit.foreign_macs(self.router_ns, port)
            problems += audit.foreign_problems(port, macs, every_port=True)
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
            self.state = runtime.claim(self.name, owner, self.definition.model_dump(mode="json"))
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
            self.state.topology = self.topology
            self.state.save()
        state = self.state
        if self._workdir is None:
            self._workdir = Path.cwd() / "results" / f"{self.name}-{state.run_id}"
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._workdir.chmod(0o700)  # the results hold identifiers: their owner's only
        state.workdir, state.source = str(self._workdir), self.source
        state.created, state.python = time.time(), sys.executable
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
        state.capture_info = dict(builder.captures)
        tool = builder.capture_tool
        state.capture_tool = runtime.CaptureTool(tool.name, tool.format) if tool else None
        state.save()
        return self

    def stop_capture(self) -> dict[str, Capture]:
        """Ends the capture window and seals each port's files (SHA-256); idempotent.

        In order: what the handsets send from now on reaches nothing (the capture
        still sees it), each capture tool gets the time to hand over what the kernel
        gave it and is stopped (its drop counters read), and then, before anything
        is torn down, every service the bench started is checked: one that is gone
        died during the window, and every capture says so (``audit``).
        """
        if self._stopped:
            return dict(self._captures)
        state = self._state()
        records = list(state.undo)
        tools = {
            r.role.split(":", 1)[1]: r.process for r in state.processes() if r.role.startswith("capture:")
        }
        dead = {port for port, proc in tools.items() if not proc.alive()}
        shared = self._close_window()
        link_counts = {port: netops.link_packets(self.router_ns, self.port(port).interface) for port in tools}
        time.sleep(recorder.SETTLE_S[self._tool_name()])
        for proc in tools.values():
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc in tools.values():
            netops.stop_process(proc)
        shared += audit.dead_services(records) + audit.resolver_problems(self.resolver_log)
        if self.definition.mode == "sinkhole":
            shared += sinks.problems(self.workdir)
        if self.definition.tls != "alert":
            shared += tls_service.problems(self.workdir)
            shared += self._tls_summary()
        shared += netops.capped_logs(self.workdir, self.definition.disk.logs_mb)
        for port, proc in tools.items():
            problems = []
            if port in dead:
                problems.append(
                    f"the capture tool on port {port} (pid {proc.pid}) ended before the bench stopped it; "
                    "the files hold what it wrote until then"
                )
            self._captures[port] = self._finish(port, problems + shared, link_counts[port])
        privilege.reclaim(self.workdir / "capture", privilege.service_user())
        self._stopped = True
        state.capture_stopped = True
        state.captures = {name: cap.to_dict() for name, cap in self._captures.items()}
        state.save()
        for capture in self._captures.values():
            path = self.workdir / f"capture-{capture.port}.json"
            try:
                capture.save(path)
                os.chmod(path, 0o600)
            except OSError as exc:  # a full disk: the capture itself is what counts; say so, go on
                capture.problems.append(f"{path.name} could not be written: {exc.strerror}")
        return dict(self._captures)

    @property
    def lab_ca(self) -> Path | None:
        """The lab CA's certificate (PEM) the TLS service signs with; None in ``tls: alert`` mode. A handset
        must trust it for ``tls: intercept`` (docs/tls.md says how to install it)."""
        if self.definition.tls == "alert":
            return None
        folder = Path(self.definition.tls_ca) if self.definition.tls_ca else self.workdir / "tls-ca"
        return folder / certs.CA_CERT

    def tls_offers(self) -> Interception:
        """What the TLS service offered each TLS connection and what the handset did (empty in alert mode)."""
        return read_interception(self.workdir / tls_service.RECORDS_NAME, self.definition.tls)

    def _tls_summary(self) -> list[str]:
        """Per endpoint what each probe did, and the flows not decrypted, into ``tls-endpoints.json``."""
        path = self.workdir / tls_service.ENDPOINTS_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(summary(self.tls_offers()), out, indent=2, sort_keys=True)
        except OSError as exc:
            return [f"{path.name} could not be written: {exc.strerror}"]
        return []

    def _close_window(self) -> list[str]:
        """Drops everything the handsets send from now on (before any sink, resolver or uplink)."""
        lans = tuple(lan.bridge for lan in self._topology().lans)
        try:
            netops.nft_apply(self.router_ns, nft.closed_ruleset(lans))
        except (BenchError, OSError) as exc:
            return [
                f"the capture window could not be closed (traffic after the capture may have passed): {exc}"
            ]
        self._record(undo.nft_record(self.router_ns, "inet", nft.CLOSED_TABLE))
        return []

    def down(self, log_fn: Callable[[str], None] | None = None) -> dict[str, Capture]:
        """Stops the captures, then removes everything the bench created, newest first."""
        if self.state is None:
            return dict(self._captures)
        say = log_fn or log.warning
        try:
            if self.topology is not None and self.state.capture_info:
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
        if isinstance(record, SysctlSet) and record.netns is None:
            for other in runtime.read_states():
                if other.run_id == state.run_id or other.stale():
                    continue
                for theirs in other.undo:
                    if isinstance(theirs, SysctlSet) and theirs.netns is None and theirs.key == record.key:
                        record = replace(record, old=theirs.old)  # the host's value before any bench
        state.undo.append(record)
        state.save()

    def _teardown(self, say: Callable[[str], None]) -> list[str]:
        state = self._state()
        records = state.undo
        for started in state.processes():  # all processes stop in parallel; undo_all then waits for each
            if started.process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(started.pid, signal.SIGTERM)
        with runtime.host_lock():
            failures = undo.undo_all(records, say, shared_host_sysctls(exclude=state.run_id))
            if not failures:
                state.path.unlink(missing_ok=True)
            else:
                state.undo_failures = failures
                state.save()
        return failures

    def _tool_name(self) -> str:
        chosen = self._state().capture_tool
        return chosen.name if chosen else self.definition.capture.tool

    def _format(self) -> CaptureFormat:
        chosen = self._state().capture_tool
        fmt = (chosen.format if chosen else None) or self.definition.capture.format or "pcapng"
        return "pcap" if fmt == "pcap" else "pcapng"

    def _capture_base(self, port: str) -> Path:
        return self.workdir / "capture" / f"{port}.{self._format()}"

    def _snapshot(self, port: str) -> Capture:
        capture = self._finish(
            port, ["the capture is still running: files may grow and drops are not counted yet"]
        )
        capture.ended = None
        capture.drops = []
        return capture

    def _finish(self, port_name: str, problems: list[str], link_now: int | None = None) -> Capture:
        port = self.port(port_name)
        tool = self._tool_name()
        info = self._state().capture_info.get(port_name)
        base = self._capture_base(port_name)
        log_text = _read(self.workdir / f"capture-{port_name}.log")
        link_then = info.link_packets if info else None
        link = None if link_now is None or link_then is None else link_now - int(link_then)
        drops, lost = recorder.tool_drops(tool, port.interface, log_text, link)
        problems += lost
        paths = recorder.capture_files(base)
        problems += recorder.cap_problems(self.definition.capture, port_name, paths, log_text)
        files = [file_digest(path) for path in paths]
        if not files:
            problems.append(f"no capture file was written for port {port_name} ({base})")
        problems += audit.foreign_problems(port, audit.foreign_macs(self.router_ns, port))
        handset_macs = audit.guard_handset_macs(self.router_ns, port)
        lease = lease_of(self.leases(), port.bridge, handset_macs)
        markers = load_timeline(self.timeline_path) if self.timeline_path.exists() else []
        addresses, macs, subnets = audit.router_facts(self.router_ns, port)
        return Capture(
            files=files,
            interface=port.interface,
            port=port_name,
            format=self._format(),
            tool=tool,
            started=info.started if info else 0.0,
            ended=time.time(),
            handset_mac=lease.mac if lease else (handset_macs[0] if len(handset_macs) == 1 else None),
            handset_ip=lease.ip if lease else None,
            markers=markers,
            drops=[drops],
            timeline=self.timeline_path,
            problems=list(dict.fromkeys(problems)),
            router_addresses=addresses,
            router_macs=macs,
            subnets=subnets,
            resolver_log=self.resolver_log,
            isolated=port.isolated,
            tls=self.definition.tls,
            tls_records=self.workdir / tls_service.RECORDS_NAME if self.definition.tls != "alert" else None,
            tls_keylog=self.workdir / tls_service.KEYLOG_NAME if self.definition.tls != "alert" else None,
        )

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
