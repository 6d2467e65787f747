"""``phonehome virtual start|list|stop``: a detached handset that the real adb server reaches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonehome.virtual.testing import PrivateAdbServer


def phonehome(*args: str, run_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHONEHOME_RUN_DIR=str(run_dir))
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


def test_start_list_connect_and_stop(adb_server: PrivateAdbServer, tmp_path: Path) -> None:
    started = phonehome("virtual", "start", "--profile", "nokia-7-plus-2019", "--name", "cli-test",
                        "--seed", "cli", "--time-scale", "0.1", run_dir=tmp_path)  # fmt: skip
    assert started.returncode == 0, started.stderr
    name, serial = started.stdout.split("\t")[:2]
    assert name == "cli-test"
    try:
        listed = json.loads(phonehome("virtual", "list", "--json", run_dir=tmp_path).stdout)
        assert [(i["name"], i["alive"], i["adb_serial"]) for i in listed] == [("cli-test", True, serial)]
        adb_server.connect(serial)
        model = adb_server.run("-s", serial, "shell", "getprop", "ro.product.model")
        assert model.stdout == "Nokia 7 plus\n"
        again = phonehome(
            "virtual", "start", "--profile", "aosp-clean", "--name", "cli-test", run_dir=tmp_path
        )
        assert again.returncode == 1
        assert "already runs" in again.stderr
    finally:
        adb_server.run("disconnect", serial)
        stopped = phonehome("virtual", "stop", "cli-test", run_dir=tmp_path)
    assert stopped.returncode == 0
    pid = listed[0]["pid"]
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert phonehome("virtual", "list", run_dir=tmp_path).stdout == ""


def test_bad_requests_fail_with_the_reason(tmp_path: Path) -> None:
    unknown = phonehome("virtual", "start", "--profile", "nokia-8", run_dir=tmp_path)
    assert unknown.returncode == 1
    assert "no virtual handset profile 'nokia-8'" in unknown.stderr
    no_ns = phonehome(
        "virtual", "start", "--profile", "aosp-clean", "--netns", "ph-missing-ns", run_dir=tmp_path
    )
    assert no_ns.returncode == 1
    assert "'ph-missing-ns' does not exist" in no_ns.stderr
    assert phonehome("virtual", "stop", "ghost", run_dir=tmp_path).returncode == 1


@pytest.mark.root
def test_started_on_a_bench_port_the_handset_takes_a_lease_and_runs_its_firmware(tmp_path: Path) -> None:
    from phonehome.bench import Bench

    repo = Path(__file__).resolve().parents[3]
    with Bench.from_file(repo / "benches" / "virtual.yaml", workdir=tmp_path / "bench") as bench:
        port = bench.port()
        assert port.netns is not None
        started = phonehome("virtual", "start", "--profile", "nokia-7-plus-2019", "--name", "on-bench",
                            "--netns", port.netns, "--time-scale", "0.0001", run_dir=tmp_path)  # fmt: skip
        assert started.returncode == 0, started.stderr
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                posts = [r for r in bench.sink_records() if any("zzhc.vnet.cn" in h for h in r.http_heads)]
                if posts:
                    break
                time.sleep(0.1)
            assert bench.leases(), "the detached handset took no DHCP lease on the bench port"
            assert posts, "the firmware's self-registration POST never reached the bench's sinks"
        finally:
            assert phonehome("virtual", "stop", "on-bench", run_dir=tmp_path).returncode == 0
