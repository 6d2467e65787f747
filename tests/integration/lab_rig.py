"""The lab rig in a box, shared by its tests: a handset on a desk, its cable, the lab's definitions, a terminal.

A virtual handset is started on its own (``phonehome virtual start``, in a
namespace of its own, as a phone is its own machine) and cabled by a veth
whose host end is what a lab's USB-Ethernet adapter would be. The lab's bench
definition (``benches/lab-rig.yaml``, its ``interface:`` set to that end)
adopts it as its physical port; the inventory names the handset's serial,
its fastboot serial, its reset method, bench and port. `run_at_a_terminal`
runs ``phonehome run`` with a pseudo-terminal as its controlling terminal
and answers each operator prompt: with Enter, after the test's hands
(``phonehome virtual hands``) did what the prompt asks.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from phonehome.links import virtual_seed
from phonehome.virtual.testing import PrivateAdbServer

REPO = Path(__file__).resolve().parents[2]
PROMPT = re.compile(rb"phonehome asks the operator \(([^)]+)\): (.*?)\n", re.S)
ENTER = b"Press Enter when done"
NOKIA_AUTOREGISTRATION = "com.qualcomm.qti.autoregistration"
MANIFESTS = {
    "nokia-7-plus-2019": "manifests/nokia-7-plus-global-2019.yaml",
    "aosp-clean": "manifests/aosp-google-first-boot.yaml",
}
"""What each profile's build should have reached: the release manifest a lab would write for it."""

Hands = Callable[[str, str], None]
"""``hands(act, instruction)``: what the operator does before pressing Enter at a prompt."""


def host_links() -> set[str]:
    done = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, timeout=30, check=True
    )
    return {link["ifname"] for link in json.loads(done.stdout)}


def links_in(netns: str) -> set[str]:
    done = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True, timeout=30, check=False
    )
    return {link["ifname"] for link in json.loads(done.stdout or "[]")} if done.returncode == 0 else set()


def namespaces() -> set[str]:
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


def run_at_a_terminal(
    argv: list[str], env: dict[str, str], timeout: float, hands: Hands | None = None
) -> Terminal:
    """Runs ``argv`` with a pseudo-terminal as its controlling terminal (the operator's prompts open
    /dev/tty) and, at every prompt, lets ``hands`` do the act, then presses Enter, as a person at the
    bench does."""
    main, child_end = pty.openpty()
    # setsid --ctty: a session of its own whose controlling terminal is the pty (util-linux).
    process = subprocess.Popen(
        ["setsid", "--ctty", "--wait", *argv], cwd=REPO, env=env, stdin=child_end, stdout=child_end,
        stderr=child_end,
    )  # fmt: skip
    os.close(child_end)
    seen = bytearray()
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
                prompts = list(PROMPT.finditer(bytes(seen)))
                while answered < min(len(prompts), bytes(seen).count(ENTER)):
                    act, instruction = (g.decode("utf-8", "replace") for g in prompts[answered].groups())
                    if hands is not None:
                        hands(act, instruction)
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
    env: dict[str, str] = field(default_factory=dict)
    adb_serial: str = ""
    serial: str = ""
    fastboot_serial: str = ""
    bench: Path = Path()
    inventory: Path = Path()

    def hands(self, act: str, **params: object) -> str:
        """``phonehome virtual hands NAME ACT KEY=VALUE...``: what a person does to the phone on the desk."""
        argv = [sys.executable, "-m", "phonehome.cli", "virtual", "hands", self.name, act]
        argv += [f"{k}={v}" for k, v in params.items()]
        done = subprocess.run(
            argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=200, check=False
        )
        assert done.returncode == 0, f"hands {act} {params}: {done.stderr}"
        return done.stdout.strip()

    def look(self) -> dict[str, Any]:
        """What the handset's screen shows: ``activity`` and ``labels`` (text, clickable, checked...)."""
        screen: dict[str, Any] = json.loads(self.hands("screen.look"))
        return screen


