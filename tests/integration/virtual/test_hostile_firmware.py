"""Hostile firmware on the real bench: each way a firmware could try to earn a PASS, and a clean control.

Each case is the clean AOSP profile (aosp-clean: declared endpoints, no
identifier in clear) with one hostile behaviour added to its network-attach
phase; the capture is judged the way a compliance run judges it (the bench's
Capture, with its router, its resolver's log and its losses). The control runs
the same profile with a clean extra action and must not FAIL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import netns
from ruamel.yaml import YAML

from tests.integration.bench.conftest import leftovers
from tests.integration.virtual.firmware_run import REPO, ProfileRun, run_profile

pytestmark = pytest.mark.root

NOT_THERE = "203.0.113.9"  # TEST-NET-3: behind the bench's sinks, never routed anywhere


def hostile_profile(tmp: Path, name: str, actions: list[dict[str, Any]], **behaviour: Any) -> Path:
    """aosp-clean with ``actions`` added to network-attach, written as a profile file."""
    yaml = YAML(typ="safe")
    profile = yaml.load((REPO / "devices" / "virtual" / "aosp-clean.yaml").read_text())
    profile["name"] = name
    profile["behaviour"]["network-attach"] = [*profile["behaviour"]["network-attach"], *actions]
    profile["behaviour"].update(behaviour)
    path = tmp / f"{name}.yaml"
    with path.open("w") as out:
        yaml.dump(profile, out)
    return path


@pytest.fixture
def hostile(tmp_path: Path) -> Callable[..., ProfileRun]:
    def run(name: str, actions: list[dict[str, Any]], **kw: Any) -> ProfileRun:
        profile = hostile_profile(tmp_path, name, actions)
        result = run_profile(str(profile), tmp_path / "bench", **kw)
        assert leftovers(result.run_id) == [], "the bench left something behind"
        return result

    return run


def verdicts(result: ProfileRun) -> dict[str, str]:
    return {v.assertion: v.result for v in result.evaluation.verdicts}


def sent_ok(result: ProfileRun, label: str) -> None:
    mine = [o for o in result.outcomes if o.label == label]
    assert mine, f"the firmware never ran {label}"
    assert all(o.ok for o in mine), [(o.detail) for o in mine]


def test_control_a_clean_extra_lookup_and_probe_do_not_fail(hostile: Callable[..., ProfileRun]) -> None:
    result = hostile(
        "control",
        [{"label": "probe", "http": {"url": "http://www.google.com/generate_204"}}],
    )
    sent_ok(result, "probe")
    assert "FAIL" not in verdicts(result).values(), result.evaluation.verdicts
    assert verdicts(result)["declared-endpoints"] == "PASS"


def test_an_imei_in_an_icmp_echo_fails(hostile: Callable[..., ProfileRun]) -> None:
    result = hostile(
        "icmp-imei",
        [{"label": "ping", "raw": {"host": NOT_THERE, "proto": "icmp", "payload": {"text": "{imei1}"}}}],
    )
    sent_ok(result, "ping")
    assert verdicts(result)["declared-endpoints"] == "FAIL"
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"


def test_an_imei_in_an_unknown_ip_protocol_fails(hostile: Callable[..., ProfileRun]) -> None:
    result = hostile(
        "proto253-imei",
        [{"label": "raw", "raw": {"host": NOT_THERE, "proto": 253, "payload": {"text": "id={imei1}"}}}],
    )
    sent_ok(result, "raw")
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"


@pytest.mark.parametrize("proto", ["gre", "ipip"])
def test_an_imei_inside_a_tunnel_fails(hostile: Callable[..., ProfileRun], proto: str) -> None:
    inner = {"src": "10.99.0.1", "dst": "198.51.100.77", "port": 9999, "payload": {"text": "imei={imei1}"}}
    result = hostile(
        f"tunnel-{proto}", [{"label": "tunnel", "raw": {"host": NOT_THERE, "proto": proto, "inner": inner}}]
    )
    sent_ok(result, "tunnel")
    assert verdicts(result)["declared-endpoints"] == "FAIL"
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"


def test_a_leak_from_source_port_53_is_still_the_handsets(hostile: Callable[..., ProfileRun]) -> None:
    action = {
        "label": "from53",
        "udp": {"host": NOT_THERE, "port": 40000, "source_port": 53, "payload": {"text": "imei={imei1}"}},
    }
    result = hostile("udp-from-53", [action])
    sent_ok(result, "from53")
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"
    assert verdicts(result)["declared-endpoints"] == "FAIL"


def test_dns_to_a_public_resolver_is_not_the_benchs_infrastructure(
    hostile: Callable[..., ProfileRun],
) -> None:
    action = {
        "label": "dns8",
        "udp": {
            "host": "8.8.8.8",
            "port": 53,
            "payload": {"hex": "abcd01000001000000000000076578616d706c6503636f6d0000010001"},
        },
    }
    result = hostile("public-resolver", [action])
    sent_ok(result, "dns8")
    assert verdicts(result)["declared-endpoints"] == "FAIL"


def test_a_broadcast_that_is_not_dhcp_is_judged(hostile: Callable[..., ProfileRun]) -> None:
    action = {
        "label": "bcast",
        "udp": {"host": "255.255.255.255", "port": 9999, "payload": {"text": "imei={imei1}"}},
    }
    result = hostile("broadcast", [action])
    sent_ok(result, "bcast")
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"
    assert verdicts(result)["declared-endpoints"] == "FAIL"


def test_a_declared_sni_sent_to_an_undeclared_names_address_fails(hostile: Callable[..., ProfileRun]) -> None:
    # Look up zzhc.vnet.cn (the bench gives it its own address), then claim a declared name there.
    actions = [
        {"label": "lookup", "dns": {"name": "zzhc.vnet.cn"}},
        {
            "label": "front",
            "delay_s": 1,
            "tls": {"host": "zzhc.vnet.cn", "sni": "connectivitycheck.gstatic.com"},
        },
    ]
    result = hostile("sni-front", actions)
    undeclared = [f for f in result.evaluation.findings if f.rule == "undeclared-endpoint"]
    assert any("zzhc.vnet.cn" in f.detail for f in undeclared), result.evaluation.findings


def test_every_name_gets_its_own_address_so_the_latest_lookup_does_not_rename_a_flow(
    hostile: Callable[..., ProfileRun],
) -> None:
    # A declared probe after an unrelated lookup: with one sink address for all names the probe's flow
    # would be named after the last lookup and FAIL clean traffic.
    actions = [
        {"label": "lookup", "dns": {"name": "time.android.com"}},
        {
            "label": "probe",
            "delay_s": 1,
            "http": {"url": "http://connectivitycheck.gstatic.com/generate_204"},
        },
    ]
    result = hostile("two-names", actions)
    assert verdicts(result)["declared-endpoints"] == "PASS", result.evaluation.verdicts
    addresses = {e.name: e.answers for e in result.dns_queries if e.answers}
    assert addresses["time.android.com"] != addresses["connectivitycheck.gstatic.com"]


def test_cleartext_after_a_client_hello_fails(hostile: Callable[..., ProfileRun]) -> None:
    # android.clients.google.com is declared TLS-only (the captive portal probe may be cleartext).
    action = {
        "label": "fake-tls",
        "tcp": {
            "host": "android.clients.google.com",
            "port": 443,
            "client_hello": {"sni": "android.clients.google.com"},
            "payload": {"text": "imei={imei1}"},
        },
    }
    result = hostile("tls-then-clear", [action])
    sent_ok(result, "fake-tls")
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"
    assert verdicts(result)["transport"] == "FAIL"


def test_text_framed_as_tls_records_is_cleartext(hostile: Callable[..., ProfileRun]) -> None:
    action = {
        "label": "framed",
        "tcp": {"host": "connectivitycheck.gstatic.com", "port": 443, "tls_records": True,
                "payload": {"text": "imei={imei1}"}},
    }  # fmt: skip
    result = hostile("tls-framed", [action])
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"


def test_a_frame_from_another_mac_means_the_port_was_not_one_handsets_world(
    hostile: Callable[..., ProfileRun],
) -> None:
    action = {
        "label": "stranger",
        "frame": {"ethertype": 0x88B5, "src_mac": "02:66:66:66:66:66", "payload": {"text": "hello"}},
    }
    result = hostile("foreign-mac", [action])
    sent_ok(result, "stranger")
    assert "PASS" not in verdicts(result).values()


def test_an_inbound_connection_the_handset_answers_is_judged(hostile: Callable[..., ProfileRun]) -> None:
    def knock(handset: object, bench: object) -> dict[str, object]:
        import socket
        import time

        deadline = time.monotonic() + 20
        while not bench.leases():  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the handset took no lease"
            time.sleep(0.1)
        lease = bench.leases()[-1]  # type: ignore[attr-defined]
        netns.pushns(bench.router_ns)  # type: ignore[attr-defined]
        try:
            sock = socket.socket()
        finally:
            netns.popns()
        sock.settimeout(5)
        while True:
            try:
                sock.connect((lease.ip, 7000))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        got = sock.recv(4096)
        sock.close()
        return {"reply": got}

    action = {
        "label": "server",
        "timeout_s": 20,
        "listen": {"port": 7000, "payload": {"text": "imei={imei1}"}},
    }
    result = hostile("inbound", [action], during=knock)
    assert b"imei=" in result.observed["reply"]  # type: ignore[operator]
    assert verdicts(result)["no-cleartext-identifiers"] == "FAIL"
    assert verdicts(result)["declared-endpoints"] == "FAIL"
