"""What the analyzer benchmarks share: the generated capture, tshark's command, timing a whole process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEADLINE_S = 1800.0
TSHARK_FIELDS = ("dns.qry.name", "tls.handshake.extensions_server_name", "http.host")


@dataclass(frozen=True)
class Measured:
    """One process run to completion: wall and CPU (user + system) seconds, peak RSS in MB."""

    wall: float
    cpu: float
    peak_rss_mb: float


def measure(argv: list[str], stdout: Path | None = None, ok: tuple[int, ...] = (0,)) -> Measured:
    """Runs argv to completion (or the deadline); times and peak RSS of the child from wait4()."""
    with open(stdout or os.devnull, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > DEADLINE_S:
                proc.send_signal(signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"{argv[0]} did not finish within {DEADLINE_S:.0f} s")
            time.sleep(0.005)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {code}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def tshark_or_exit() -> str:
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is not installed: phonehome doctor --install adds it", file=sys.stderr)
        sys.exit(1)
    return tshark


def tshark_fields(tshark: str, capture: Path) -> list[str]:
    """tshark extracting what the analyzer's names come from: DNS query names, TLS SNI, HTTP Host."""
    return [tshark, "-n", "-r", str(capture), "-T", "fields", *[a for f in TSHARK_FIELDS for a in ("-e", f)]]


def analyze_json(capture: Path, output: Path | str = os.devnull) -> list[str]:
    return [
        sys.executable,
        "-m",
        "phonehome.cli",
        "analyze",
        "--format",
        "json",
        "-o",
        str(output),
        str(capture),
    ]


def generated_capture(size: str, capture: Path | None, shape: str = "mixed") -> Path:
    """``capture``, or the generator's capture of ``size`` and ``shape`` (written on first use, git-ignored)."""
    suffix = "" if shape == "mixed" else f"-{shape}"
    path = capture or HERE / "data" / f"handset-{size.upper()}{suffix}.pcapng"
    if not path.exists():
        generator = [
            sys.executable,
            str(HERE / "gen_capture.py"),
            "--size",
            size,
            "--shape",
            shape,
            "-o",
            str(path),
        ]
        subprocess.run(generator, check=True, timeout=DEADLINE_S)
    return path