def preconditions() -> None:
    if os.geteuid() != 0:
        pytest.skip("a lab rig needs root: namespaces, a veth, a bench")
    for tool in ("fastboot", "ip", "setsid"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} on this host: phonehome doctor --install")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def rig_on_a_desk(
    profile: str, adb_server: PrivateAdbServer, folder: Path, *start_options: str
) -> Iterator[Rig]:
    """A handset of ``profile`` started on its own (``start_options``: more ``virtual start`` options) in a
    namespace of its own, cabled to a host veth end; everything removed afterwards, also after a failure."""
    preconditions()
    tag = secrets.token_hex(3)
    rig = Rig(profile, netns=f"phrig-{tag}", cable=f"phr{tag}", name=f"lab-rig-{tag}")
    rig.env = {**adb_server.env, "PHONEHOME_NO_COLOR": "1", "PHONEHOME_RUN_DIR": str(folder / "virtual")}
    try:
        ip("netns", "add", rig.netns)
        ip("link", "add", rig.cable, "type", "veth", "peer", "name", "wlan0", "netns", rig.netns)
        ip("-n", rig.netns, "link", "set", "lo", "up")
        ip("-n", rig.netns, "link", "set", "wlan0", "up")  # the phone's side; the cable's end stays down
        _start_handset(rig, start_options)
        yield rig
    finally:
        subprocess.run(
            [sys.executable, "-m", "phonehome.cli", "virtual", "stop", rig.name],
            cwd=REPO, env=rig.env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        if rig.adb_serial:
            adb_server.run("disconnect", rig.adb_serial)
        subprocess.run(["ip", "link", "del", rig.cable], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "netns", "del", rig.netns], capture_output=True, timeout=30, check=False)
        assert rig.cable not in host_links()
        assert rig.netns not in namespaces()


def _start_handset(rig: Rig, options: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "virtual", "start", "--profile", rig.profile, "--name", rig.name,
         "--netns", rig.netns, "--seed", virtual_seed(rig.profile), "--time-scale", "0.0001",
         "--attach-timeout", "2", *options],
        cwd=REPO, env=rig.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fields = done.stdout.strip().split("\t")
    rig.adb_serial = fields[1]
    rig.serial = fields[2].removeprefix("serial ")
    rig.fastboot_serial = fields[4].removeprefix("fastboot ")


def write_definitions(rig: Rig, folder: Path, **entry: object) -> None:
    """The lab's bench (the shipped lab-rig.yaml, its interface this rig's cable) and its inventory, whose
    entry for the handset has its identity (devices/virtual-inventory.yaml) and ``entry``'s keys."""
    yaml = YAML()
    bench = yaml.load((REPO / "benches" / "lab-rig.yaml").read_text())
    bench["ports"][0]["interface"] = rig.cable
    rig.bench = folder / "lab-rig.yaml"
    with rig.bench.open("w") as out:
        yaml.dump(bench, out)
    known = yaml.load((REPO / "devices" / "virtual-inventory.yaml").read_text())
    (listed,) = [h for h in known["handsets"] if h["serial"] == rig.serial]
    line = {
        "serial": rig.serial,
        "adb_serial": rig.adb_serial,
        "label": f"lab rig {rig.profile}",
        "reset": {"method": "fastboot-wipe", "fastboot_serial": rig.fastboot_serial, "timeout": 120},
        "bench": str(rig.bench),
        "port": "desk",
        "identity": dict(listed["identity"]),
        **entry,
    }
    rig.inventory = folder / "inventory.yaml"
    with rig.inventory.open("w") as out:
        yaml.dump({"handsets": [line]}, out)


def run_argv(rig: Rig, manifest: str, results: Path) -> list[str]:
    """``phonehome run`` as a lab runs one handset: by its adb serial, on its bench, with its inventory."""
    return [
        sys.executable, "-m", "phonehome.cli", "run", "--device", f"adb:{rig.adb_serial}",
        "--bench", str(rig.bench), "--inventory", str(rig.inventory), "--manifest", manifest,
        "--scenario-option", "settle=20", "--results", str(results),
    ]  # fmt: skip


def assert_bench_gone(rig: Rig) -> None:
    """The cable is back on the host, and no bench namespace of the run holds it."""
    assert rig.cable in host_links(), "the cable's end did not come back to the host"
    left = {ns for ns in namespaces() if ns.startswith("phonehome-") and rig.cable in links_in(ns)}
    assert not left, f"the run left its bench behind: {left}"
