"""A results folder read as the store keeps it: endpoints per phase, identifiers sent and to whom, verdicts,
artifacts; a batch folder; and archives that are mangled, hostile or half there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phonehome.report import folder as results
from phonehome.store.records import BENCH, MAX_TEXT, NO_PHASE, read_results, read_run
from tests.unit.policy import captures
from tests.unit.store.folders import batch_folder, checkin_in_tls, handset_folder


@pytest.fixture(scope="module")
def nokia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return handset_folder(tmp_path_factory.mktemp("nokia"))


def test_a_handsets_folder_gives_its_endpoints_per_phase(nokia: Path) -> None:
    record = read_run(nokia)
    reached = {(e.phase, e.name, e.port, e.proto) for e in record.endpoints}
    assert ("boot", "android.googleapis.com", 443, "tcp") in reached
    assert ("setup-wizard", "zzhc.vnet.cn", 9999, "tcp") in reached
    zzhc = next(e for e in record.endpoints if e.name == "zzhc.vnet.cn")
    assert (zzhc.address, zzhc.role, zzhc.transport) == (captures.ZZHC, "client", "cleartext")


def test_identifiers_sent_are_kept_by_kind_with_their_recipient_and_phase(nokia: Path) -> None:
    sent = {(s.phase, s.identifier, s.name, s.port) for s in read_run(nokia).sent}
    assert {("setup-wizard", kind, "zzhc.vnet.cn", 9999) for kind in ("imei", "iccid", "wifi_mac")} <= sent
    assert ("setup-wizard", "shaped:imsi-shaped", "zzhc.vnet.cn", 9999) in sent


def test_the_run_keeps_its_verdicts_id_and_artifacts_hashes(nokia: Path) -> None:
    record = read_run(nokia)
    evaluation = json.loads((nokia / results.EVALUATION).read_text())
    assert record.run_id == evaluation["run_id"]
    assert record.result == "FAIL"
    assert record.verdicts["identifier-recipients"] == "FAIL"
    assert record.verdicts["transport"] == "PASS"
    listed = {f["path"]: f["sha256"] for f in json.loads((nokia / "evidence.json").read_text())["files"]}
    assert {a.path: a.sha256 for a in record.artifacts} == listed
    assert "bench/wlan.pcapng" in listed
    assert record.doubts == []


def test_a_lone_folder_is_its_own_batch_and_a_batch_can_be_named(nokia: Path) -> None:
    assert read_run(nokia).batch == nokia.name
    assert read_run(nokia, "build-42").batch == "build-42"


def test_no_identifier_value_is_kept(nokia: Path) -> None:
    text = repr(read_run(nokia))
    for value in (captures.IMEI, captures.ICCID, captures.MAC, captures.MAC.lower(), "460031234567890"):
        assert value not in text


def test_a_batch_folder_gives_every_handset_and_one_that_left_no_folder(tmp_path: Path) -> None:
    run_dir = batch_folder(tmp_path, "run-20261206-000000-abcd", [None, captures.clean_packets()], missing=1)
    runs = read_results(run_dir)
    assert len(runs) == 3
    assert {r.batch for r in runs} == {"run-20261206-000000-abcd"}
    lost = next(r for r in runs if r.device == "virtual:lost-0")
    assert lost.result is None
    assert "did not come up" in lost.reason
    assert "FAIL" in {r.result for r in runs}
    assert {r.batch for r in read_results(run_dir, "nightly")} == {"nightly"}


def test_a_handset_folder_in_a_batch_belongs_to_that_batch(tmp_path: Path) -> None:
    run_dir = batch_folder(tmp_path, "run-20261206-000001-abcd", [None])
    (handset,) = [p for p in run_dir.iterdir() if p.is_dir()]
    assert read_run(handset).batch == run_dir.name


def test_a_folder_that_is_not_results_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        read_results(tmp_path / "absent")
    with pytest.raises(ValueError, match="neither"):
        read_results(tmp_path)


def test_a_run_without_evaluation_is_kept_without_verdict(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / results.SESSION).write_text(
        json.dumps({"run_id": "abc", "device": "virtual:x", "state": "finished",
                    "error": {"kind": "no-verdict", "message": "the handset never booted"}})
    )  # fmt: skip
    record = read_run(folder)
    assert (record.run_id, record.result, record.verdicts) == ("abc", None, {})
    assert record.reason == "the handset never booted"


@pytest.mark.parametrize(
    "content", ["", "not json", "[]", "null", '{"verdicts": "x", "findings": [1, null]}']
)
def test_a_mangled_evaluation_leaves_a_run_without_verdict_not_a_crash(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / results.EVALUATION).write_text(content)
    (folder / results.ANALYSIS).write_text(
        '{"flows": [1, "x", {"src": 5, "dport": "80", "first_ts": "nan"}]}'
    )
    record = read_run(folder)
    assert record.result is None
    assert record.run_id.startswith("folder:r:")
    other = tmp_path / "elsewhere" / "r"
    other.mkdir(parents=True)
    (other / results.EVALUATION).write_text(content)
    assert read_run(other).run_id != record.run_id


def test_missing_analysis_is_a_doubt_not_an_empty_list_of_endpoints(tmp_path: Path) -> None:
    folder = handset_folder(tmp_path, sealed=False)
    (folder / results.ANALYSIS).unlink()
    record = read_run(folder)
    assert record.endpoints == []
    assert any("endpoints reached are unknown" in d for d in record.doubts)


def test_hostile_names_are_cut_and_unknown_handsets_hide_no_peer(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    flows = [
        {"src": "10.0.0.9", "dst": "198.51.100.1", "dport": 443, "proto": "tcp", "server_name": "x" * 100_000,
         "name_source": "sni", "first_ts": 5.0},
        {"src": "10.0.0.9", "dst": "10.0.0.1", "dport": 53, "proto": "udp", "first_ts": 1.0},
        {"src": "198.51.100.7", "dst": "10.0.0.9", "dport": 5555, "sport": 40000, "proto": "tcp",
         "first_ts": 6.0, "server_name": None},
    ]  # fmt: skip
    (folder / results.EVALUATION).write_text(json.dumps({"run_id": "h", "result": "PASS", "verdicts": [
        {"assertion": "transport", "result": "PASS"}], "findings": [], "doubts": [], "handset": {"addresses": ""}}))  # fmt: skip
    (folder / results.ANALYSIS).write_text(json.dumps({"flows": flows}))
    (folder / results.CAPTURE).write_text(json.dumps({"router_addresses": ["10.0.0.1"], "markers": [
        {"ts": 4.0, "phase": "boot", "detail": {}}]}))  # fmt: skip
    endpoints = read_run(folder).endpoints
    names = {(e.phase, e.name[:3], len(e.name), e.port) for e in endpoints}
    assert ("boot", "xxx", MAX_TEXT, 443) in names
    assert (NO_PHASE, BENCH[:3], len(BENCH), 53) in names
    # no handset address known: every flow is the handset's, its server side the endpoint
    assert ("boot", "10.", len("10.0.0.9"), 5555) in names


def test_deep_reading_finds_an_identifier_sent_in_tls_to_a_declared_recipient(tmp_path: Path) -> None:
    packets, keylog = checkin_in_tls()
    folder = handset_folder(tmp_path, packets, keylog=keylog)
    shallow, deep = read_run(folder), read_run(folder, deep=True)
    checkin = ("setup-wizard", "imei", "android.googleapis.com", 443)
    assert checkin not in {s.key[:4] for s in shallow.sent}  # evaluation.json lists only what broke a rule
    assert checkin in {s.key[:4] for s in deep.sent}
    assert deep.doubts == shallow.doubts


def test_deep_reading_of_a_capture_changed_since_the_run_is_a_doubt(tmp_path: Path) -> None:
    folder = handset_folder(tmp_path)
    (folder / "bench" / "wlan.pcapng").write_bytes(b"changed")
    record = read_run(folder, deep=True)
    assert any("could not be judged again" in d for d in record.doubts)
