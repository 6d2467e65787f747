"""``phonehome analyze --identity/--manifest`` and ``phonehome manifest suggest``: output and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, main
from phonehome.policy import load_manifest
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
NOKIA = str(REPO / "manifests" / "nokia-7-plus-global-2019.yaml")


@pytest.fixture
def identity(tmp_path: Path) -> str:
    path = tmp_path / "id.yaml"
    path.write_text(f"imei: {captures.IMEI}\niccid: {captures.ICCID}\nwifi_mac: {captures.MAC}\n")
    return str(path)


def test_analyze_json_carries_findings_and_verdicts_and_exits_fail(
    tmp_path: Path, identity: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    status = main(["analyze", str(capture), "--identity", identity, "--manifest", NOKIA, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert status == EXIT_FAIL
    assert doc["result"] == "FAIL"
    leak = next(
        f for f in doc["findings"] if f["rule"] == "cleartext-identifier" and f["identifier"] == "imei"
    )
    assert {k: leak["flow"][k] for k in ("proto", "src", "dst", "dport")} == {
        "proto": "tcp",
        "src": "10.77.0.2",
        "dst": "203.0.113.5",
        "dport": 9999,
    }
    assert leak["decode"] == "http-body>base64>json:IMEI1"
    assert leak["frames"]
    assert "sport" in leak["flow"]
    assert {v["assertion"] for v in doc["verdicts"]} >= {"declared-endpoints", "no-cleartext-identifiers"}
    assert "flows" in doc  # the analyzer's own output is still there


def test_judged_json_follows_the_shipped_judged_analysis_schema(
    tmp_path: Path, identity: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    import jsonschema

    from phonehome.policy import schema

    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    main(["analyze", str(capture), "--identity", identity, "--manifest", NOKIA, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    shipped = json.loads(schema.shipped_path(schema.JUDGED).read_text(encoding="utf-8"))
    jsonschema.validate(doc, shipped)
    doc["verdicts"][0]["result"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, shipped)


def test_analyze_table_shows_the_verdicts(tmp_path: Path, identity: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    assert main(["analyze", str(capture), "--identity", identity, "--manifest", NOKIA]) == EXIT_FAIL
    out = capsys.readouterr().out
    assert "no-cleartext-identifiers" in out
    assert "FAIL" in out
    assert "http-body>base64>json:IMEI1" in out


def test_analyze_clean_capture_of_another_host_is_inconclusive(tmp_path: Path, identity: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "c.pcapng", captures.clean_packets())
    status = main(["analyze", str(capture), "--identity", identity, "--handset", "10.1.1.1"])
    assert status == EXIT_INCONCLUSIVE


def test_analyze_without_policy_options_still_exits_ok(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    assert main(["analyze", str(capture)]) == EXIT_OK


def test_bad_identity_is_one_line_naming_file_line_and_key(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "c.pcapng", captures.clean_packets())
    bad = tmp_path / "id.yaml"
    bad.write_text("imei: 352099001761481\nwifi_mac: nope\n")
    assert main(["analyze", str(capture), "--identity", str(bad)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"phonehome analyze: {bad}:2: wifi_mac")
    assert "\n" not in err


def test_bad_manifest_and_handset_are_bad_input(tmp_path: Path, identity: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "c.pcapng", captures.clean_packets())
    manifest = tmp_path / "m.yaml"
    manifest.write_text("firmware: x\nendpoints: []\nendpionts: []\n")
    assert (
        main(["analyze", str(capture), "--identity", identity, "--manifest", str(manifest)]) == EXIT_BAD_INPUT
    )
    assert f"{manifest}:3: endpionts" in capsys.readouterr().err
    assert main(["analyze", str(capture), "--identity", identity, "--handset", "phone"]) == EXIT_BAD_INPUT


def test_manifest_suggest_drafts_a_manifest_that_declares_what_was_seen(
    tmp_path: Path, identity: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    out = tmp_path / "draft.yaml"
    assert main(["manifest", "suggest", str(capture), "--identity", identity, "-o", str(out)]) == EXIT_OK
    draft = load_manifest(out)
    zzhc = next(e for e in draft.endpoints if "zzhc.vnet.cn" in e.hosts)
    assert zzhc.ports == [(9999, 9999)]
    assert "cleartext" in zzhc.transport
    assert "imei" in zzhc.identifiers
    main(["analyze", str(capture), "--identity", identity, "--manifest", str(out), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert next(v for v in doc["verdicts"] if v["assertion"] == "declared-endpoints")["result"] == "PASS"


def test_timeline_drives_the_consent_verdict(tmp_path: Path, identity: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "n.pcapng", captures.nokia_2019_packets())
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "firmware: x\nendpoints:\n  - name: all\n    hosts: [android.googleapis.com, zzhc.vnet.cn]\n"
        "    transport: [tls, cleartext]\n    purpose: p\n"
    )
    timeline = tmp_path / "t.jsonl"
    timeline.write_text(
        json.dumps({"ts": captures.T0 - 10, "phase": "boot"})
        + "\n"
        + json.dumps({"ts": captures.T0 + 100, "phase": "consent", "accepted": True})
        + "\n"
    )
    main(
        [
            "analyze",
            str(capture),
            "--identity",
            identity,
            "--manifest",
            str(manifest),
            "--timeline",
            str(timeline),
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    consent = next(v for v in doc["verdicts"] if v["assertion"] == "consent")
    assert consent["result"] == "FAIL"
    before = [f for f in doc["findings"] if f["rule"] == "before-consent"]
    assert before
    assert before[0]["phase"] == "boot"
    assert all(f["phase"] == "boot" for f in doc["findings"] if f["rule"] == "cleartext-identifier")


def test_bad_timeline_is_bad_input(tmp_path: Path, identity: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capture = captures.write(tmp_path / "c.pcapng", captures.clean_packets())
    timeline = tmp_path / "t.jsonl"
    timeline.write_text('{"phase": "boot"}\n')
    assert (
        main(["analyze", str(capture), "--identity", identity, "--timeline", str(timeline)]) == EXIT_BAD_INPUT
    )
    assert f"{timeline}:1" in capsys.readouterr().err
