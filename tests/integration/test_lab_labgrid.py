"""The lab rig in a box through labgrid: a real coordinator and exporter on loopback lend the handset.

The handset is the lab rig's (tests/integration/lab_rig.py): started on its own and cabled to this
host. A ``labgrid-exporter`` on this host (the host it is cabled to) exports it as a
``PhonehomeHandset``; a place on a real ``labgrid-coordinator`` matches it; and
``phonehome run --lg-place PLACE`` acquires the place, resolves the handset through labgrid's
RemotePlace and phonehome's driver, runs the compliance suite through reset, first boot, wizard and
verdicts, and releases the place. The errors a lab meets before that (no coordinator, no such place,
a place without a handset, a place someone else holds) are one line each, without root.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from phonehome import exits
from phonehome.report import folder as results
from phonehome.virtual.testing import PrivateAdbServer, free_port
from tests.integration.adb_servers import private_server
from tests.integration.lab_rig import (
    MANIFESTS,
    NOKIA_AUTOREGISTRATION,
    REPO,
    Rig,
    Terminal,
    assert_bench_gone,
    rig_on_a_desk,
    run_at_a_terminal,
    write_definitions,
)

BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 900
UP_TIMEOUT_S = 30.0


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: pip install 'phonehome[labgrid]' (./bootstrap.sh does)")
    return str(path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A labgrid coordinator on a free loopback port (its places.yaml in a folder of its own)."""
    folder = tmp_path_factory.mktemp("labgrid-coordinator")
    address = f"127.0.0.1:{free_port()}"
    with (folder / "coordinator.log").open("wb") as log:
        process = subprocess.Popen(
            [_tool("labgrid-coordinator"), "--listen", address], cwd=folder, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + UP_TIMEOUT_S
        host, port = address.split(":")
        while True:
            assert process.poll() is None, (folder / "coordinator.log").read_text()
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the coordinator did not listen"
                time.sleep(0.2)
        yield address
    finally:
        _stop(process)


def _client(address: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("labgrid-client"), "-x", address, *args],
        env=env or dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@contextmanager
def _place(address: str, matches: list[str]) -> Iterator[str]:
    name = f"phonehome-{secrets.token_hex(3)}"
    assert _client(address, "-p", name, "create").returncode == 0
    try:
        for match in matches:
            done = _client(address, "-p", name, "add-match", match)
            assert done.returncode == 0, done.stderr
        yield name
    finally:
        _client(address, "-p", name, "release", "--kick")
        _client(address, "-p", name, "delete")


@dataclass
class Exported:
    name: str
    group: str

    @property
    def match(self) -> str:
        return f"{self.name}/{self.group}/PhonehomeHandset"


@contextmanager
def _exporter(address: str, folder: Path, handset: dict[str, str]) -> Iterator[Exported]:
    """A labgrid exporter exporting ``handset`` as a PhonehomeHandset, up until its resource is listed."""
    tag = secrets.token_hex(3)
    exported = Exported(f"phonehome-exporter-{tag}", f"phonehome-desk-{tag}")
    config = folder / f"exporter-{tag}.yaml"
    with config.open("w") as out:
        YAML().dump({exported.group: {"PhonehomeHandset": handset}}, out)
    with (folder / f"exporter-{tag}.log").open("wb") as log:
        process = subprocess.Popen(
            [_tool("labgrid-exporter"), "--coordinator", address, "--name", exported.name, "--hostname",
             "127.0.0.1", str(config)],
            cwd=folder, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + UP_TIMEOUT_S
        while exported.group not in _client(address, "resources").stdout:
            assert process.poll() is None, (folder / f"exporter-{tag}.log").read_text()
            assert time.monotonic() < deadline, "the exporter's resource never showed"
            time.sleep(0.3)
        yield exported
    finally:
        _stop(process)


def _lend(
    place: str, address: str, results_dir: Path, env: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "run", "--lg-place", place, "--results", str(results_dir)],
        cwd=REPO, env={**(env or os.environ), "LG_COORDINATOR": address}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, [line for line in done.stderr.splitlines() if line.strip()]


def test_a_coordinator_that_does_not_answer_is_one_line_saying_to_start_it(tmp_path: Path) -> None:
    _tool("labgrid-client")
    address = f"127.0.0.1:{free_port()}"
    status, lines = _lend("desk-1", address, tmp_path / "r")
    assert status == exits.NO_VERDICT
    (line,) = lines
    assert line.startswith("phonehome run: --lg-place desk-1: coordinator: ")
    assert f"labgrid coordinator {address} does not answer" in line
    assert "start labgrid-coordinator" in line
    assert not (tmp_path / "r").exists(), "a results folder for a run that never began"


def test_a_place_the_coordinator_does_not_have_is_one_line_saying_to_create_it(
    coordinator: str, tmp_path: Path
) -> None:
    missing = f"phonehome-none-{secrets.token_hex(3)}"
    status, lines = _lend(missing, coordinator, tmp_path / "r")
    assert status == exits.BAD_INPUT
    (line,) = lines
    assert f"place: no place '{missing}' on labgrid coordinator {coordinator}" in line
    assert f"labgrid-client -p {missing} create" in line


def test_a_place_without_a_handset_resource_is_one_line_saying_to_add_one(
    coordinator: str, tmp_path: Path
) -> None:
    with _place(coordinator, []) as place:
        status, lines = _lend(place, coordinator, tmp_path / "r")
    assert status == exits.BAD_INPUT
    (line,) = lines
    assert f"resource: place {place} has no PhonehomeHandset resource" in line
    assert f"labgrid-client -p {place} add-match" in line


def test_a_place_someone_else_holds_is_never_taken(coordinator: str, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("handsets:\n  - serial: LGTEST0001\n    bench: benches/lab-rig.yaml\n")
    handset = {"serial": "LGTEST0001", "inventory": str(inventory)}
    with (
        _exporter(coordinator, tmp_path, handset) as exported,
        _place(coordinator, [exported.match]) as place,
    ):
        colleague = {**os.environ, "LG_USERNAME": f"colleague-{secrets.token_hex(2)}"}
        taken = _client(coordinator, "-p", place, "acquire", env=colleague)
        assert taken.returncode == 0, taken.stderr
        status, lines = _lend(place, coordinator, tmp_path / "r")
        shown = _client(coordinator, "-p", place, "show").stdout
    assert status == exits.NO_VERDICT
    (line,) = lines
    assert f"acquire: place {place} is acquired by " in line
    assert colleague["LG_USERNAME"] in line
    assert f"labgrid-client -p {place} allow" in line
    assert f"acquired: {socket.gethostname()}/{colleague['LG_USERNAME']}" in shown, "the colleague lost it"


@dataclass
class LentRun:
    rig: Rig
    place: str
    terminal: Terminal
    run_dir: Path
    after: str
    """``labgrid-client show`` of the place once the run ended."""


@pytest.fixture(scope="module")
def lent(coordinator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LentRun]:
    """The Nokia on the desk, exported, matched by a place, and run with ``--lg-place`` (aosp-clean's
    PASS on the lab rig is test_lab_rig.py's; the labgrid path is the same for every build)."""
    folder = tmp_path_factory.mktemp("lab-labgrid")
    adb_servers = private_server(folder / "adb-home")
    adb_server: PrivateAdbServer = next(adb_servers)
    try:
        with rig_on_a_desk("nokia-7-plus-2019", adb_server, folder) as rig:
            write_definitions(rig, folder)
            env = {**rig.env, "LG_COORDINATOR": coordinator}
            handset = {
                "serial": rig.serial, "inventory": str(rig.inventory), "adb_serial": rig.adb_serial,
                "fastboot_serial": rig.fastboot_serial, "port": "desk", "interface": rig.cable,
            }  # fmt: skip
            with (
                _exporter(coordinator, folder, handset) as exported,
                _place(coordinator, [exported.match]) as place,
            ):
                terminal = run_at_a_terminal(
                    [sys.executable, "-m", "phonehome.cli", "run", "--lg-place", place,
                     "--manifest", MANIFESTS[rig.profile], "--scenario-option", "settle=20",
                     "--results", str(folder / "results")],
                    env, RUN_TIMEOUT_S,
                )  # fmt: skip
                after = _client(coordinator, "-p", place, "show").stdout
                (run_dir,) = [p for p in (folder / "results").iterdir() if p.is_dir()]
                assert_bench_gone(rig)
                yield LentRun(rig, place, terminal, run_dir, after)
    finally:
        adb_servers.close()


def _summary(run_dir: Path) -> dict[str, Any]:
    (summary,) = json.loads((run_dir / "summary.json").read_text())
    return dict(summary)


@pytest.mark.root
def test_a_lent_handset_is_reset_by_fastboot_walked_and_judged_as_the_place_describes_it(
    lent: LentRun,
) -> None:
    summary = _summary(lent.run_dir)
    assert summary["reason"] is None, lent.terminal.text[-3000:]
    assert summary["device"] == f"adb:{lent.rig.adb_serial}"
    folder = Path(summary["results"])
    scenario = json.loads((folder / "scenario.json").read_text())
    (reset,) = scenario["reports"]["resets"]
    assert reset["method"] == "fastboot-wipe"
    assert reset["done"] == ["adb reboot bootloader", "fastboot -w", "fastboot reboot"]
    assert reset["bootloader"]["serialno"] == lent.rig.serial
    assert scenario["reports"]["wizard"]["consents"]
    run = json.loads((folder / results.RUN).read_text())
    assert run["bench"] == str(lent.rig.bench)  # the inventory's, which the exporter's resource named
    capture = json.loads((folder / results.CAPTURE).read_text())
    assert capture["interface"] == lent.rig.cable
    assert f"labgrid place {lent.place} (acquired for this run by " in lent.terminal.text
    assert f"labgrid place {lent.place} released" in lent.terminal.text


@pytest.mark.root
def test_the_lent_nokia_fails_with_the_build_gate_flagging_its_self_registration(lent: LentRun) -> None:
    summary = _summary(lent.run_dir)
    assert summary["result"] == "FAIL", lent.terminal.text[-3000:]
    assert lent.terminal.status == exits.FAIL
    evaluation = json.loads((Path(summary["results"]) / results.EVALUATION).read_text())
    judged = {v["assertion"]: v["result"] for v in evaluation["verdicts"]}
    assert judged["no-cleartext-identifiers"] == "FAIL"
    assert judged["build-identity"] == "FAIL"
    assert any(
        NOKIA_AUTOREGISTRATION in f["detail"]
        for f in evaluation["findings"]
        if f["assertion"] == "build-identity"
    )


@pytest.mark.root
def test_the_place_is_free_again_once_the_run_ends(lent: LentRun) -> None:
    assert "acquired: None" in lent.after, lent.after
