"""phonehome's own adb server: no mDNS listener on the host, and nothing left once stopped, even when
the run that started it was SIGKILLed (the real adb binary from adbutils' wheel, on a free port)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonehome import owned
from phonehome.device import AdbServer, bundled_adb

pytestmark = pytest.mark.skipif(
    bundled_adb() is None, reason="adbutils' wheel ships no adb for this platform"
)
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records and the adb server's home folder of this test's own."""
    monkeypatch.setenv("PHONEHOME_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path


def sockets_of(pid: int) -> list[str]:
    """The TCP and UDP sockets ``pid`` holds, as ``ss`` lists them."""
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    done = subprocess.run(
        ["ss", "-H", "-a", "-n", "-p", "-t", "-u"], capture_output=True, text=True, timeout=10, check=True
    )
    return [line for line in done.stdout.splitlines() if f"pid={pid}," in line]


def wait_for(path: Path, timeout: float = 10.0) -> None:
    """The adb server writes its ``adb.<port>`` file a moment after it answers."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def leftovers(port: int, pid: int, home: Path) -> list[str]:
    found = []
    if owned.process_start(pid) is not None:
        found.append(f"process {pid}")
    found += [str(p) for p in (home / ".android").glob(f"adb.{port}")]
    found += [str(p) for p in owned.owned_dir().glob(f"*{port}*")]
    return found


def test_a_private_server_listens_on_its_port_only_and_not_for_mdns(private_dirs: Path) -> None:
    with AdbServer.private() as server:
        assert server.process is not None
        mine = sockets_of(server.process.pid)
        assert any(f"127.0.0.1:{server.port}" in line for line in mine), mine
        assert not any(":5353" in line for line in mine), mine
        assert server.devices() == []


def test_stopping_it_leaves_no_process_and_no_file(private_dirs: Path) -> None:
    with AdbServer.private() as server:
        assert server.process is not None
        pid, port = server.process.pid, server.port
        wait_for(private_dirs / "home" / ".android" / f"adb.{port}")
        assert leftovers(port, pid, private_dirs / "home") != []
    assert leftovers(port, pid, private_dirs / "home") == []
    assert not server.running()


OWNER = """
import time
from phonehome.device import AdbServer
server = AdbServer.start_private()
print(server.port, server.process.pid, flush=True)
time.sleep(120)
"""


def test_a_sigkilled_owners_server_is_stopped_and_its_files_removed_by_the_cleanup(
    private_dirs: Path,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, cwd=REPO, env=dict(os.environ)
    )
    with owner:
        try:
            assert owner.stdout is not None
            port, pid = (int(x) for x in owner.stdout.readline().split())
            wait_for(private_dirs / "home" / ".android" / f"adb.{port}")
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
    home = private_dirs / "home"
    assert owned.process_start(pid) is not None, "SIGKILL of the owner left its adb server running"
    assert owned.clean() == [f"stopped adb-server-{port} (pid {pid}): its owner is gone"]
    assert leftovers(port, pid, home) == []


def test_a_live_owners_server_is_left_alone_by_the_cleanup(private_dirs: Path) -> None:
    with AdbServer.private() as server:
        assert owned.clean() == []
        assert server.running()


def test_logs_of_stopped_handsets_go_and_those_of_running_ones_stay(tmp_path: Path) -> None:
    folder = tmp_path / "virtual"
    folder.mkdir()
    (folder / "gone.log").write_text("identity IMEI 352099001761481\n")
    (folder / "running.log").write_text("listening\n")
    (folder / "running.json").write_text(f'{{"pid": {os.getpid()}}}')
    with (folder / "starting.log").open("w") as still_open:
        still_open.write("booting\n")
        assert owned.sweep_handset_logs(folder) == [
            f"removed {folder / 'gone.log'} (its handset has stopped)"
        ]
    assert sorted(p.name for p in folder.iterdir()) == ["running.json", "running.log", "starting.log"]


def test_servers_started_at_once_never_draw_one_port(
    private_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs probing at the same moment get the same free port from the kernel; only one could bind
    it, and the other would use (and, at its end, stop) the first one's server."""
    import contextlib
    import socket
    import threading

    from phonehome.device import adb

    real = adb.free_port
    drawn = real()
    together = threading.Barrier(2, timeout=1.0)

    def racing_probe() -> int:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait()  # without the lock both threads probe here at once
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", drawn)) != 0:
                return drawn  # still free: what the kernel hands both of them
        return real()

    monkeypatch.setattr(adb, "free_port", racing_probe)
    started: list[AdbServer] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            started.append(AdbServer.start_private())
        except BaseException as exc:  # the test reports it
            failed.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert failed == []
        assert len({s.port for s in started}) == 2
        assert all(s.process is not None and s.process.poll() is None for s in started)
    finally:
        for server in started:
            server.stop()
