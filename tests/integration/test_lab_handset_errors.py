"""A lab's handset that is not there, not authorized, or whose bootloader is locked against the inventory's reset:
one line naming the step and what to do, with the log's path, and the no-verdict exit status. The first two
within seconds and before any bench comes up; the locked bootloader is found by the reset, on the lab rig's bench.

A profile typo and a bench port that does not exist are bad input, found before any bench: tests/unit/test_lab_errors.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.virtual.testing import PrivateAdbServer, free_port
from tests.integration.adb_servers import private_server
from tests.integration.lab_rig import assert_bench_gone, rig_on_a_desk, run_argv, write_definitions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from private_server(tmp_path_factory.mktemp("lab-errors-adb-home"))


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """The lab rig's bench on a host interface that exists (the check before any bench needs one)."""
    present = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    if not present:
        pytest.skip("no host interface besides the loopback")
    path = tmp_path / "lab.yaml"
    path.write_text((REPO / "benches" / "lab-rig.yaml").read_text().replace("phrig0", present[0]))
    return path


def _run(serial: str, bench: Path, results: Path, env: dict[str, str]) -> tuple[int, list[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "run", "--device", f"adb:{serial}", "--bench", str(bench),
         "--results", str(results)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "NO VERDICT" in line]
    return done.returncode, lines, time.monotonic() - started


def test_a_handset_that_is_not_attached_is_one_line_saying_to_plug_it_in(
    adb_server: PrivateAdbServer, bench: Path, tmp_path: Path
) -> None:
    serial = f"127.0.0.1:{free_port()}"
    status, lines, _ = _run(serial, bench, tmp_path / "r", adb_server.env)
    assert status == exits.NO_VERDICT
    (line,) = lines
    assert line.startswith(f"adb:{serial}: NO VERDICT: ")
    assert "connect: not listed by the adb server" in line
    assert "plug it in" in line
    assert line.endswith("pytest.log)")
    assert not list((tmp_path / "r").rglob("bench/*")), "a bench came up for a handset that is not there"


def test_an_unauthorized_handset_is_one_line_saying_to_accept_the_key(
    adb_server: PrivateAdbServer, bench: Path, tmp_path: Path
) -> None:
    env = {**adb_server.env, "PHONEHOME_RUN_DIR": str(tmp_path / "virtual")}
    name = f"lab-errors-{free_port()}"
    started = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "virtual", "start", "--profile", "aosp-clean", "--name", name,
         "--auth", "--time-scale", "0.0001"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    serial = started.stdout.split("\t")[1]
    try:
        status, lines, _ = _run(serial, bench, tmp_path / "r", env)
        assert status == exits.NO_VERDICT
        (line,) = lines
        assert "unauthorized" in line
        assert "accept" in line.lower()
        assert line.endswith("pytest.log)")
    finally:
        subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "virtual", "stop", name],
            cwd=REPO, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        adb_server.run("disconnect", serial)


@pytest.mark.root
def test_a_locked_bootloader_is_one_line_naming_the_reset_and_what_to_do(
    adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    with rig_on_a_desk("aosp-clean", adb_server, tmp_path, "--locked-bootloader") as rig:
        write_definitions(rig, tmp_path)  # reset: fastboot-wipe, as the lab's inventory says
        started = time.monotonic()
        done = subprocess.run(
            run_argv(rig, "manifests/aosp-google-first-boot.yaml", tmp_path / "r"),
            cwd=REPO, env=rig.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        took = time.monotonic() - started
        assert_bench_gone(rig)
    out = done.stdout + done.stderr
    assert done.returncode == exits.NO_VERDICT, out[-3000:]
    (line,) = [line for line in out.splitlines() if "NO VERDICT" in line]
    assert line.startswith(f"adb:{rig.adb_serial}: NO VERDICT: "), line
    assert "reset to first boot (fastboot-wipe)" in line
    assert "the bootloader is locked" in line
    assert "unlock the bootloader" in line
    assert "name a reset the handset allows in the inventory" in line
    assert line.endswith("pytest.log)"), line
    assert took < 120, f"a locked bootloader took {took:.0f} s to report"
