"""A person's hands on a detached handset: eyes and fingers on its panel, its buttons, over its hands socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.virtual import OperatorError, VirtualHandset, VirtualOperator
from phonehome.virtual.control import MAX_LINE, HandsError, HandsServer, perform
from phonehome.virtual.fingers import FingerError


@pytest.fixture
def retail(tmp_path: Path) -> Iterator[VirtualOperator]:
    """aosp-clean as a retail build: ADB only after setup."""
    handset = VirtualHandset("aosp-clean", seed="hands", time_scale=0, workdir=tmp_path, adb="after-setup")
    handset.start()
    handset.wait_boot_completed(5)
    yield VirtualOperator(handset)
    handset.stop()


def _look(operator: VirtualOperator) -> dict[str, object]:
    screen: dict[str, object] = json.loads(operator.perform("screen.look"))
    return screen


def _texts(operator: VirtualOperator) -> list[str]:
    labels = _look(operator)["labels"]
    assert isinstance(labels, list)
    return [str(label["text"]) for label in labels]


def test_eyes_read_the_wizard_and_a_finger_on_a_label_moves_it_on(retail: VirtualOperator) -> None:
    assert "Start" in _texts(retail)
    assert retail.perform("screen.tap", {"text": "start"}) == "tapped 'Start'"  # as a person reads it
    assert "WifiSetupActivity" in str(_look(retail)["activity"])
    assert "phonehome-bench" in _texts(retail)


def test_a_label_that_is_not_shown_is_refused_naming_what_is(retail: VirtualOperator) -> None:
    with pytest.raises(FingerError, match=r"'Accept' is not on the screen; it shows: .*'Start'"):
        retail.perform("screen.tap", {"text": "Accept"})
    with pytest.raises(FingerError, match="off the 1080x2400 screen"):
        retail.perform("screen.tap", {"x": 5000, "y": 1})
    with pytest.raises(OperatorError, match="x must be a pixel"):
        retail.perform("screen.tap", {"x": "left", "y": 1})


def test_a_dark_panel_shows_nothing_and_ignores_fingers(retail: VirtualOperator) -> None:
    retail.perform("power.press")
    assert _texts(retail) == []
    with pytest.raises(FingerError, match="nothing \\(the panel is dark\\)"):
        retail.perform("screen.tap", {"text": "Start"})


def test_usb_debugging_is_refused_until_setup_is_done(retail: VirtualOperator) -> None:
    with pytest.raises(Exception, match="finish the Setup Wizard first"):
        retail.perform("usb-debugging.enable")
    assert not retail.handset.adb_online


def test_usb_debugging_needs_a_lit_unlocked_panel_then_starts_adb(retail: VirtualOperator) -> None:
    for label in (
        "Start",
        "phonehome-bench",
        "Next",
        "Skip",
        "Skip",
        "More",
        "Accept",
        "Skip",
        "Skip anyway",
        "Done",
    ):
        retail.perform("screen.tap", {"text": label})
    assert "nexuslauncher" in str(_look(retail)["activity"])
    retail.perform("power.press")  # dark, and locked once set up
    with pytest.raises(OperatorError, match="wake and unlock the screen first"):
        retail.perform("usb-debugging.enable")
    retail.perform("power.press")
    retail.perform("screen.swipe", {"direction": "up"})  # the keyguard's unlock
    said = retail.perform("usb-debugging.enable")
    assert said == f"enabled USB debugging in Developer options: ADB listens at {retail.handset.adb_serial}"
    assert retail.handset.adb_online


def test_holding_volume_down_and_power_puts_it_in_fastboot_mode(retail: VirtualOperator) -> None:
    said = retail.perform("power.bootloader")
    assert said.startswith("held Volume Down + Power")
    assert retail.handset.in_bootloader
    assert not retail.handset.boot_completed


def test_the_hands_socket_carries_acts_and_refusals(retail: VirtualOperator, tmp_path: Path) -> None:
    server = HandsServer(tmp_path / "h.hands", retail)
    try:
        assert (server.path.stat().st_mode & 0o777) == 0o600  # its owner's alone
        assert perform(server.path, "screen.tap", {"text": "Start"}) == "tapped 'Start'"
        with pytest.raises(HandsError, match=r"unknown act 'sim\.eject'"):
            perform(server.path, "sim.eject")
        for raw in (
            b"not json\n",
            b'{"act": 7}\n',
            b'{"act": "power.press", "params": [1]}\n',
            b"x" * (MAX_LINE + 10),
        ):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(str(server.path))
                conn.sendall(raw + b"\n")
                reply = json.loads(conn.makefile("rb").readline())
            assert reply["ok"] is False
            assert reply["error"]
        assert perform(server.path, "power.press").startswith("pressed the power button")  # still serving
    finally:
        server.close()
    assert not server.path.exists()
    with pytest.raises(HandsError, match="no handset answers"):
        perform(server.path, "screen.look")


def test_the_hands_command_names_a_handset_that_is_not_running_and_refuses_bad_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from phonehome.cli import main

    monkeypatch.setenv("PHONEHOME_RUN_DIR", str(tmp_path))
    assert main(["virtual", "hands", "desk1", "screen.look"]) == 1
    assert "no running virtual handset named 'desk1'" in capsys.readouterr().err
    assert main(["virtual", "hands", "desk1", "screen.tap", "Start"]) == 2
    assert "'Start' is not KEY=VALUE" in capsys.readouterr().err
