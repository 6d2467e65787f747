"""End to end: each firmware profile on a real bench, its capture judged against its manifest.

aosp-clean earns a PASS; the Nokia 7 Plus of 2019 fails on zzhc.vnet.cn and the
identifiers in its self-registration; each leaky OEM profile fails the
assertion it is about, with the evidence, and no other assertion that it does
not break. Every run leaves nothing behind.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from phonehome.policy import Finding
from tests.integration.bench.conftest import leftovers
from tests.integration.virtual.firmware_run import TIME_SCALE, ProfileRun, run_profile

pytestmark = pytest.mark.root


@dataclass(frozen=True)
class Case:
    failing: frozenset[str]
    """Exactly the assertions that must FAIL."""
    wizard: bool = False
    """Walk the Setup Wizard through consent to the launcher (the consent assertion needs its marker)."""


CASES = {
    "aosp-clean": Case(frozenset(), wizard=True),
    # Its build carries the China self-registration client: the build gate flags it before any traffic.
    "nokia-7-plus-2019": Case(
        frozenset(
            {"declared-endpoints", "no-cleartext-identifiers", "identifier-recipients", "build-identity"}
        )
    ),
    "oem-pre-consent-telemetry": Case(frozenset({"consent"}), wizard=True),
    # The policy sees identifiers only in clear, so a wrong recipient is always a cleartext leak too.
    "oem-wrong-recipient": Case(frozenset({"identifier-recipients", "no-cleartext-identifiers"})),
    "oem-hashed-imei": Case(frozenset({"no-cleartext-identifiers"})),
    "oem-ip-literal": Case(frozenset({"declared-endpoints"})),
    "oem-dns-exfiltration": Case(frozenset({"no-cleartext-identifiers", "identifier-recipients"})),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ProfileRun]:
    """Runs each profile once per module (several tests read the same run)."""
    done: dict[str, ProfileRun] = {}

    def get(profile: str) -> ProfileRun:
        if profile not in done:
            result = run_profile(profile, tmp_path_factory.mktemp(profile), wizard=CASES[profile].wizard)
            assert leftovers(result.run_id) == [], "the bench left something behind"
            done[profile] = result
        return done[profile]

    return get


def findings(run: ProfileRun, assertion: str) -> list[Finding]:
    return [f for f in run.evaluation.findings if f.assertion == assertion]


@pytest.mark.parametrize("profile", sorted(CASES))
def test_each_profile_fails_exactly_the_assertions_it_breaks(
    run: Callable[[str], ProfileRun], profile: str
) -> None:
    result = run(profile)
    case = CASES[profile]
    assert result.capture.lossless, result.capture.problems
    assert result.failing() == case.failing, [
        (v.assertion, v.result, v.reason) for v in result.evaluation.verdicts
    ]
    assert result.evaluation.result == ("FAIL" if case.failing else "PASS")
    for assertion in case.failing:
        assert findings(result, assertion), f"{assertion} failed without evidence"
        for finding in findings(result, assertion):
            if assertion == "build-identity":  # evidence from the package list, not the traffic
                assert finding.detail, finding
                continue
            assert finding.frames, finding
            assert finding.flow is not None, finding
    phases = [m.phase for m in result.capture.markers]
    assert phases[0] == "boot"
    assert "network-attach" in phases
    if case.wizard:
        assert phases.index("network-attach") < phases.index("consent") < phases.index("setup-complete")
    assert result.timings["torn_down"] < 20, result.timings


def test_aosp_clean_passes_every_assertion(run: Callable[[str], ProfileRun]) -> None:
    result = run("aosp-clean")
    assert {v.assertion: v.result for v in result.evaluation.verdicts} == {
        **dict.fromkeys(
            ("declared-endpoints", "no-cleartext-identifiers", "identifier-recipients", "transport", "consent",
             "regions", "visible-dns", "build-identity"), "PASS",
        ),
        "certificate-validation": "NOT_APPLICABLE",  # no TLS at all: NTP and the cleartext portal probe
    }  # fmt: skip
    assert result.evaluation.result == "PASS"
    probes = [r for r in result.sink_records if r.kind == "http"]
    assert probes
    assert all(h.startswith("GET /generate_204 HTTP/1.1") for r in probes for h in r.http_heads)
    assert [lease.hostname for lease in result.leases] == [None], "Android 14 sends no DHCP host name"


def test_nokia_self_registration_is_caught_with_its_decode_chain(run: Callable[[str], ProfileRun]) -> None:
    result = run("nokia-7-plus-2019")
    undeclared = {
        (f.rule, f.flow.server_name if f.flow else None) for f in findings(result, "declared-endpoints")
    }
    assert ("undeclared-endpoint", "zzhc.vnet.cn") in undeclared
    assert any(
        "zzhc.vnet.cn" in f.detail
        for f in findings(result, "declared-endpoints")
        if f.rule == "undeclared-lookup"
    )
    assert {name for rule, name in undeclared if rule == "undeclared-endpoint"} == {"zzhc.vnet.cn"}
    chains = {(f.identifier, f.decode) for f in findings(result, "no-cleartext-identifiers")}
    assert {
        ("imei", "http-body>base64>json:IMEI1"),
        ("imei", "http-body>base64>json:IMEI2"),
        ("iccid", "http-body>base64>json:SIM1ICCID"),
        ("wifi_mac", "http-body>base64>json:MACID"),
        ("cell", "http-body>base64>json:CELLID"),
    } <= chains
    registrations = [r for r in result.sink_records if r.dst[1] == 80 and r.http_heads
                     and r.http_heads[0].startswith("POST / HTTP/1.1") and "Host: zzhc.vnet.cn" in r.http_heads[0]]  # fmt: skip
    assert len(registrations) == 10, (
        "retried hourly, up to 10 times, while the server never says resultCode 0"
    )
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(registrations)]
    assert min(gaps) >= 3600 * TIME_SCALE * 0.8, gaps
    first = registrations[0]
    assert "Content-Type: application/encrypted-json" in first.http_heads[0]
    body = first.head.split(b"\r\n\r\n", 1)[1]
    assert json.loads(base64.b64decode(body))["IMEI1"] == result.handset.imeis[0]
    leak_phases = {f.phase for f in findings(result, "no-cleartext-identifiers") if "zzhc" in f.detail}
    assert leak_phases == {"network-attach"}
    snis = {r.sni for r in result.sink_records if r.client_hello}
    assert {"android.clients.google.com", "mtalk.google.com", "www.google.com"} <= snis
    assert ("play.googleapis.com", "quic-sni") in {
        (f.server_name, f.name_source) for f in result.analysis.flows
    }
    [lease] = result.leases
    assert (lease.hostname, lease.vendor_class) == (f"android-{result.handset.android_id}", "android-dhcp-9")


def test_pre_consent_telemetry_is_caught_before_the_consent_marker_only(
    run: Callable[[str], ProfileRun],
) -> None:
    result = run("oem-pre-consent-telemetry")
    [finding] = findings(result, "consent")
    assert finding.rule == "before-consent"
    assert finding.flow is not None
    assert finding.flow.server_name == "telemetry.oem.example"
    assert finding.phase == "network-attach"
    consent = next(m for m in result.capture.markers if m.phase == "consent")
    assert consent.detail["accepted"] is True
    assert consent.detail["diagnostics"] is False
    after = [r for r in result.sink_records if r.sni == "telemetry.oem.example" and r.ts > consent.ts]
    assert after == [], "with diagnostics off the firmware sends no statistics after consent"


def test_the_imei_to_the_crash_reporter_is_an_undeclared_recipient(run: Callable[[str], ProfileRun]) -> None:
    result = run("oem-wrong-recipient")
    [finding] = findings(result, "identifier-recipients")
    assert (finding.identifier, finding.decode) == ("imei", "http-body>json:imei")
    assert "declared endpoint 'OEM crash reports'" in finding.detail


def test_a_sha256_of_the_imei_in_a_header_is_the_imei_in_clear(run: Callable[[str], ProfileRun]) -> None:
    result = run("oem-hashed-imei")
    [finding] = findings(result, "no-cleartext-identifiers")
    assert finding.identifier == "imei"
    assert finding.decode == "http-header:X-Device-Id"
    assert finding.form is not None
    assert finding.form.startswith("sha256-hex(")
    assert result.verdict("identifier-recipients") == "PASS", "the activation endpoint may receive the IMEI"


def test_an_ip_literal_endpoint_is_undeclared_and_was_never_looked_up(
    run: Callable[[str], ProfileRun],
) -> None:
    result = run("oem-ip-literal")
    # The Host header names the same address: no claim of its own, the destination is judged once.
    [finding] = findings(result, "declared-endpoints")
    assert finding.flow is not None
    assert finding.flow.dst == "198.51.100.23"
    assert "an IP literal" in finding.detail
    assert not [q for q in result.dns_queries if "198.51.100.23" in q.name or "config.oem.example" in q.name]


def test_identifiers_in_dns_query_names_are_found(run: Callable[[str], ProfileRun]) -> None:
    result = run("oem-dns-exfiltration")
    found = {(f.identifier, f.decode) for f in findings(result, "no-cleartext-identifiers")}
    assert found == {("imei", "dns-qname"), ("android_id", "dns-qname")}
    handset = result.handset
    name = f"{handset.imeis[0]}.{handset.android_id}.id.svc.oem.example"
    assert name in {q.name for q in result.dns_queries}
    assert result.verdict("declared-endpoints") == "PASS", "the name is under a declared domain"
