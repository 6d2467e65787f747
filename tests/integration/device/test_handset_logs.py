"""The run's handset logs through the real adb server: logcat across a reboot, and the bug report pulled."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from phonehome.device.bugreport import BUGREPORT
from phonehome.device.logs import LOGCAT, MARK, line_time
from phonehome.device.run_logs import RunLogs
from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen
from tests.integration.device.conftest import server_of


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_logcat_spans_a_reboot_once_and_the_bug_report_is_a_zip(
    adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    with VirtualHandset("aosp-clean", seed="logs", screen=RecordingScreen(), time_scale=0.05) as virtual:
        virtual.wait_boot_completed(10)
        logs = RunLogs(virtual.adb_serial, server_of(adb_server), tmp_path, bugreport_timeout=60).start()
        try:
            path = tmp_path / LOGCAT
            virtual.state.logs.log("I", "phonehome-it", "before the reboot", pid=2000)
            _wait(lambda: path.exists() and "before the reboot" in path.read_text())
            virtual.reboot("it", wait=True, timeout=30)
            virtual.state.logs.log("I", "phonehome-it", "after the reboot", pid=2000)
            _wait(lambda: "after the reboot" in path.read_text())
            notes = logs.finish()
        finally:
            logs.finish()
            adb_server.run("disconnect", virtual.adb_serial)
    lines = [entry for entry in path.read_text().splitlines() if not entry.startswith(MARK)]
    assert len(lines) == len(set(lines)), "a line was written twice"
    messages = [entry.split(": ", 1)[-1] for entry in lines]
    assert messages.count("init first stage started!") == 2
    assert messages.index("before the reboot") < messages.index("after the reboot")
    assert all(abs((line_time(entry.encode()) or 0) - time.time()) < 120 for entry in lines)
    assert zipfile.is_zipfile(tmp_path / BUGREPORT), notes
    with zipfile.ZipFile(tmp_path / BUGREPORT) as zf:
        assert "after the reboot" in zf.read(zf.read("main_entry.txt").decode()).decode()
    record = logs.record()
    assert record["bugreport"]["taken"] is True  # type: ignore[index]
    assert any(note.startswith("logcat: the handset rebooted between") for note in notes), notes
    assert record["logcat"]["reboots"]  # type: ignore[index]
