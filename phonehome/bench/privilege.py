"""Least privilege for the bench's services: who they run as, and the files they may write.

Everything that touches the handset's traffic (the resolver, the sinks, dnsmasq,
the capture tool) runs as ``nobody`` with no capability left once it is
serving. What stays root, and why:

* the bench itself: it creates namespaces, links, nft tables and sysctls;
* ``ip netns exec``: entering a namespace needs CAP_SYS_ADMIN, for an instant;
* the resolver and the sinks (Python) start as root only to take the sockets the
  bench bound for them (port 53, transparent sockets) and open their logs, and
  become ``nobody`` before they read a byte of traffic (``drop_privileges``);
* dnsmasq keeps CAP_NET_ADMIN and CAP_NET_RAW as ``nobody`` (it drops the rest
  itself with ``--user``): DHCP answers a client that has no address yet;
* dumpcap has no ``-Z``: it runs as ``nobody`` under ``setpriv`` with
  CAP_NET_RAW only (to open its packet socket), and gives that up itself once
  the socket is open; tcpdump starts as root bounded to CAP_NET_RAW, CAP_SETUID,
  CAP_SETGID, CAP_DAC_OVERRIDE and CAP_CHOWN (it creates its first file before it
  switches, in a folder root does not own, and hands it to ``nobody``) and
  switches to ``nobody`` with ``-Z``, keeping nothing.

Files a service writes after dropping root live in a folder it owns (mode 0700)
and are opened relative to its working directory, so the bench's own 0700
folder never has to open up; results are mode 0600.
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "nobody"
NOBODY_ID = 65534
"""``nobody``'s uid and gid on Linux when the passwd file lacks it (a minimal container)."""
PR_SET_NO_NEW_PRIVS = 38


@dataclass(frozen=True, slots=True)
class ServiceUser:
    """The unprivileged account a service switches to."""

    name: str
    uid: int
    gid: int
    group: str


def service_user(name: str = SERVICE_USER) -> ServiceUser:
    """The account and its primary group (``nogroup`` on Debian, ``nobody`` elsewhere)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return ServiceUser(str(NOBODY_ID), NOBODY_ID, NOBODY_ID, str(NOBODY_ID))
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return ServiceUser(name, entry.pw_uid, entry.pw_gid, group)


def drop_privileges(user: ServiceUser) -> None:
    """Switches this process to ``user`` for good: no groups, no capabilities, no way back.

    Call before starting threads and after opening every file and socket the
    process needs as root. Leaving uid 0 for good clears every capability
    (capabilities(7), "Effect of user ID changes"); no_new_privs keeps a
    setuid binary from giving any back.
    """
    if os.getuid() != 0:
        return  # already unprivileged (a test running the service directly)
    os.setgroups([])
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if os.getuid() == 0 or os.geteuid() == 0:
        raise OSError("the service is still root after dropping privileges")


def setpriv_argv(setpriv: str, user: ServiceUser | None, caps: tuple[str, ...], argv: list[str]) -> list[str]:
    """``argv`` run under ``setpriv``: as ``user`` (None: stay root), with only ``caps`` in any set.

    A capability survives the change of user only as an ambient one
    (capabilities(7)); the bounding set keeps even a setuid binary from
    regaining anything else.
    """
    wanted = ",".join(f"+{cap}" for cap in caps)
    limit = "-all" + ("," + wanted if wanted else "")
    out = [setpriv, f"--inh-caps={limit}", f"--bounding-set={limit}", "--no-new-privs"]
    if user is not None:
        out[1:1] = [f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups"]
        if caps:
            out.insert(-1, f"--ambient-caps={wanted}")
    return [*out, "--", *argv]


def private_file(path: Path) -> Path:
    """Creates (or truncates) ``path`` as an empty root-owned file of mode 0600 and returns it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def service_folder(path: Path, user: ServiceUser) -> Path:
    """A folder of mode 0700 that only ``user`` (and root) may enter: where a service writes."""
    path.mkdir(mode=0o700, exist_ok=True)
    os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)
    return path


def reclaim(folder: Path, user: ServiceUser) -> None:
    """Gives a service's folder and the files it wrote back to root (0700/0600) once it has stopped.

    Only regular files that ``user`` owns with a single link are touched, through
    descriptors opened without following links: a service cannot make the bench
    change a file elsewhere by leaving a symlink or hard link in its folder.
    """
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_uid == user.uid and info.st_nlink == 1:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    try:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
