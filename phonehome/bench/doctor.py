"""``phonehome doctor``: what this host lacks to run a bench, and how to get it.

Each check names the missing piece and the exact command that installs it;
``--install`` runs those commands itself as root on Debian or Ubuntu, so the
README's commands need nothing done by hand on a fresh machine.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phonehome.bench.tools import default_search_path, find_tool

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
APT_TIMEOUT_S = 900


@dataclass(frozen=True)
class Tool:
    """A host program the bench runs, and the Debian package that ships it."""

    names: tuple[str, ...]  # any one of these will do
    package: str
    why: str
    required: bool = True


TOOLS: tuple[Tool, ...] = (
    Tool(("ip",), "iproute2", "namespaces and links from the shell (ip netns exec)"),
    # dnsmasq-base, not dnsmasq: the latter starts a system DHCP/DNS service in the root namespace.
    Tool(("dnsmasq",), "dnsmasq-base", "DHCP and DNS for the handset"),
    Tool(("nft",), "nftables", "redirection to the sinks, NAT and isolation rules"),
    Tool(("setpriv",), "util-linux", "capture tools run unprivileged with only the capabilities they need"),
    Tool(
        ("prlimit",), "util-linux", "caps on what a capture and the services may write (disk use is bounded)"
    ),
    Tool(("dumpcap", "tcpdump"), "tcpdump", "lossless packet capture on bench ports"),
    Tool(("busybox",), "busybox", "udhcpc, the DHCP client of the virtual handset"),
    Tool(("tshark",), "tshark", "benchmarks compare the analyzer with it", required=False),
    Tool(("iperf3",), "iperf3", "capture benchmarks load a bench port at line rate", required=False),
    # Debian's adb 29 (/usr/lib/android-sdk/platform-tools/adb): the virtual handset's tests also run
    # against it (its push/pull use STA2/LST2). Once installed it is first on PATH, which adbutils
    # prefers over its bundled adb: pin ADBUTILS_ADB_PATH where the release matters.
    Tool(("adb",), "adb", "virtual handset tests also run against Debian's adb 29", required=False),
    Tool(
        ("fastboot",),
        "fastboot",
        "resets and flashes handsets (fastboot -w, fastboot update); the virtual handset speaks it over TCP",
        required=False,
    ),
    Tool(
        ("hostapd",),
        "hostapd",
        "a bench's Wi-Fi access point on a USB Wi-Fi adapter (hostapd ports)",
        required=False,
    ),
    # The HTML report is checked in a real browser: Debian's headless Chromium driven over chromedriver.
    Tool(("chromium",), "chromium", "tests open the HTML report in headless Chromium", required=False),
    Tool(("chromedriver",), "chromium-driver", "tests drive Chromium over WebDriver", required=False),
    # The results store's tests start a throwaway PostgreSQL server of their own (initdb, pg_ctl: Debian
    # keeps them in /usr/lib/postgresql/N/bin; pg_ctlcluster, from the same install, is on PATH).
    Tool(("pg_ctlcluster", "pg_ctl"), "postgresql", "store tests run a throwaway PostgreSQL", required=False),
)


@dataclass(frozen=True)
class Check:
    """The result of one check, printed as one line."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None  # the exact command that mends it
    package: str | None = None  # Debian package that --install would add
    required: bool = True

    def line(self) -> str:
        status = "ok" if self.ok else ("MISSING" if self.required else "optional")
        text = f"  {status:<8} {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n           fix: {self.fix}"
        return text


@dataclass
class Host:
    """What the checks look at; tests replace it to describe another machine."""

    search_path: str = field(default_factory=default_search_path)
    euid: int = field(default_factory=os.geteuid)
    status_file: Path = Path("/proc/self/status")
    os_release: Path = Path("/etc/os-release")

    def effective_caps(self) -> int:
        try:
            for line in self.status_file.read_text().splitlines():
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
        except OSError:
            pass
        return 0

    def is_debian_like(self) -> bool:
        try:
            fields = dict(
                line.split("=", 1) for line in self.os_release.read_text().splitlines() if "=" in line
            )
        except OSError:
            return False
        ids = {fields.get("ID", "").strip('"')} | set(fields.get("ID_LIKE", "").strip('"').split())
        return bool(ids & {"debian", "ubuntu"})


def check_privileges(host: Host) -> Check:
    caps = host.effective_caps()
    have = {
        "CAP_NET_ADMIN": bool(caps >> CAP_NET_ADMIN & 1),
        "CAP_SYS_ADMIN": bool(caps >> CAP_SYS_ADMIN & 1),
    }
    if host.euid == 0 or all(have.values()):
        return Check("privileges", True, "root" if host.euid == 0 else "CAP_NET_ADMIN and CAP_SYS_ADMIN")
    lacking = ", ".join(k for k, v in have.items() if not v)
    return Check(
        "privileges",
        False,
        f"not root and lacking {lacking}: namespaces, nftables and capture need them",
        fix="run as root (sudo -E .venv/bin/phonehome ...)",
    )


def check_tool(tool: Tool, host: Host) -> Check:
    for name in tool.names:
        path = find_tool(name, host.search_path)
        if path:
            return Check(tool.names[0], True, f"{path} ({tool.why})", required=tool.required)
    wanted = " or ".join(tool.names)
    return Check(
        tool.names[0],
        False,
        f"{wanted} not found ({tool.why})",
        fix=f"apt-get install -y {tool.package}",
        package=tool.package,
        required=tool.required,
    )


