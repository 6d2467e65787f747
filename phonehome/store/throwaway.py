"""A throwaway PostgreSQL server for tests, benchmarks and trying the store: a cluster in a temp folder.

Debian's ``postgresql`` package (``phonehome doctor --install``) ships ``initdb`` and ``pg_ctl`` in
``/usr/lib/postgresql/N/bin``. The cluster lives in a new folder of its own under the system's
temp folder (so the ``postgres`` user can reach it: pytest's own folders are root's only), listens
on a Unix socket there and on no TCP port, and is stopped and removed whatever happens. PostgreSQL
refuses to run as root, so as root every server command drops to the ``postgres`` user (setpriv).

    with throwaway_postgresql() as url:
        Store.open(url)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TIMEOUT_S = 60
USER = "postgres"
SUPERUSER = "phonehome"


class Unavailable(Exception):
    """No PostgreSQL server can be started here (the message says what is missing)."""


def server_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest ``/usr/lib/postgresql/N/bin``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).resolve().parent)):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    if not versions:
        raise Unavailable("no initdb (install Debian's postgresql: phonehome doctor --install)")
    return Path(versions[0]).parent


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def _free_port() -> int:
    """A port number no server here listens on: the socket file's name holds it, TCP is not used."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgresql() -> Iterator[str]:
    """Starts a PostgreSQL cluster of its own; yields its URL; stops it and removes its folder."""
    binaries = server_binaries()
    drop: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(USER)
        except KeyError as exc:
            raise Unavailable(f"no {USER} user to run the server as (PostgreSQL refuses root)") from exc
        setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
        if setpriv is None:
            raise Unavailable("no setpriv to drop to the postgres user (apt-get install util-linux)")
        drop = [setpriv, f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", "--"]
    folder = Path(tempfile.mkdtemp(prefix=f"phonehome-pg-{secrets.token_hex(3)}-"))
    data, log = folder / "data", folder / "server.log"
    port = _free_port()
    started = False
    try:
        if owner is not None:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        _run([*drop, str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
              "--no-locale", "-E", "UTF8", "--no-sync"], "initdb")  # fmt: skip
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = ''\nunix_socket_directories = '{folder}'\nport = {port}\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        started = True
        _run([*drop, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(TIMEOUT_S),
              "start"], "pg_ctl start", log)  # fmt: skip
        yield f"postgresql+psycopg://{SUPERUSER}@/postgres?host={folder}&port={port}"
    finally:
        if started:
            _stop(drop, binaries, data)
        shutil.rmtree(folder, ignore_errors=True)


def _run(argv: list[str], step: str, log: Path | None = None) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{step}: {exc}") from exc
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-400:] if log and log.exists() else ""
        raise Unavailable(
            f"{step} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]} {tail}"
        )


def _stop(drop: list[str], binaries: Path, data: Path) -> None:
    """``pg_ctl stop`` (fast); the postmaster killed if it does not go."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [*drop, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"],
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    pidfile = data / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises once it is gone
            time.sleep(0.05)
