"""A retail (user) build on the lab rig: no ADB until a person has set it up, so the test is the operator's hands.

The handset is started on its own with ``--adb after-setup`` (aosp-clean is a
``user`` build): it listens for nothing over ADB until its Setup Wizard is
done and USB debugging is enabled in Developer options. The lab's inventory
says so (``adb: after-setup``) and carries the identity from the box label and
the SIM card. ``phonehome run`` cannot reach it, so it asks the operator at
its terminal: to boot it into the bootloader (the fastboot reset), to walk
the wizard up to the consent screen, to decide and finish, to enable USB
debugging. This test does each by looking at the handset's screen and
touching it (``phonehome virtual hands``), then presses Enter, as a person at
the bench does. The run must then say it judged the first boot with the
inventory's identity, confirmed over ADB after setup, and record the build
type with the verdicts; aosp-clean PASSes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome import exits
from phonehome.report import folder as results
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.adb_servers import private_server
from tests.integration.lab_rig import (
    Rig,
    Terminal,
    assert_bench_gone,
    rig_on_a_desk,
    run_argv,
    run_at_a_terminal,
    write_definitions,
)

pytestmark = pytest.mark.root

RUN_TIMEOUT_S = 900
PROFILE = "aosp-clean"
MANIFEST = "manifests/aosp-google-first-boot.yaml"
LAUNCHER = "com.google.android.apps.nexuslauncher/"
CONSENT_DECISION = ("More", "Accept")
"""The Google services screen's decision button ("More" until scrolled to its end)."""
ON_THE_WAY = ("Start", "phonehome-bench", "Next", "Skip", "Skip anyway", "Done")
"""What a person taps to get through the aosp wizard with no account and no PIN (the bench's open network)."""
MOST_SCREENS = 40


