"""Leak detection and verdicts on captures built with the traffic factory, through the real analyzer."""

from __future__ import annotations

from pathlib import Path

from phonehome.policy import Identity, analyze_capture, load_manifest, parse_handset
from phonehome.traffic.factory import TcpConversation, pcapng_bytes
from tests.unit.policy import captures

REPO = Path(__file__).resolve().parents[3]
IDENTITY = Identity.model_validate(
    {
        "imei": captures.IMEI,
        "iccid": captures.ICCID,
        "wifi_mac": captures.MAC,
        "imsi": "460031234567890",
        "cell": {"cid": 219769363},
    }
)
NOKIA = load_manifest(REPO / "manifests" / "nokia-7-plus-global-2019.yaml")


def verdicts(evaluation) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {v.assertion: v.result for v in evaluation.verdicts}


def test_nokia_2019_capture_fails_with_the_payload_decoded(tmp_path: Path) -> None:
    path = captures.write(tmp_path / "nokia.pcapng", captures.nokia_2019_packets())
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=NOKIA)
    assert evaluation.result == "FAIL"
    leaks = {f.identifier: f for f in evaluation.findings if f.rule == "cleartext-identifier"}
    assert {"imei", "iccid", "wifi_mac", "imsi", "cell"} <= set(leaks)
    for key, field in (("imei", "IMEI1"), ("iccid", "SIM1ICCID"), ("wifi_mac", "MACID")):
        assert leaks[key].decode == f"http-body>base64>json:{field}"
        flow = leaks[key].flow
        assert flow is not None
        assert (flow.proto, flow.src, flow.dst, flow.dport) == (
            "tcp",
            "10.77.0.2",
            "203.0.113.5",
            9999,
        )
        assert flow.server_name == "zzhc.vnet.cn"
        assert leaks[key].frames
    result = verdicts(evaluation)
    assert result["declared-endpoints"] == "FAIL"
    assert result["no-cleartext-identifiers"] == "FAIL"
    assert result["identifier-recipients"] == "FAIL"
    assert evaluation.handset_how.startswith("inferred: 10.77.0.2")


def test_clean_capture_has_no_leaks_and_no_fail(tmp_path: Path) -> None:
    path = captures.write(tmp_path / "clean.pcapng", captures.clean_packets())
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=NOKIA)
    assert not [f for f in evaluation.findings if f.rule == "cleartext-identifier"]
    result = verdicts(evaluation)
    assert result["declared-endpoints"] == "PASS"
    assert result["no-cleartext-identifiers"] == "PASS"
    assert "FAIL" not in result.values()


def test_value_split_across_tcp_segments_is_found(tmp_path: Path) -> None:
    conv = TcpConversation((captures.HANDSET, 41500), (captures.ZZHC, 7777), mss=4).handshake()
    conv.send(b"hello imei " + captures.IMEI.encode() + b" bye", reorder=True).close()
    path = tmp_path / "split.pcapng"
    path.write_bytes(pcapng_bytes(conv.packets, drops={0: 0}))
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY)
    found = [f for f in evaluation.findings if f.identifier == "imei"]
    assert found
    assert found[0].offset == 11
    assert len(found[0].frames) == 1


def test_capture_without_handset_traffic_is_inconclusive(tmp_path: Path) -> None:
    path = captures.write(tmp_path / "clean.pcapng", captures.clean_packets())
    _analysis, evaluation = analyze_capture(
        [path], identity=IDENTITY, manifest=NOKIA, handset=parse_handset("10.9.9.9")
    )
    assert evaluation.result == "INCONCLUSIVE"
    assert "PASS" not in verdicts(evaluation).values()


def test_drops_recorded_in_the_capture_make_it_inconclusive(tmp_path: Path) -> None:
    path = tmp_path / "drops.pcapng"
    path.write_bytes(pcapng_bytes(captures.clean_packets(), drops={0: 7}))
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=NOKIA)
    assert evaluation.result == "INCONCLUSIVE"
    assert any("dropped 7" in v.reason for v in evaluation.verdicts)


def test_truncated_capture_is_inconclusive(tmp_path: Path) -> None:
    data = pcapng_bytes(captures.clean_packets(), drops={0: 0})
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[: len(data) - 10])  # mid-block: the file ends early
    _analysis, evaluation = analyze_capture([path], identity=IDENTITY, manifest=NOKIA)
    assert "PASS" not in verdicts(evaluation).values()
