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
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome.device.logs import MARK
from phonehome.report import folder as results
from phonehome.report.bundle import SUMS
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.adb_servers import private_server
from tests.integration.lab_rig import (
    MANIFESTS,
    NOKIA_AUTOREGISTRATION,
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


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAdbServer]:
    yield from private_server(tmp_path_factory.mktemp("lab-rig-adb-home"))


@pytest.fixture(scope="module", params=["nokia-7-plus-2019", "aosp-clean"])
def rig(
    request: pytest.FixtureRequest, adb_server: PrivateAdbServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Rig, Terminal, Path]]:
    folder = tmp_path_factory.mktemp(f"lab-rig-{request.param}")
    with rig_on_a_desk(request.param, adb_server, folder) as rig:
        write_definitions(rig, folder)
        terminal = run_at_a_terminal(
            run_argv(rig, MANIFESTS[rig.profile], folder / "results"), rig.env, RUN_TIMEOUT_S
        )
        (run_dir,) = [p for p in (folder / "results").iterdir() if p.is_dir()]  # beside it: the store
        assert_bench_gone(rig)
        yield rig, terminal, run_dir


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


def _nokia_fails_and_the_build_gate_flags_its_self_registration(
    summary: dict[str, Any], evaluation: dict[str, Any], terminal: Terminal
) -> None:
    assert summary["result"] == "FAIL", terminal.text[-3000:]
    assert terminal.status != 0
    assert _verdict(evaluation, "no-cleartext-identifiers")["result"] == "FAIL"
    assert _verdict(evaluation, "build-identity")["result"] == "FAIL"
    assert any(
        NOKIA_AUTOREGISTRATION in f["detail"]
        for f in evaluation["findings"]
        if f["assertion"] == "build-identity"
    )
    # The app that sent it, as the handset's own /proc/net tables said over ADB (no virtual-only path).
    apps = json.loads((Path(summary["results"]) / results.APPS).read_text())
    zzhc = {
        str(f["flow"]["id"])
        for f in evaluation["findings"]
        if f["rule"] == "cleartext-identifier" and f["flow"]["server_name"] == "zzhc.vnet.cn"
    }
    assert {apps["flows"][i]["packages"][0] for i in zzhc if i in apps["flows"]} == {
        NOKIA_AUTOREGISTRATION
    }, apps


def _aosp_clean_passes(summary: dict[str, Any], evaluation: dict[str, Any], terminal: Terminal) -> None:
    judged = {v["assertion"]: v["result"] for v in evaluation["verdicts"]}
    assert summary["result"] == "PASS", (
        judged,
        [v["reason"] for v in evaluation["verdicts"] if v["result"] != "PASS"],
    )
    assert terminal.status == 0


EARNED = {
    "nokia-7-plus-2019": _nokia_fails_and_the_build_gate_flags_its_self_registration,
    "aosp-clean": _aosp_clean_passes,
}
"""What each build earns on the lab rig (one rig per profile, so one check per rig)."""


def test_each_build_earns_its_verdicts_on_the_lab_rig(rig: tuple[Rig, Terminal, Path]) -> None:
    lab, terminal, run_dir = rig
    summary = _device(run_dir)
    evaluation = json.loads((Path(summary["results"]) / results.EVALUATION).read_text())
    EARNED[lab.profile](summary, evaluation, terminal)


def test_the_handsets_logcat_spans_both_boots_once_and_the_bug_report_is_sealed(
    rig: tuple[Rig, Terminal, Path],
) -> None:
    _, terminal, run_dir = rig
    folder = Path(_device(run_dir)["results"])
    text = (folder / "logcat.txt").read_text()
    lines = [entry for entry in text.splitlines() if not entry.startswith(MARK)]
    assert len(lines) == len(set(lines)), "a logcat line was written twice"
    boots = [entry for entry in lines if entry.endswith("init first stage started!")]
    assert len(boots) >= 2, text[-3000:]  # the boot on the desk, and the first boot after fastboot -w
    assert "the handset booted again" in text
    assert zipfile.is_zipfile(folder / "bugreport.zip"), terminal.text[-2000:]
    sums = (folder / SUMS).read_text()
    assert "  logcat.txt\n" in sums
    assert "  bugreport.zip\n" in sums
    run = json.loads((folder / results.RUN).read_text())
    assert run["handset_logs"]["logcat"]["lines"] == len(lines)
    assert run["handset_logs"]["bugreport"]["taken"] is True
    assert run["handset_logs"]["logcat"]["reboots"], run["handset_logs"]
    assert any(note.startswith("logcat: the handset rebooted between") for note in run["notes"])
