"""A service's files cannot fill the disk: ``spawn(file_limit_mb=...)`` stops its writes, not the service."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from phonehome.bench import netops
from phonehome.bench.tools import find_tool

pytestmark = pytest.mark.skipif(find_tool("prlimit") is None, reason="prlimit (util-linux) is not installed")

CHATTY = """
import sys
try:
    for _ in range(3 * 1024):
        sys.stdout.write("x" * 1023 + "\\n")
    sys.stdout.flush()
except OSError as exc:
    sys.stderr.write(f"stopped: {exc.strerror}\\n")
    sys.exit(3)
"""


def test_a_log_stops_at_its_cap_and_the_writer_is_told_not_killed(tmp_path: Path) -> None:
    log = tmp_path / "chatty.log"
    proc = netops.spawn(None, [sys.executable, "-c", CHATTY], log, file_limit_mb=1)
    assert proc.wait(30) != -signal.SIGXFSZ
    assert log.stat().st_size == 1 << 20
    assert netops.capped_logs(tmp_path, 1) == [
        "chatty.log reached its cap (disk.logs_mb: 1 MB): later lines are missing"
    ]


def test_logs_under_the_cap_are_no_problem(tmp_path: Path) -> None:
    (tmp_path / "quiet.log").write_text("started\n")
    assert netops.capped_logs(tmp_path, 1) == []
