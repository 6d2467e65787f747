"""A lab rig in a box: a handset on a desk, cabled to this host, run as a lab runs its phones.

A virtual handset is started on its own (``phonehome virtual start``, in a
namespace of its own, as a phone is its own machine) and cabled by a veth
whose host end is what a lab's USB-Ethernet adapter would be. The lab's bench
definition (``benches/lab-rig.yaml``, its ``interface:`` set to that end)
adopts it as its physical port; the inventory names the handset's serial,
its fastboot serial, its reset method, bench and port. Then
``phonehome run --device adb:SERIAL --bench ... --inventory ...`` runs the
compliance suite through the reset (the real fastboot client), the first
boot, the Setup Wizard, network attach and verdicts, with the operator's
prompts answered at a terminal by this test. Nothing in the run knows the
handset is virtual: it sees an adb serial, a fastboot serial and a cable.
"""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from phonehome.links import virtual_seed
from phonehome.report import folder as results
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.adb_servers import private_server

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 900
PROMPT = re.compile(rb"phonehome asks the operator \(([^)]+)\)")
ENTER = b"Press Enter when done"
NOKIA_AUTOREGISTRATION = "com.qualcomm.qti.autoregistration"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _host_links() -> set[str]:
    done = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, timeout=30, check=True
    )
    return {link["ifname"] for link in json.loads(done.stdout)}


def _links_in(netns: str) -> set[str]:
    done = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True, timeout=30, check=False
    )
    return {link["ifname"] for link in json.loads(done.stdout or "[]")} if done.returncode == 0 else set()


def _namespaces() -> set[str]:
    done = subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True, timeout=30, check=True
    )
    return {ns["name"] for ns in json.loads(done.stdout or "[]")}


@dataclass
class Terminal:
    """What a run printed on its terminal, and the operator acts it prompted for (each answered Enter)."""

    status: int | None
    text: str
    acts: list[str] = field(default_factory=list)


def run_at_a_terminal(argv: list[str], env: dict[str, str], timeout: float) -> Terminal:
    """Runs ``argv`` with a pseudo-terminal as its controlling terminal (the operator's prompts open
    /dev/tty) and presses Enter at every prompt, as a person at the bench does."""
    main, child_end = pty.openpty()
    # setsid --ctty: a session of its own whose controlling terminal is the pty (util-linux).
    process = subprocess.Popen(
        ["setsid", "--ctty", "--wait", *argv], cwd=REPO, env=env, stdin=child_end, stdout=child_end,
        stderr=child_end,
    )  # fmt: skip
    os.close(child_end)
    seen = bytearray()
    acts: list[str] = []
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: every process of the terminal closed it
                    data = b""
                seen += data
                prompts = seen.count(ENTER)
                while answered < prompts:
                    os.write(main, b"\n")
                    answered += 1
                if data:
                    continue
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                process.kill()
                break
    finally:
        process.wait(timeout=60)
        os.close(main)
    acts = [m.group(1).decode() for m in PROMPT.finditer(bytes(seen))]
    return Terminal(process.returncode, seen.decode("utf-8", "replace"), acts)


@dataclass
class Rig:
    """One handset on the desk, its cable, and the lab's definitions for it."""

    profile: str
    netns: str
    cable: str
    name: str
    adb_serial: str = ""
    serial: str = ""
    fastboot_serial: str = ""
    bench: Path = Path()
    inventory: Path = Path()


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from private_server(tmp_path_factory.mktemp("lab-rig-adb-home"))


def _preconditions() -> None:
    if os.geteuid() != 0:
        pytest.skip("a lab rig needs root: namespaces, a veth, a bench")
    for tool in ("fastboot", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} on this host: phonehome doctor --install")


