"""phonehome doctor on hosts described by a fake PATH, without touching the real one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from phonehome.bench.doctor import TOOLS, Host, doctor

ALL_TOOLS = sorted({name for tool in TOOLS for name in tool.names})


def _make_exe(path: Path, body: str = "exit 0") -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_host(tmp_path: Path) -> Host:
    """A Debian host as root whose PATH is one folder holding every tool but dnsmasq."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ALL_TOOLS:
        if name != "dnsmasq":
            _make_exe(bindir / name)
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    return Host(search_path=str(bindir), euid=0, os_release=release)


def test_missing_dnsmasq_is_named_with_its_package(fake_host: Host) -> None:
    lines: list[str] = []
    status = doctor(host=fake_host, probe_kernel=False, out=lines.append)
    text = "\n".join(lines)
    assert status == 1
    assert "MISSING  dnsmasq" in text
    assert "apt-get install -y dnsmasq-base" in text
    # dnsmasq proper starts a system DHCP/DNS service in the root namespace: never suggest it.
    assert "install -y dnsmasq\n" not in text + "\n"


def test_install_runs_apt_get_for_dnsmasq_base_then_rechecks(fake_host: Host, tmp_path: Path) -> None:
    bindir = Path(fake_host.search_path)
    calls = tmp_path / "apt-calls"
    # A stand-in apt-get that records its arguments and "installs" dnsmasq into the fake PATH.
    _make_exe(
        bindir / "apt-get",
        f'echo "$@" >> {calls}\ncase "$1" in install) printf "#!/bin/sh\\n" > {bindir}/dnsmasq; '
        f"/bin/chmod +x {bindir}/dnsmasq;; esac",
    )
    lines: list[str] = []
    status = doctor(install_missing=True, host=fake_host, probe_kernel=False, out=lines.append)
    assert calls.read_text().split() == ["install", "-y", "-q", "--no-install-recommends", "dnsmasq-base"]
    assert status == 0, "\n".join(lines)
    assert any("ok       dnsmasq" in line for line in lines)


def test_install_refreshes_package_lists_once_when_the_first_attempt_fails(
    fake_host: Host, tmp_path: Path
) -> None:
    bindir = Path(fake_host.search_path)
    calls = tmp_path / "apt-calls"
    _make_exe(
        bindir / "apt-get",
        f'echo "$1" >> {calls}\n[ "$1" = update ] && : > {tmp_path}/updated\n'
        f'[ "$1" = install ] && [ ! -e {tmp_path}/updated ] && exit 100\n'
        f'[ "$1" = install ] && printf "#!/bin/sh\\n" > {bindir}/dnsmasq && /bin/chmod +x {bindir}/dnsmasq\nexit 0',
    )
    status = doctor(install_missing=True, host=fake_host, probe_kernel=False, out=lambda _: None)
    assert calls.read_text().split() == ["install", "update", "install"]
    assert status == 0


def test_install_as_non_root_says_what_to_run(fake_host: Host) -> None:
    fake_host.euid = 1000
    lines: list[str] = []
    assert doctor(install_missing=True, host=fake_host, probe_kernel=False, out=lines.append) == 1
    assert "needs root" in lines[0]
    assert "apt-get install -y dnsmasq-base" in lines[0]


def test_install_refuses_a_non_debian_host(fake_host: Host) -> None:
    fake_host.os_release.write_text("ID=fedora\n")
    lines: list[str] = []
    assert doctor(install_missing=True, host=fake_host, probe_kernel=False, out=lines.append) == 1
    assert "Debian and Ubuntu" in lines[0]


def test_either_capture_tool_is_enough(fake_host: Host) -> None:
    os.remove(Path(fake_host.search_path) / "dumpcap")
    lines: list[str] = []
    doctor(host=fake_host, probe_kernel=False, out=lines.append)
    assert any(line.startswith("  ok       dumpcap") and "tcpdump" in line for line in lines)


def test_unprivileged_host_is_reported(fake_host: Host, tmp_path: Path) -> None:
    status_file = tmp_path / "status"
    status_file.write_text("Name:\tpython\nCapEff:\t0000000000000000\n")
    fake_host.euid = 1000
    fake_host.status_file = status_file
    lines: list[str] = []
    assert doctor(host=fake_host, probe_kernel=False, out=lines.append) == 1
    assert any("MISSING  privileges" in line and "CAP_NET_ADMIN" in line for line in lines)
