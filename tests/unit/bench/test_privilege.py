"""Who the bench's services run as, with which capabilities, and the files they leave behind."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from phonehome.bench.privilege import (
    NOBODY_ID,
    ServiceUser,
    drop_privileges,
    private_file,
    reclaim,
    service_folder,
    service_user,
    setpriv_argv,
)
from phonehome.bench.upstream import host_resolvers

NOBODY = ServiceUser("nobody", 65534, 65534, "nogroup")


def test_the_service_user_is_nobody_with_its_own_group() -> None:
    user = service_user()
    assert (user.name, user.uid) == ("nobody", pwd.getpwnam("nobody").pw_uid)
    assert user.group


def test_a_host_without_the_account_falls_back_to_the_kernels_nobody_id() -> None:
    user = service_user("no-such-user-here")
    assert (user.uid, user.gid) == (NOBODY_ID, NOBODY_ID)


def test_setpriv_switches_user_and_keeps_only_the_named_capabilities() -> None:
    argv = setpriv_argv("/usr/bin/setpriv", NOBODY, ("net_raw",), ["/usr/bin/dumpcap", "-i", "x"])
    assert argv[-4:] == ["--", "/usr/bin/dumpcap", "-i", "x"]
    head = argv[: argv.index("--")]
    assert {
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+net_raw",
        "--ambient-caps=+net_raw",
        "--bounding-set=-all,+net_raw",
        "--no-new-privs",
    } == set(head[1:])


def test_setpriv_staying_root_only_bounds_the_capabilities() -> None:
    argv = setpriv_argv("/s", None, ("net_raw", "setuid"), ["tcpdump"])
    assert argv == ["/s", "--inh-caps=-all,+net_raw,+setuid", "--bounding-set=-all,+net_raw,+setuid",
                    "--no-new-privs", "--", "tcpdump"]  # fmt: skip


def test_a_private_file_is_mode_0600(tmp_path: Path) -> None:
    path = private_file(tmp_path / "resolver.jsonl")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes() == b""


def test_the_hosts_loopback_and_link_local_resolvers_are_not_upstreams() -> None:
    conf = (
        "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver ::1\n"
    )
    conf += "nameserver 2001:db8::53\nnameserver bogus\nsearch example\n"
    assert host_resolvers(conf) == ["192.0.2.53", "2001:db8::53"]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


@needs_root
def test_reclaim_gives_a_services_files_back_to_root_and_touches_nothing_else(tmp_path: Path) -> None:
    folder = service_folder(tmp_path / "capture", NOBODY)
    assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (NOBODY.uid, 0o700)
    written = folder / "wlan.pcapng"
    written.write_bytes(b"x")
    os.chown(written, NOBODY.uid, NOBODY.gid)
    os.chmod(written, 0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not the service's")
    os.chown(elsewhere, NOBODY.uid, NOBODY.gid)
    os.chmod(elsewhere, 0o644)
    (folder / "link").symlink_to(elsewhere)
    os.link(elsewhere, folder / "hardlink")
    reclaim(folder, NOBODY)
    assert (written.stat().st_uid, written.stat().st_mode & 0o777) == (0, 0o600)
    assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (0, 0o700)
    assert (elsewhere.stat().st_uid, elsewhere.stat().st_mode & 0o777) == (NOBODY.uid, 0o644)


@needs_root
def test_dropping_privileges_leaves_no_capability_and_no_way_back() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops; the test process stays root
        os.close(read)
        try:
            drop_privileges(service_user())
            status = Path("/proc/self/status").read_text()
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            try:
                os.setuid(0)
                back = "regained root"
            except PermissionError:
                back = "no way back"
            os.write(
                write,
                f"{fields['Uid'].split()[0]} {fields['CapEff'].strip()} {fields['NoNewPrivs'].strip()} {back}".encode(),
            )
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        said = fh.read()
    os.waitpid(pid, 0)
    assert said == f"{pwd.getpwnam('nobody').pw_uid} 0000000000000000 1 no way back"
