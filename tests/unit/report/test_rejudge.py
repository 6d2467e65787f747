"""`phonehome judge RESULTS_DIR`: an archived run's verdicts, reproduced from its folder alone.

The folder is written as the plugin writes it (`Run.write_json`, `record_evaluation`), from a
recorded Nokia 2019 capture; the real run's folder is judged in tests/integration.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import jsonschema
import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_INTERNAL_ERROR, main
from phonehome.judge import rejudge
from phonehome.policy import Identity, evaluate_capture, load_identity, load_manifest
from phonehome.pytest_fixtures import record_evaluation
from phonehome.pytest_plugin import DeviceSpec, Run
from phonehome.report import folder as results
from phonehome.traffic.capture import Capture, CaptureDrops, file_digest
from phonehome.traffic.factory import ETHERNET
from phonehome.traffic.timeline import PhaseMarker
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "manifests" / "nokia-7-plus-global-2019.yaml"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A handset's results folder as the plugin leaves it."""
    run = Run(
        DeviceSpec("virtual", "nokia-7-plus-2019"),
        bench_file=Path("b.yaml"),
        results_parent=tmp_path,
        time_scale=1.0,
    )
    where = run.claim()
    (where / "bench").mkdir()
    packets = captures.nokia_2019_packets()
    captures.write(where / "bench" / "wlan.pcapng", packets)
    n = len(packets)
    capture = Capture(
        files=[file_digest(where / "bench" / "wlan.pcapng")], interface="ph-wlan", port="wlan",
        format="pcapng", tool="dumpcap", started=captures.T0 - 1, ended=time.time(),
        handset_ip=captures.HANDSET, markers=[PhaseMarker(captures.T0 - 1, "boot")],
        drops=[CaptureDrops("dumpcap", "ph-wlan", n, n, 0, link_packets=n)],
        router_macs=[ETHERNET.server_mac],  # the factory's router side: an isolated port's only other MAC
    )  # fmt: skip
    identity = Identity.model_validate(
        {
            "imei": captures.IMEI,
            "iccid": captures.ICCID,
            "wifi_mac": captures.MAC,
            "unread": {"imsi": "denied"},
        }
    )
    run.write_json(
        results.CAPTURE, results.relative_paths(capture.to_dict(), where, ("timeline", "resolver_log"))
    )
    run.write_json(results.IDENTITY, identity.model_dump(mode="json", exclude_defaults=True))
    shutil.copy(MANIFEST, where / "manifest.yaml")
    run.manifest_copy = {
        "path": str(MANIFEST),
        "copy": "manifest.yaml",
        "sha256": file_digest(MANIFEST).sha256,
    }
    run.phases, run.bench_problems = ("boot", "network-attach"), []
    run.write_json(results.RUN, run.run_record())
    _, judged = evaluate_capture(
        capture, identity=identity, manifest=load_manifest(MANIFEST), problems=[], phases=run.phases
    )
    record_evaluation(run, judged)
    return where


def test_an_archived_run_is_reproduced_from_its_folder(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["judge", str(folder)]) == EXIT_FAIL
    out = capsys.readouterr().out
    assert "reproduces the archived verdicts (FAIL)" in out
    assert "no-cleartext-identifiers  FAIL" in out


def test_a_moved_archive_is_still_judged(folder: Path, tmp_path: Path) -> None:
    moved = tmp_path / "lab-b" / "received"
    shutil.move(folder, moved)
    assert main(["judge", str(moved)]) == EXIT_FAIL


def test_verdicts_that_differ_from_the_archive_exit_6_and_say_which(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder / results.EVALUATION
    doc = json.loads(path.read_text())
    for verdict in doc["verdicts"]:
        if verdict["assertion"] == "no-cleartext-identifiers":
            verdict["result"] = "PASS"
    path.write_text(json.dumps(doc))
    assert main(["judge", str(folder)]) == EXIT_INTERNAL_ERROR
    assert "no-cleartext-identifiers: archived PASS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda f: (f / "bench" / "wlan.pcapng").write_bytes(b"\n" * 64), "not the one the run sealed"),
        (lambda f: (f / "manifest.yaml").write_text("firmware: x\n"), "SHA-256 differs"),
        (lambda f: (f / results.IDENTITY).unlink(), "identity.json"),
        (lambda f: (f / results.RUN).unlink(), "is this a phonehome results folder"),
    ],
)
def test_a_folder_that_is_not_what_the_run_sealed_is_bad_input(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    tamper,
    says: str,  # type: ignore[no-untyped-def]
) -> None:
    tamper(folder)
    assert main(["judge", str(folder)]) == EXIT_BAD_INPUT
    assert says in capsys.readouterr().err


def test_identity_json_is_an_identity_file_analyze_accepts(folder: Path) -> None:
    identity = load_identity(folder / results.IDENTITY)
    assert identity.imei == [captures.IMEI]
    assert identity.unread == {"imsi": "denied"}
    capture = folder / "bench" / "wlan.pcapng"
    assert main(["analyze", str(capture), "--identity", str(folder / results.IDENTITY), "--manifest",
                 str(folder / "manifest.yaml")]) == EXIT_FAIL  # fmt: skip


def test_evaluation_json_follows_the_shipped_schema(folder: Path) -> None:
    schema = json.loads(results.EVALUATION_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((folder / results.EVALUATION).read_text())
    assert doc["findings"], "a FAIL with findings exercises the whole schema"
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_the_shipped_evaluation_schema_is_current() -> None:
    assert results.EVALUATION_SCHEMA.read_text() == results.render_schema(), "python -m phonehome.results"


def test_the_schema_refuses_a_key_the_plugin_does_not_write(folder: Path) -> None:
    doc = json.loads((folder / results.EVALUATION).read_text())
    schema = json.loads(results.EVALUATION_SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "verdict": "PASS"}, schema)


def test_a_scenario_that_did_not_finish_is_judged_again_with_its_problems(folder: Path) -> None:
    record = json.loads((folder / results.RUN).read_text())
    assert any(
        v == "PASS"
        for v in (x["result"] for x in json.loads((folder / results.EVALUATION).read_text())["verdicts"])
    )
    record["problems"] = ["scenario first-boot: step 'setup-wizard: walk' did not complete: unknown screen"]
    (folder / results.RUN).write_text(json.dumps(record))
    again = rejudge(folder).evaluation
    assert "PASS" not in {v.result for v in again.verdicts}
    assert any("unknown screen" in v.reason for v in again.verdicts if v.result == "INCONCLUSIVE")