def check_adb() -> Check:
    """The adb server binary: the one adbutils ships, so every run uses the same release."""
    try:
        import adbutils  # noqa: PLC0415  (heavy import, only when asked)

        path = adbutils.adb_path()
    except Exception as exc:  # adbutils raises bare exceptions when its binary is absent
        return Check(
            "adb", False, f"adbutils has no adb binary: {exc}", fix="pip install --force-reinstall adbutils"
        )
    try:
        out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(
            "adb", False, f"{path} does not run: {exc}", fix="pip install --force-reinstall adbutils"
        )
    version = out.splitlines()[0] if out else "unknown version"
    return Check("adb", True, f"{path} ({version})")


def check_analyzer() -> Check:
    """Whether the analyzer's packet path is the compiled one (setup.py builds it with mypyc)."""
    try:
        from phonehome.traffic import _compiled  # noqa: PLC0415

        compiled = _compiled.compiled()
    except ImportError as exc:  # extensions built from other sources (an edited checkout)
        return Check("analyzer", False, str(exc), fix="./bootstrap.sh")
    if compiled:
        return Check("analyzer", True, f"compiled ({len(_compiled.MODULES)} modules, mypyc)")
    return Check(
        "analyzer",
        False,
        "interpreted: `phonehome analyze` runs 2-3x slower (installed with PHONEHOME_PURE=1?)",
        fix="pip install -e . (needs gcc and python3-dev), or ./bootstrap.sh",
        required=False,
    )


def check_kernel(host: Host) -> Check:
    """Creates a throw-away namespace with a bridge and a veth pair, then removes it."""
    if host.euid != 0 and not Path("/proc/self/ns/net").exists():
        return Check("kernel", False, "no network namespaces (/proc/self/ns/net missing)")
    if not check_privileges(host).ok:
        return Check("kernel", True, "not probed (needs privileges)", required=False)
    from pyroute2 import IPRoute, netns  # noqa: PLC0415

    name = f"phd-{uuid.uuid4().hex[:8]}"
    try:
        netns.create(name)
        with IPRoute(netns=name) as ipr:
            ipr.link("add", ifname="phd-br", kind="bridge")
            ipr.link("add", ifname="phd-a", kind="veth", peer={"ifname": "phd-b"})
        nft = find_tool("nft", host.search_path)
        if nft:
            ruleset = (
                "table inet phd {\n chain p {\n  type nat hook prerouting priority -100;\n"
                "  tcp dport 1 redirect to :2\n }\n}\n"
            )
            subprocess.run(
                [find_tool("ip", host.search_path) or "ip", "netns", "exec", name, nft, "-f", "-"],
                input=ruleset,
                text=True,
                capture_output=True,
                timeout=10,
                check=True,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        return Check("kernel", False, f"namespace probe failed: {detail}".strip())
    finally:
        if name in netns.listnetns():
            netns.remove(name)
    return Check("kernel", True, "network namespaces, bridge, veth" + (", nftables nat" if nft else ""))


def run_checks(host: Host, probe_kernel: bool = True) -> list[Check]:
    checks = [check_privileges(host)]
    if probe_kernel:
        checks.append(check_kernel(host))
    checks += [check_tool(t, host) for t in TOOLS]
    checks.append(check_adb())
    checks.append(check_analyzer())
    return checks


def install(packages: Sequence[str], host: Host, log: Callable[[str], None]) -> bool:
    """Installs Debian packages with apt-get; refreshes the package lists once if needed."""
    apt = find_tool("apt-get", host.search_path)
    if apt is None:
        log("apt-get not found: install by hand: " + " ".join(packages))
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=host.search_path)
    cmd = [apt, "install", "-y", "-q", "--no-install-recommends", *packages]
    for attempt in range(2):
        if attempt:  # a fresh machine often has empty package lists
            subprocess.run(
                [apt, "update", "-q"], env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=False
            )
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
        )
        if done.returncode == 0:
            return True
    log(f"apt-get install failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return False


def doctor(
    *,
    install_missing: bool = False,
    quiet: bool = False,
    host: Host | None = None,
    probe_kernel: bool = True,
    out: Callable[[str], None] = print,
) -> int:
    """Prints the checks; returns 0 when everything required is present, 1 otherwise."""
    host = host or Host()
    checks = run_checks(host, probe_kernel)
    packages = sorted({c.package for c in checks if not c.ok and c.package})
    if install_missing and packages:
        if host.euid != 0:
            out("phonehome doctor --install needs root: " + f"apt-get install -y {' '.join(packages)}")
            return 1
        if not host.is_debian_like():
            out("phonehome doctor --install knows only Debian and Ubuntu; install: " + " ".join(packages))
            return 1
        out(f"phonehome doctor: installing {' '.join(packages)}")
        install(packages, host, out)
        checks = run_checks(host, probe_kernel)
    missing = [c for c in checks if not c.ok and c.required]
    if not quiet or missing:
        for c in checks:
            if not (quiet and c.ok):
                out(c.line())
    if missing:
        fixes = sorted({c.package for c in missing if c.package})
        if fixes:
            out(
                f"to install what is missing: apt-get install -y {' '.join(fixes)}  (or: phonehome doctor --install)"
            )
        return 1
    if not quiet:
        out("phonehome doctor: this host can run a bench")
    return 0
