"""The steps that bring a bench up, each recorded (``undo``) the moment its object exists.

Order matters: namespaces and links, then the services (sinks, resolver,
dnsmasq), then the rules, then the capture, and only then the handset's link
comes up, so that the capture holds the handset's very first frame and every
service is serving before it.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute, NetlinkError

from phonehome.bench import (
    certs,
    dnsmasq,
    netops,
    nft,
    privilege,
    recorder,
    resolver_service,
    runtime,
    sinks,
    tls_service,
    undo,
    upstream,
)
from phonehome.bench.definition import BenchDef
from phonehome.bench.netops import BenchError, poll
from phonehome.bench.ports import port_kind
from phonehome.bench.runtime import ProcessId
from phonehome.bench.topology import Port, Topology

START_TIMEOUT_S = 10.0
T = TypeVar("T")
HOST_RESOLV_CONF = Path("/etc/resolv.conf")
LINK_LOCAL = "fe80::/10"


class Builder:
    def __init__(
        self, defn: BenchDef, topo: Topology, workdir: Path, record: Callable[[undo.Record], None]
    ) -> None:
        self.defn = defn
        self.topo = topo
        self.workdir = workdir
        self.record = record
        self.captures: dict[str, runtime.CaptureStart] = {}
        """Per port: when its capture started and the interface's frame count then."""
        self.user = privilege.service_user()
        self.capture_tool: recorder.CaptureTool | None = None
        self.capture_dir = workdir / "capture"
        self.step = "the router namespace"
        """What is being built now (named when the kernel refuses it)."""

    def build(self) -> None:
        """Builds every part; a step the kernel refuses (pyroute2's NetlinkError) becomes a BenchError."""
        self.capture_tool = recorder.choose_tool(self.defn.capture)
        os.chmod(self.workdir, 0o700)  # the results hold identifiers: their owner's only
        try:
            self._build()
        except NetlinkError as exc:
            raise BenchError(
                f"{self.step}: the kernel refused it ({exc.args[-1]}, errno {exc.code}); check what the "
                "definition names for it (interfaces, MACs), and phonehome doctor for the host"
            ) from exc

    def _build(self) -> None:
        router = self.topo.router_ns
        netops.create_netns(router)
        self.record(undo.netns_record(router))
        self._router_sysctls()
        with IPRoute(netns=router) as ipr:
            for lan in self.topo.lans:
                self.step = f"bridge {lan.bridge}"
                self._bridge(ipr, lan)
        for port in self.topo.ports:
            self.step = f"port {port.name}"
            self._port(port)
        if self.defn.mode == "nat":
            self.step = "the nat uplink"
            self._uplink()
        self.step = "the services"
        starting = [("the resolver", self._resolver(), self.workdir / "resolver.log", resolver_service.READY)]
        sink_port = tls_port = 0
        if self.defn.mode == "sinkhole":  # serving (unprivileged) before any handset can send
            sink_port, sinks_proc = self._sinks()
            starting.append(("the sinks", sinks_proc, self.workdir / "sinks.log", sinks.READY))
        if self.defn.tls != "alert":
            tls_port, tls_proc = self._tls_service()
            log = self.workdir / tls_service.LOG_NAME
            starting.append(("the TLS service", tls_proc, log, tls_service.READY))
        self._rules(sink_port, sink_port, tls_port)
        self._guard()
        self._dnsmasq()
        for what, proc, log, ready in starting:
            self._wait_started(what, proc, _says(log, ready), log)
        privilege.service_folder(self.capture_dir, self.user)
        for port in self.topo.ports:
            self._capture(port)
        for port in self.topo.ports:
            self._handset_link_up(port)

    # --- router ------------------------------------------------------------------------------------

    def _router_sysctls(self) -> None:
        router = self.topo.router_ns
        # Bridge netfilter is on by default in a new namespace and silently breaks TPROXY.
        for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"):
            if netops.read_sysctl(router, f"net/bridge/{key}") is not None:
                netops.write_sysctl(router, f"net/bridge/{key}", "0")
        netops.write_sysctl(router, "net/ipv4/ip_forward", "1" if self.defn.mode == "nat" else "0")
        if self.defn.ipv6 == "block":
            # No IPv6 address of the router's own: the handset finds no router, and what it tries is dropped.
            netops.write_sysctl(router, "net/ipv6/conf/default/disable_ipv6", "1")

    def _bridge(self, ipr: IPRoute, lan: dnsmasq.LanPlan) -> None:
        ipr.link("add", ifname=lan.bridge, kind="bridge", br_stp_state=0, br_forward_delay=0)
        self.record(undo.link_record(self.topo.router_ns, lan.bridge))
        index = poll(f"bridge {lan.bridge}", lambda: netops.link_index(ipr, lan.bridge))
        prefix = ipaddress.ip_network(f"{lan.router}/{lan.netmask}", strict=False).prefixlen
        ipr.addr("add", index=index, address=lan.router, prefixlen=prefix)
        if lan.ipv6_prefix:
            net = ipaddress.ip_network(lan.ipv6_prefix)
            ipr.addr("add", index=index, address=str(net.network_address + 1), prefixlen=net.prefixlen)
        ipr.link("set", index=index, state="up")

    def _port(self, port: Port) -> None:
        """The port's kind builds it (`phonehome.bench.ports`); a kind not registered is an error."""
        port_kind(port.kind)().build(self, port)

    def _handset_link_up(self, port: Port) -> None:
        port_kind(port.kind)().link_up(self, port)

    def _uplink(self) -> None:
        """nat: a veth from the router to the host, masqueraded out of the named host interface."""
        nat, uplink_host = _need(self.defn.nat, "nat"), _need(self.topo.uplink_host, "uplink")
        transfer_net, host_table = _need(self.topo.transfer, "transfer"), _need(self.topo.host_table, "table")
        router, host_if = self.topo.router_ns, nat.interface
        transfer = ipaddress.ip_network(transfer_net)
        host_ip, router_ip = str(transfer.network_address + 1), str(transfer.network_address + 2)
        with IPRoute() as host:
            if netops.link_index(host, host_if) is None:
                raise BenchError(
                    f"nat: host interface {host_if} does not exist (nat.interface in the definition)"
                )
            host.link(
                "add",
                ifname=uplink_host,
                kind="veth",
                peer={"ifname": self.topo.uplink_router, "net_ns_fd": router},
            )
            self.record(undo.link_record(None, uplink_host))
            index = poll("the uplink", lambda: netops.link_index(host, uplink_host))
            host.addr("add", index=index, address=host_ip, prefixlen=transfer.prefixlen)
            host.link("set", index=index, state="up")
        with IPRoute(netns=router) as ipr:
            index = netops.wait_link(router, self.topo.uplink_router)
            ipr.addr("add", index=index, address=router_ip, prefixlen=transfer.prefixlen)
            ipr.link("set", index=index, state="up")
            ipr.route("add", dst="0.0.0.0/0", gateway=host_ip)
        for ifname in (uplink_host, host_if):
            key = f"net/ipv4/conf/{ifname}/forwarding"
            self.record(undo.sysctl_record(None, key, netops.read_sysctl(None, key)))
            netops.write_sysctl(None, key, "1")
        netops.nft_apply(None, nft.host_ruleset(host_table, uplink_host, host_if, str(transfer)))
        self.record(undo.nft_record(None, "inet", host_table))

    def _sinks(self) -> tuple[int, subprocess.Popen[bytes]]:
        router = self.topo.router_ns
        with netops.inside(router):
            socks = sinks.open_sockets(ipv6=self.defn.ipv6 == "offer")
        with IPRoute(netns=router) as ipr:
            lo = netops.link_index(ipr, "lo")
            ipr.rule("add", fwmark=nft.TPROXY_MARK, table=nft.TPROXY_TABLE)
            ipr.route("add", dst="0.0.0.0/0", type="local", table=nft.TPROXY_TABLE, oif=lo, scope=254)
            if self.defn.ipv6 == "offer":
                ipr.rule("add", family=10, fwmark=nft.TPROXY_MARK, table=nft.TPROXY_TABLE)
                ipr.route(
                    "add", dst="::/0", family=10, type="local", table=nft.TPROXY_TABLE, oif=lo, scope=254
                )
        fds = tuple(s.fileno() for s in socks)
        port: int = socks[0].getsockname()[1]
        argv = [sys.executable, "-m", "phonehome.bench.sinks"]
        argv += [arg for fd in fds for arg in ("--fd", str(fd))]
        argv += ["--out", str(privilege.private_file(self.workdir / "sinks.jsonl"))]
        argv += sinks.sink_args(self.defn, self.workdir)
        try:
            proc = netops.spawn(router, argv, self.workdir / "sinks.log", pass_fds=fds)
        finally:
            for sock in socks:
                sock.close()
        self._record_process("sinks", proc.pid)
        return port, proc

    def _tls_service(self) -> tuple[int, subprocess.Popen[bytes]]:
        """mitmproxy (``tls_service``) on transparent TCP sockets bound here, as root, and handed over."""
        python = tls_service.interpreter()
        if python is None:
            raise BenchError(
                f"`tls: {self.defn.tls}` needs mitmproxy: run ./bootstrap.sh (it makes {tls_service.VENV}), or "
                f"point {tls_service.INTERPRETER_ENV} at a Python that has phonehome[tls] installed"
            )
        ca_dir = Path(self.defn.tls_ca) if self.defn.tls_ca else self.workdir / "tls-ca"
        certs.lab_authority(ca_dir)  # made here, as root, so the service only reads it
        with netops.inside(self.topo.router_ns):
            socks = sinks.open_tcp(ipv6=self.defn.ipv6 == "offer")
        fds = tuple(s.fileno() for s in socks)
        port: int = socks[0].getsockname()[1]
        for name in (tls_service.RECORDS_NAME, tls_service.KEYLOG_NAME):
            privilege.private_file(self.workdir / name)
        argv = [python, "-m", "phonehome.bench.tls_service"]
        argv += [arg for fd in fds for arg in ("--fd", str(fd))]
        argv += tls_service.service_args(self.defn, self.workdir, ca_dir)
        try:
            proc = netops.spawn(
                self.topo.router_ns,
                argv,
                self.workdir / tls_service.LOG_NAME,
                pass_fds=fds,
                file_limit_mb=max(self.defn.disk.logs_mb, self.defn.disk.transcripts_mb),
            )
        finally:
            for sock in socks:
                sock.close()
        self._record_process("tls", proc.pid)
        return port, proc

    def _resolver(self) -> subprocess.Popen[bytes]:
        """The bench's DNS: port 53 bound here, as root, and handed to a process that drops root."""
        ipv6 = self.defn.ipv6 == "offer"
        with netops.inside(self.topo.router_ns):
            socks = resolver_service.open_sockets(ipv6)
        fds = tuple(s.fileno() for s in socks)
        spec = self.defn.resolver
        argv = [sys.executable, "-m", "phonehome.bench.resolver_service", "--mode", self.defn.mode]
        argv += [arg for fd in fds for arg in ("--fd", str(fd))]
        argv += ["--log", str(privilege.private_file(self.workdir / "resolver.jsonl"))]
        argv += ["--pool4", spec.pool_ipv4, "--ttl", str(spec.ttl), "--user", self.user.name]
        if ipv6:
            argv += ["--pool6", spec.pool_ipv6]
        for lan in self.topo.lans:
            argv += ["--client", str(ipaddress.ip_network(f"{lan.router}/{lan.netmask}", strict=False))]
            if lan.ipv6_prefix:
                argv += ["--client", lan.ipv6_prefix]
        if ipv6:
            argv += ["--client", LINK_LOCAL]
        if self.defn.mode == "nat":
            for server in self._upstream_resolvers():
                argv += ["--upstream", server]
        try:
            proc = netops.spawn(
                self.topo.router_ns,
                argv,
                self.workdir / "resolver.log",
                pass_fds=fds,
                file_limit_mb=self.defn.disk.logs_mb,
            )
        finally:
            for sock in socks:
                sock.close()
        self._record_process("resolver", proc.pid)
        return proc

    def _upstream_resolvers(self) -> list[str]:
        """nat: the definition's ``nat.dns``, else the host's own resolvers (which the router can reach)."""
        nat = _need(self.defn.nat, "nat")
        if nat.dns:
            return list(nat.dns)
        servers = upstream.host_resolvers(_read(HOST_RESOLV_CONF))
        if not servers:
            raise BenchError(
                f"nat: {HOST_RESOLV_CONF} names no resolver the router namespace can reach (a loopback "
                "one such as systemd-resolved's 127.0.0.53 is the host's own): set `nat.dns:`"
            )
        return servers

    def _guard(self) -> None:
        guards = tuple(
            nft.PortGuard(p.name, p.interface, p.handset_macs, p.isolated) for p in self.topo.ports
        )
        netops.nft_apply(self.topo.router_ns, nft.guard_ruleset(guards))
        self.record(undo.nft_record(self.topo.router_ns, "bridge", nft.ROUTER_TABLE))

    def _rules(self, tcp_port: int, udp_port: int, tls_port: int = 0) -> None:
        nat = self.defn.nat
        router_plan = nft.RouterPlan(
            lans=tuple(lan.bridge for lan in self.topo.lans),
            mode=self.defn.mode,
            tcp_sink_port=tcp_port,
            udp_sink_port=udp_port,
            tls_port=tls_port,
            block_quic=self.defn.block_quic,
            dot=self.defn.dot,
            ipv6=self.defn.ipv6,
            uplink=self.topo.uplink_router if self.defn.mode == "nat" else None,
            enforce=bool(nat and nat.enforce),
            allow=tuple(nat.allow) if nat else (),
        )
        netops.nft_apply(self.topo.router_ns, nft.router_ruleset(router_plan))
        self.record(undo.nft_record(self.topo.router_ns, "inet", nft.ROUTER_TABLE))

    def _dnsmasq(self) -> None:
        # Opened by dnsmasq as root before it drops to its user; it chowns its log to that user.
        log, leases = self.workdir / "dnsmasq.log", self.workdir / "dnsmasq.leases"
        privilege.private_file(log)
        privilege.private_file(leases)
        argv = dnsmasq.dnsmasq_argv(
            list(self.topo.lans), self.workdir, lease_seconds=self.defn.lease_seconds, user=self.user
        )
        proc = netops.spawn(
            self.topo.router_ns, argv, self.workdir / "dnsmasq.out", file_limit_mb=self.defn.disk.logs_mb
        )
        self._record_process("dnsmasq", proc.pid)
        self._wait_started(
            "dnsmasq", proc, lambda: dnsmasq.started(self.workdir), self.workdir / "dnsmasq.out"
        )
        os.chmod(log, 0o600)  # dnsmasq makes it group-readable when it takes it over

    def _capture(self, port: Port) -> None:
        chosen = _need(self.capture_tool, "capture tool")
        name = f"{port.name}{chosen.suffix}"
        argv = recorder.capture_argv(
            self.defn.capture, chosen, port.interface, name, user=self.user, setpriv=netops.tool("setpriv")
        )
        log = self.workdir / f"capture-{port.name}.log"
        proc = netops.spawn(self.topo.router_ns, argv, log, cwd=self.capture_dir, umask=0o077)
        self._record_process(f"capture:{port.name}", proc.pid)
        ifindex = netops.wait_link(self.topo.router_ns, port.interface)
        self._wait_started(
            f"{chosen.name} on {port.interface}",
            proc,
            lambda: recorder.listening(proc.pid, ifindex),
            log,
        )
        self.captures[port.name] = runtime.CaptureStart(
            time.time(), netops.link_packets(self.topo.router_ns, port.interface)
        )

    def _record_process(self, role: str, pid: int) -> None:
        proc = ProcessId.of(pid)
        if proc is None:
            raise BenchError(f"{role} ended as soon as it started (pid {pid})")
        self.record(undo.process_record(role, proc))

    def _wait_started(
        self, what: str, proc: subprocess.Popen[bytes], check: Callable[[], bool], log: Path
    ) -> None:
        def ready() -> bool:
            if check():
                return True
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                raise BenchError(f"{what} exited at start: {tail.strip()}")
            return False

        poll(f"{what} to start (see {log})", ready, START_TIMEOUT_S)


def _says(log: Path, line: str) -> Callable[[], bool]:
    return lambda: line in _read(log)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _need(value: T | None, what: str) -> T:
    """A field the topology always sets for this kind of port (a bug in ``plan`` otherwise)."""
    if value is None:
        raise BenchError(f"internal: the bench plan lacks {what}")
    return value
