"""The end-to-end compliance run: real bench, virtual handsets over the real adb server, real capture.

`phonehome run` drives `pytest tests/compliance` once per handset, each
through the default scenario (first-boot: power on, the Setup Wizard with
every consent accepted, network attach, settle). The 2019 Nokia firmware
must FAIL with the self-registration's evidence; the clean AOSP build
(Android 14: the shell is denied IMEI, IMSI and ICCID) must not PASS without
an inventory that supplies them. Each handset's results are its
own (folder, allure history), a lab can re-judge a folder alone, two runs
started together stay apart, and nothing of the benches is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from phonehome.policy import load_identity
from phonehome.report import folder as results
from phonehome.report.bundle import SUMS
from phonehome.traffic.capture import file_sha256

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
NOKIA, AOSP = "virtual:nokia-7-plus-2019", "virtual:aosp-clean"
RUN_TIMEOUT_S = 600


def _namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())


def _phonehome(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "phonehome.cli", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    results_dir = tmp_path_factory.mktemp("results")
    before = _namespaces()
    done = _phonehome("run", "--device", NOKIA, "--device", AOSP, "--results", str(results_dir))
    assert _namespaces() <= before, "the run left network namespaces behind"
    (run_dir,) = tuple(
        p for p in results_dir.iterdir() if p.is_dir()
    )  # the results store's file sits beside them
    return done.returncode, run_dir, done.stdout + done.stderr


def _device(run_dir: Path, device: str) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return next(d for d in summary if d["device"] == device)


def _folder(run_dir: Path, device: str) -> Path:
    return Path(_device(run_dir, device)["results"])


def _evaluation(run_dir: Path, device: str) -> dict[str, Any]:
    return json.loads((_folder(run_dir, device) / results.EVALUATION).read_text())


def _verdict(evaluation: dict[str, Any], assertion: str) -> dict[str, Any]:
    return next(v for v in evaluation["verdicts"] if v["assertion"] == assertion)


def test_run_exits_fail_and_prints_verdicts_and_the_report_path(run: tuple[int, Path, str]) -> None:
    status, run_dir, output = run
    assert status == 1, output
    assert f"{NOKIA}: FAIL" in output
    assert f"{AOSP}: PASS" not in output
    assert f"{AOSP}: " in output
    assert f"report: {run_dir}" in output


def test_nokia_2019_fails_on_zzhc_and_identifiers_in_clear(run: tuple[int, Path, str]) -> None:
    _, run_dir, output = run
    verdicts = _device(run_dir, NOKIA)["verdicts"]
    for assertion in ("declared-endpoints", "no-cleartext-identifiers", "identifier-recipients"):
        assert verdicts[assertion] == "FAIL", output
    findings = _evaluation(run_dir, NOKIA)["findings"]
    # Named by the bench resolver's log it is an undeclared endpoint; without that log, its lookup is.
    undeclared = [f for f in findings if f["rule"] in ("undeclared-endpoint", "undeclared-lookup")]
    assert any("zzhc.vnet.cn" in (f["flow"]["server_name"] or "") + f["detail"] for f in undeclared)
    leaked = {
        f["identifier"]: f
        for f in findings
        if f["rule"] == "cleartext-identifier" and f["flow"]["server_name"] == "zzhc.vnet.cn"
    }
    assert {"imei", "iccid", "wifi_mac"} <= set(leaked)
    assert leaked["imei"]["decode"].startswith("http-body>base64>json:IMEI")
    assert leaked["iccid"]["decode"] == "http-body>base64>json:SIM1ICCID"
    assert all(f["frames"] for f in leaked.values())
    first: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f["rule"] == "cleartext-identifier" and f["flow"]["server_name"] == "zzhc.vnet.cn":
            first.setdefault(f["identifier"], f)
    # Before any consent: the handset registers as it powers on and joins the bench port, during boot or,
    # when boot completes first on a busy machine, while the wizard's first screens are up.
    assert {f["phase"] for f in first.values()} <= {"boot", "setup-wizard"}, first


def test_aosp_clean_without_an_inventory_is_inconclusive_naming_what_to_supply(
    run: tuple[int, Path, str],
) -> None:
    _, run_dir, output = run
    evaluation = _evaluation(run_dir, AOSP)
    clear = _verdict(evaluation, "no-cleartext-identifiers")
    assert clear["result"] == "INCONCLUSIVE", output
    for key in ("imei", "iccid", "imsi", "--inventory"):
        assert key in clear["reason"]
    assert (
        _verdict(evaluation, "consent")["result"] == "PASS"
    )  # the first-boot scenario walked its consent screen
    assert evaluation["scenario"]["covered"][-1] == "consent"
    assert evaluation["result"] != "PASS"
    identity = load_identity(_folder(run_dir, AOSP) / results.IDENTITY)
    assert set(identity.unread) == {"imei", "iccid", "imsi"}


def test_each_handset_has_its_own_new_folder_inside_the_run(run: tuple[int, Path, str]) -> None:
    _, run_dir, _ = run
    nokia, aosp = _folder(run_dir, NOKIA), _folder(run_dir, AOSP)
    assert nokia != aosp
    assert nokia.parent == aosp.parent == run_dir
    assert len(nokia.name.rsplit("-", 1)[1]) == 8  # the random part
    for folder in (nokia, aosp):
        session = json.loads((folder / results.SESSION).read_text())
        evaluation = json.loads((folder / results.EVALUATION).read_text())
        assert session["state"] == "finished"
        assert session["run_id"] == evaluation["run_id"]


def test_allure_results_are_failed_for_fail_broken_for_inconclusive_and_never_merge(
    run: tuple[int, Path, str],
) -> None:
    _, run_dir, _ = run
    found = [json.loads(p.read_text()) for p in (run_dir / "allure").glob("*-result.json")]

    def of(device: str) -> dict[str, dict[str, Any]]:
        mine = [r for r in found if {"name": "device", "value": device} in r["labels"]]
        return {
            next(p["value"].strip("'") for p in r["parameters"] if p["name"] == "assertion"): r for r in mine
        }

    nokia, aosp = of(NOKIA), of(AOSP)
    expected = {"FAIL": "failed", "INCONCLUSIVE": "broken", "PASS": "passed", "NOT_APPLICABLE": "skipped"}
    for assertion, verdict in _device(run_dir, NOKIA)["verdicts"].items():
        assert nokia[assertion]["status"] == expected[verdict], assertion
    assert "failed" in {r["status"] for r in nokia.values()}
    assert "broken" in {r["status"] for r in nokia.values()}
    assert {r["historyId"] for r in nokia.values()}.isdisjoint(r["historyId"] for r in aosp.values())
    assert len(found) == len(nokia) + len(aosp)


def test_evaluation_json_follows_the_shipped_schema(run: tuple[int, Path, str]) -> None:
    _, run_dir, _ = run
    schema = json.loads(results.EVALUATION_SCHEMA.read_text())
    for device in (NOKIA, AOSP):
        jsonschema.Draft202012Validator(schema).validate(_evaluation(run_dir, device))


@pytest.mark.parametrize("device", [NOKIA, AOSP])
def test_judge_reproduces_an_archived_run_from_its_folder_alone(
    run: tuple[int, Path, str], device: str
) -> None:
    _, run_dir, _ = run
    summary = _device(run_dir, device)
    done = _phonehome("judge", summary["results"])
    assert done.returncode == summary["status"], done.stdout + done.stderr
    assert f"reproduces the archived verdicts ({summary['result']})" in done.stdout


def test_results_hold_the_capture_the_identity_the_manifest_and_junit(run: tuple[int, Path, str]) -> None:
    _, run_dir, _ = run
    folder = _folder(run_dir, NOKIA)
    capture = json.loads((folder / results.CAPTURE).read_text())
    for digest in capture["files"]:
        assert file_sha256(folder / digest["path"]) == digest["sha256"]
    provenance = json.loads((folder / results.PROVENANCE).read_text())
    assert {r["source"] for r in provenance["provenance"]} >= {"adb:service-call", "adb:getprop"}
    record = json.loads((folder / results.RUN).read_text())
    copy = folder / record["manifest"]["copy"]
    assert copy.read_bytes() == (REPO / record["manifest"]["path"]).read_bytes()
    cases = ET.parse(folder / "junit.xml").getroot().iter("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert {"test_assertion[declared-endpoints]", "test_assertion[no-cleartext-identifiers]"} <= failed


def test_identity_json_is_what_analyze_takes(run: tuple[int, Path, str]) -> None:
    _, run_dir, _ = run
    folder = _folder(run_dir, NOKIA)
    capture = json.loads((folder / results.CAPTURE).read_text())
    done = _phonehome(
        "analyze", *[str(folder / f["path"]) for f in capture["files"]], "--identity",
        str(folder / results.IDENTITY), "--manifest", str(folder / "manifest.yaml"), "--format", "json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # FAIL: the IMEI in clear, found with the archived identity
    leaked = {
        f["identifier"] for f in json.loads(done.stdout)["findings"] if f["rule"] == "cleartext-identifier"
    }
    assert {"imei", "iccid"} <= leaked


def _wait(children: Sequence[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    out = []
    for child in children:
        text, _ = child.communicate(timeout=RUN_TIMEOUT_S)
        out.append((child.returncode, text))
    return out


def test_two_runs_started_together_stay_separate(tmp_path: Path) -> None:
    before = _namespaces()
    children = [_start("run", "--device", AOSP, "--results", str(tmp_path)) for _ in range(2)]
    done = _wait(children)
    assert _namespaces() <= before, "the runs left network namespaces behind"
    run_dirs = sorted(
        p for p in tmp_path.iterdir() if p.is_dir()
    )  # the results store's file sits beside the run folders
    assert len(run_dirs) == 2
    folders, captures = [], []
    for run_dir, (status, output) in zip(run_dirs, done, strict=False):
        assert status in (1, 3), output  # aosp-clean: FAIL or INCONCLUSIVE, never a PASS, never a crash
        (summary,) = json.loads((run_dir / "summary.json").read_text())
        folder = Path(summary["results"])
        assert folder.parent == run_dir
        assert summary["reason"] is None, summary
        folders.append(folder)
        captures.append(json.loads((folder / results.CAPTURE).read_text())["files"][0]["sha256"])
    assert folders[0] != folders[1]
    assert captures[0] != captures[1]  # two benches, two captures


def test_aosp_clean_with_an_inventory_of_its_identifiers_can_pass_on_them(tmp_path: Path) -> None:
    from phonehome.virtual.identity import generate_identity
    from phonehome.virtual.profile import load_profile

    yaml = YAML()
    profile = yaml.load((REPO / "devices" / "virtual" / "aosp-clean.yaml").read_text())
    profile["name"] = "aosp-seeded"
    profile["identity"]["seed"] = "phonehome-integration-inventory"
    devices = tmp_path / "devices"
    (devices / "virtual").mkdir(parents=True)
    with (devices / "virtual" / "aosp-seeded.yaml").open("w") as out:
        yaml.dump(profile, out)
    os.environ["PHONEHOME_DEVICES"] = str(devices)
    try:
        loaded = load_profile("aosp-seeded")
    finally:
        del os.environ["PHONEHOME_DEVICES"]
    ident = generate_identity("phonehome-integration-inventory", loaded.identity_spec())
    sim = ident.sims[0]
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "handsets:\n"
        f"  - serial: {ident.serial}\n"
        f"    identity: {{imei: ['{ident.imeis[0]}'], imsi: '{sim.imsi}', iccid: '{sim.iccid}'}}\n"
    )
    done = _phonehome(
        "run", "--device", "virtual:aosp-seeded", "--inventory", str(inventory), "--results", str(tmp_path / "r"),
        env={"PHONEHOME_DEVICES": str(devices)},
    )  # fmt: skip
    (run_dir,) = tuple(
        p for p in (tmp_path / "r").iterdir() if p.is_dir()
    )  # the results store's file sits beside them
    folder = _folder(run_dir, "virtual:aosp-seeded")
    evaluation = json.loads((folder / results.EVALUATION).read_text())
    assert _verdict(evaluation, "no-cleartext-identifiers")["result"] == "PASS", done.stdout
    identity = load_identity(folder / results.IDENTITY)
    assert identity.unread == {}
    assert identity.sources["imei"] == "inventory"


def test_each_handset_leaves_its_logcat_and_bug_report_hashed_in_sha256sums(
    run: tuple[int, Path, str],
) -> None:
    _, run_dir, output = run
    for device in (NOKIA, AOSP):
        folder = _folder(run_dir, device)
        text = (folder / "logcat.txt").read_text()
        assert "init first stage started!" in text, output[-2000:]
        assert "System now ready" in text
        assert zipfile.is_zipfile(folder / "bugreport.zip")
        sums = (folder / SUMS).read_text()
        assert "  logcat.txt\n" in sums
        assert "  bugreport.zip\n" in sums


def test_the_self_registration_is_attributed_to_its_app_by_the_handsets_socket_table(
    run: tuple[int, Path, str],
) -> None:
    _, run_dir, output = run
    folder = _folder(run_dir, NOKIA)
    apps = json.loads((folder / results.APPS).read_text())
    zzhc = {
        f["flow"]["id"]
        for f in _evaluation(run_dir, NOKIA)["findings"]
        if f["rule"] == "cleartext-identifier" and f["flow"]["server_name"] == "zzhc.vnet.cn"
    }
    assert zzhc, output
    owners = {apps["flows"][str(i)]["text"] for i in zzhc if str(i) in apps["flows"]}
    assert owners, apps
    assert all(o.startswith("com.qualcomm.qti.autoregistration (uid 1") for o in owners), owners
    assert (
        "<dt>sent by</dt><dd>com.qualcomm.qti.autoregistration (uid" in (folder / "report.html").read_text()
    )