def _start_handset(rig: Rig, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "virtual", "start", "--profile", rig.profile, "--name", rig.name,
         "--netns", rig.netns, "--seed", virtual_seed(rig.profile), "--time-scale", "0.0001",
         "--attach-timeout", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fields = done.stdout.strip().split("\t")
    rig.adb_serial = fields[1]
    rig.serial = fields[2].removeprefix("serial ")
    rig.fastboot_serial = fields[4].removeprefix("fastboot ")


def _definitions(rig: Rig, folder: Path) -> None:
    """The lab's bench (the shipped lab-rig.yaml, its interface this rig's cable) and its inventory."""
    yaml = YAML()
    bench = yaml.load((REPO / "benches" / "lab-rig.yaml").read_text())
    bench["ports"][0]["interface"] = rig.cable
    rig.bench = folder / "lab-rig.yaml"
    with rig.bench.open("w") as out:
        yaml.dump(bench, out)
    known = yaml.load((REPO / "devices" / "virtual-inventory.yaml").read_text())
    (listed,) = [h for h in known["handsets"] if h["serial"] == rig.serial]
    entry = {
        "serial": rig.serial,
        "adb_serial": rig.adb_serial,
        "label": f"lab rig {rig.profile}",
        "reset": {"method": "fastboot-wipe", "fastboot_serial": rig.fastboot_serial, "timeout": 120},
        "bench": str(rig.bench),
        "port": "desk",
        "identity": dict(listed["identity"]),
    }
    rig.inventory = folder / "inventory.yaml"
    with rig.inventory.open("w") as out:
        yaml.dump({"handsets": [entry]}, out)


@pytest.fixture(scope="module", params=["nokia-7-plus-2019", "aosp-clean"])
def rig(
    request: pytest.FixtureRequest, adb_server: PrivateAdbServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Rig, Terminal, Path]]:
    _preconditions()
    tag = secrets.token_hex(3)
    rig = Rig(request.param, netns=f"phrig-{tag}", cable=f"phr{tag}", name=f"lab-rig-{tag}")
    folder = tmp_path_factory.mktemp(f"lab-rig-{request.param}")
    env = {**adb_server.env, "PHONEHOME_NO_COLOR": "1", "PHONEHOME_RUN_DIR": str(folder / "virtual")}
    try:
        _ip("netns", "add", rig.netns)
        _ip("link", "add", rig.cable, "type", "veth", "peer", "name", "wlan0", "netns", rig.netns)
        _ip("-n", rig.netns, "link", "set", "lo", "up")
        _ip("-n", rig.netns, "link", "set", "wlan0", "up")  # the phone's side; the cable's end stays down
        _start_handset(rig, env)
        _definitions(rig, folder)
        manifest = {
            "nokia-7-plus-2019": "manifests/nokia-7-plus-global-2019.yaml",
            "aosp-clean": "manifests/aosp-google-first-boot.yaml",
        }[rig.profile]
        terminal = run_at_a_terminal(
            [sys.executable, "-m", "phonehome.cli", "run", "--device", f"adb:{rig.adb_serial}",
             "--bench", str(rig.bench), "--inventory", str(rig.inventory), "--manifest", manifest,
             "--scenario-option", "settle=20", "--results", str(folder / "results")],
            env, RUN_TIMEOUT_S,
        )  # fmt: skip
        (run_dir,) = [p for p in (folder / "results").iterdir() if p.is_dir()]  # beside it: the store
        assert rig.cable in _host_links(), "the cable's end did not come back to the host"
        bench_ns = {ns for ns in _namespaces() if ns.startswith("phonehome-") and rig.cable in _links_in(ns)}
        assert not bench_ns, f"the run left its bench behind: {bench_ns}"
        yield rig, terminal, run_dir
    finally:
        subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "virtual", "stop", rig.name],
            cwd=REPO, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        adb_server.run("disconnect", rig.adb_serial)
        subprocess.run(["ip", "link", "del", rig.cable], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "netns", "del", rig.netns], capture_output=True, timeout=30, check=False)
        assert rig.cable not in _host_links()
        assert rig.netns not in _namespaces()


def _device(run_dir: Path) -> dict[str, Any]:
    (summary,) = json.loads((run_dir / "summary.json").read_text())
    return dict(summary)


def _verdict(evaluation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in evaluation["verdicts"] if v["assertion"] == name)


def test_the_run_resets_by_fastboot_walks_the_wizard_and_judges_a_handset_it_knows_only_by_serials(
    rig: tuple[Rig, Terminal, Path],
) -> None:
    lab, terminal, run_dir = rig
    summary = _device(run_dir)
    assert summary["reason"] is None, terminal.text[-3000:]
    assert summary["result"] in ("PASS", "FAIL", "INCONCLUSIVE")
    folder = Path(summary["results"])
    scenario = json.loads((folder / "scenario.json").read_text())
    (reset,) = scenario["reports"]["resets"]
    assert reset["method"] == "fastboot-wipe"
    assert reset["done"] == ["adb reboot bootloader", "fastboot -w", "fastboot reboot"]
    assert reset["bootloader"]["unlocked"] == "yes"
    assert reset["bootloader"]["serialno"] == lab.serial
    assert reset["reset_adb"].startswith("re-acquired")
    assert scenario["reports"]["wizard"]["consents"]  # walked over ADB (uiautomator2), not by hand
    # The phone was on (its ADB answered): nothing needed hands; the reset and the wizard went over fastboot
    # and ADB. A person would have been asked at this terminal otherwise (TerminalOperator opens /dev/tty).
    assert terminal.acts == [], terminal.text[-2000:]
    assert "power on" in [s["label"] for s in scenario["steps"]]
    run = json.loads((folder / results.RUN).read_text())
    assert run["device"] == f"adb:{lab.adb_serial}"
    assert run["bench"] == str(lab.bench)
    evaluation = json.loads((folder / results.EVALUATION).read_text())
    assert evaluation["build"]["build_type"] in ("user", "userdebug")
    capture = json.loads((folder / results.CAPTURE).read_text())
    assert capture["interface"] == lab.cable  # the adopted cable, not a veth the bench made


def test_the_nokia_fails_with_its_self_registration_and_the_build_gate_flags_the_package(
    rig: tuple[Rig, Terminal, Path],
) -> None:
    lab, terminal, run_dir = rig
    if lab.profile != "nokia-7-plus-2019":
        pytest.skip("the Nokia's verdicts")  # one rig per profile; the other's test below
    summary = _device(run_dir)
    assert summary["result"] == "FAIL", terminal.text[-3000:]
    assert terminal.status != 0
    evaluation = json.loads((Path(summary["results"]) / results.EVALUATION).read_text())
    assert _verdict(evaluation, "no-cleartext-identifiers")["result"] == "FAIL"
    gate = _verdict(evaluation, "build-identity")
    assert gate["result"] == "FAIL"
    assert any(
        NOKIA_AUTOREGISTRATION in f["detail"]
        for f in evaluation["findings"]
        if f["assertion"] == "build-identity"
    )


def test_aosp_clean_passes_on_the_lab_rig(rig: tuple[Rig, Terminal, Path]) -> None:
    lab, terminal, run_dir = rig
    if lab.profile != "aosp-clean":
        pytest.skip("aosp-clean's verdicts")
    summary = _device(run_dir)
    evaluation = json.loads((Path(summary["results"]) / results.EVALUATION).read_text())
    judged = {v["assertion"]: v["result"] for v in evaluation["verdicts"]}
    assert summary["result"] == "PASS", (
        judged,
        [v["reason"] for v in evaluation["verdicts"] if v["result"] != "PASS"],
    )
    assert terminal.status == 0