class Operator:
    """The person at the bench: reads each prompt, does it to the handset with their hands, presses Enter."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.done: list[str] = []
        self.trouble: list[str] = []

    def __call__(self, act: str, instruction: str) -> None:
        try:
            if act == "power.on":
                self.switch_on()
            elif act == "confirm" and "Setup Wizard" in instruction:
                self.wait_for_the_screen()
            elif act == "power.bootloader":
                self.done.append(self.rig.hands("power.bootloader"))
            elif act == "setup-wizard" and "do not tap the decision yet" in instruction:
                self.walk(stop_at_consent=True)
            elif act == "setup-wizard":
                self.walk(stop_at_consent=False)
            elif act == "usb-debugging.enable":
                self.done.append(self.rig.hands("usb-debugging.enable"))
            else:
                self.trouble.append(f"a prompt this operator was not told about: {act}: {instruction}")
        except AssertionError as exc:  # the run goes on (it will fail on its own); the test reports it
            self.trouble.append(str(exc))

    def switch_on(self) -> None:
        """A phone on a desk may be on already: its screen says so; a dark one gets the power button."""
        if self.rig.look()["labels"]:
            self.done.append("it is on")
        else:
            self.done.append(self.rig.hands("power.press"))

    def wait_for_the_screen(self) -> None:
        for _ in range(MOST_SCREENS):
            if self.rig.look()["labels"]:
                self.done.append("the screen shows")
                return
            time.sleep(0.5)
        raise AssertionError("the handset's screen stayed dark")

    def walk(self, *, stop_at_consent: bool) -> None:
        """Taps through the wizard: to its consent screen (every optional toggle is on by default, as
        accept-all wants), or from there, accepting, to the home screen."""
        for _ in range(MOST_SCREENS):
            screen = self.rig.look()
            shown = [label["text"] for label in screen["labels"] if label["enabled"] and label["clickable"]]
            if stop_at_consent and any(t in shown for t in CONSENT_DECISION):
                self.done.append(f"at the consent screen {screen['activity']}")
                return
            if not stop_at_consent and str(screen["activity"]).startswith(LAUNCHER):
                self.done.append("the home screen shows")
                return
            wanted = CONSENT_DECISION[::-1] + ON_THE_WAY if not stop_at_consent else ON_THE_WAY
            tap = next((t for t in wanted if t in shown), None)
            if tap is None:
                time.sleep(0.2)  # a progress screen ("Checking for updates…") moves on by itself
                continue
            self.done.append(self.rig.hands("screen.tap", text=tap))
        raise AssertionError(f"the wizard did not end where expected; the screen: {self.rig.look()}")


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from private_server(tmp_path_factory.mktemp("lab-user-adb-home"))


@pytest.fixture(scope="module")
def retail_run(
    adb_server: PrivateAdbServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Rig, Terminal, Operator, Path]]:
    folder = tmp_path_factory.mktemp("lab-rig-user-build")
    with rig_on_a_desk(PROFILE, adb_server, folder, "--adb", "after-setup") as rig:
        assert adb_server.run("connect", rig.adb_serial).stdout.count("connected to") == 0  # no ADB yet
        write_definitions(rig, folder, adb="after-setup")
        operator = Operator(rig)
        terminal = run_at_a_terminal(
            run_argv(rig, MANIFEST, folder / "results"), rig.env, RUN_TIMEOUT_S, hands=operator
        )
        (run_dir,) = [p for p in (folder / "results").iterdir() if p.is_dir()]
        assert_bench_gone(rig)
        yield rig, terminal, operator, run_dir


def _summary(run_dir: Path) -> dict[str, Any]:
    (summary,) = json.loads((run_dir / "summary.json").read_text())
    return dict(summary)


def test_the_operator_is_asked_for_each_act_only_hands_can_do_and_the_test_did_each(
    retail_run: tuple[Rig, Terminal, Operator, Path],
) -> None:
    _, terminal, operator, run_dir = retail_run
    assert operator.trouble == [], terminal.text[-3000:]
    assert terminal.acts == [
        "power.on",
        "confirm",
        "power.bootloader",
        "setup-wizard",
        "setup-wizard",
        "usb-debugging.enable",
    ], terminal.text[-3000:]
    assert any(d.startswith("held Volume Down + Power") for d in operator.done)
    assert "tapped 'Accept'" in operator.done
    assert operator.done[-1].startswith("enabled USB debugging")
    folder = Path(_summary(run_dir)["results"])
    scenario = json.loads((folder / "scenario.json").read_text())
    (reset,) = scenario["reports"]["resets"]
    assert reset["done"] == ["the operator booted it into the bootloader", "fastboot -w", "fastboot reboot"]
    assert reset["reset_adb"].startswith("not yet")
    wizard = next(s for s in scenario["steps"] if str(s["label"]).startswith("walk the Setup Wizard"))
    assert wizard["detail"]["walked_by"] == "operator", wizard


def test_the_first_boot_is_judged_with_the_inventory_identity_confirmed_over_adb_after_setup(
    retail_run: tuple[Rig, Terminal, Operator, Path],
) -> None:
    rig, terminal, _, run_dir = retail_run
    summary = _summary(run_dir)
    assert summary["reason"] is None, terminal.text[-3000:]
    folder = Path(summary["results"])
    run = json.loads((folder / results.RUN).read_text())
    confirmed = [n for n in run["notes"] if "confirmed over ADB after setup" in n]
    assert confirmed, run["notes"]
    assert f"known by its inventory entry ({rig.serial})" in confirmed[0]
    assert f"(ro.serialno {rig.serial})" in confirmed[0]
    identity = json.loads((folder / results.IDENTITY).read_text())
    for key in ("imei", "imsi", "iccid"):  # what the shell of a retail Android 14 cannot read
        assert identity["sources"][key] == "inventory", identity["sources"]
    assert f"note: {confirmed[0]}" in terminal.text.replace("\r", "")
    assert "confirmed over ADB after setup" in (folder / "report.html").read_text()


def test_the_user_build_is_recorded_with_its_verdicts_and_aosp_clean_passes(
    retail_run: tuple[Rig, Terminal, Operator, Path],
) -> None:
    _, terminal, _, run_dir = retail_run
    summary = _summary(run_dir)
    folder = Path(summary["results"])
    evaluation = json.loads((folder / results.EVALUATION).read_text())
    assert evaluation["build"]["build_type"] == "user"
    assert evaluation["build"]["tags"] == "release-keys"
    judged = {v["assertion"]: v["result"] for v in evaluation["verdicts"]}
    assert summary["result"] == "PASS", (
        judged,
        [v["reason"] for v in evaluation["verdicts"] if v["result"] != "PASS"],
    )
    assert terminal.status == exits.PASS
