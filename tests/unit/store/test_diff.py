"""The diff between two sides, on records: what counts as a regression, per phase, and what never hides one."""

from __future__ import annotations

from phonehome.store.diff import Side, diff
from phonehome.store.records import Endpoint, RunRecord, Sent

GOOGLE = Endpoint("boot", "android.googleapis.com", 443, "tcp", "sni", "142.250.74.110", "tls")
ZZHC = Endpoint("setup-wizard", "zzhc.vnet.cn", 9999, "tcp", "http-host", "203.0.113.5", "cleartext")
IMEI = Sent(
    "setup-wizard",
    "imei",
    "zzhc.vnet.cn",
    9999,
    "tcp",
    "imei",
    "http-body>json:IMEI1",
    "cleartext-identifier",
)
PASSING = {"declared-endpoints": "PASS", "identifier-recipients": "PASS", "regions": "INCONCLUSIVE"}


def run(
    run_id: str,
    endpoints: list[Endpoint],
    sent: list[Sent] | None = None,
    verdicts: dict[str, str] | None = None,
    **kw: object,
) -> RunRecord:
    verdicts = PASSING if verdicts is None else verdicts
    result = "FAIL" if "FAIL" in verdicts.values() else "PASS" if verdicts else None
    return RunRecord(
        run_id, "b", device=f"virtual:{run_id}", result=result, verdicts=dict(verdicts),
        endpoints=endpoints, sent=sent or [], **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def side(*runs: RunRecord) -> Side:
    return Side("side", list(runs))


def test_the_same_runs_are_no_regression_even_as_a_gate() -> None:
    result = diff(side(run("a", [GOOGLE])), side(run("b", [GOOGLE])), gate=True)
    assert not result.regressed
    assert result.phases == {}
    assert result.verdicts == []


def test_an_identifier_newly_sent_is_a_regression_naming_kind_and_recipient() -> None:
    result = diff(side(run("a", [GOOGLE])), side(run("b", [GOOGLE, ZZHC], [IMEI])))
    assert result.regressed
    (new,) = result.phases["setup-wizard"]["identifiers_new"]
    assert (new["identifier"], new["to"], new["devices"]) == ("imei", "zzhc.vnet.cn:9999/tcp", ["virtual:b"])
    assert any("sends imei -> zzhc.vnet.cn:9999/tcp" in r for r in result.reasons)


def test_a_new_endpoint_is_listed_always_and_a_regression_under_the_gate() -> None:
    old, new = side(run("a", [GOOGLE])), side(run("b", [GOOGLE, ZZHC]))
    plain, gated = diff(old, new), diff(old, new, gate=True)
    assert plain.phases["setup-wizard"]["endpoints_new"][0]["name"] == "zzhc.vnet.cn"
    assert not plain.regressed
    assert gated.regressed
    assert gated.reasons == ["setup-wizard: reaches zzhc.vnet.cn:9999/tcp, which side did not"]


def test_an_endpoint_in_another_phase_than_before_is_listed_and_regresses_only_by_phase() -> None:
    early = Endpoint("boot", *ZZHC.key[1:])
    sent_early = Sent("boot", *IMEI.key[1:])
    old, new = side(run("a", [ZZHC], [IMEI])), side(run("b", [early], [sent_early]))
    result = diff(old, new, gate=True)
    (moved,) = result.phases["boot"]["endpoints_new"]
    assert (moved["name"], moved["older_in"]) == ("zzhc.vnet.cn", ["setup-wizard"])
    assert result.phases["boot"]["identifiers_new"][0]["older_in"] == ["setup-wizard"]
    assert result.phases["setup-wizard"]["endpoints_gone"][0]["name"] == "zzhc.vnet.cn"
    assert not result.regressed  # a flow a moment later, across a marker, is the same behaviour
    strict = diff(old, new, gate=True, by_phase=True)
    assert strict.reasons == [
        "boot: reaches zzhc.vnet.cn:9999/tcp, which side did not in that phase (only in setup-wizard)",
        "boot: sends imei -> zzhc.vnet.cn:9999/tcp, which side did not in that phase (only in setup-wizard)",
    ]


def test_another_port_or_protocol_is_another_endpoint() -> None:
    for other in (Endpoint("boot", GOOGLE.name, 80, "tcp"), Endpoint("boot", GOOGLE.name, 443, "udp")):
        assert diff(side(run("a", [GOOGLE])), side(run("b", [other])), gate=True).regressed


def test_what_is_gone_is_listed_and_no_regression() -> None:
    result = diff(side(run("a", [GOOGLE, ZZHC], [IMEI])), side(run("b", [GOOGLE])), gate=True)
    assert not result.regressed
    assert result.phases["setup-wizard"]["endpoints_gone"][0]["name"] == "zzhc.vnet.cn"
    assert result.phases["setup-wizard"]["identifiers_gone"][0]["identifier"] == "imei"


def test_a_verdict_that_proves_less_is_a_regression_one_that_proves_more_is_not() -> None:
    worse = diff(
        side(run("a", [])), side(run("b", [], verdicts={**PASSING, "identifier-recipients": "FAIL"}))
    )
    assert worse.verdicts == [
        {"assertion": "identifier-recipients", "old": "PASS", "new": "FAIL", "regression": True}
    ]
    assert worse.regressed
    unsure = diff(
        side(run("a", [])), side(run("b", [], verdicts={**PASSING, "declared-endpoints": "INCONCLUSIVE"}))
    )
    assert unsure.regressed
    fixed = diff(side(run("a", [], verdicts={**PASSING, "declared-endpoints": "FAIL"})), side(run("b", [])))
    assert fixed.verdicts[0]["regression"] is False
    assert not fixed.regressed


def test_a_fail_that_turns_inconclusive_is_no_regression_but_a_sound_capture_is_required() -> None:
    old = run("a", [], verdicts={**PASSING, "declared-endpoints": "FAIL"})
    new = run("b", [], verdicts={**PASSING, "declared-endpoints": "INCONCLUSIVE"})
    assert not diff(side(old), side(new)).regressed
    new.doubts = ["no traffic from the handset"]
    assert diff(side(old), side(new)).regressed


def test_an_assertion_the_older_never_judged_regresses_when_it_does_not_pass() -> None:
    new = run("b", [], verdicts={**PASSING, "certificate-validation": "INCONCLUSIVE"})
    assert diff(side(run("a", [])), side(new)).verdicts[0]["regression"] is True
    new.verdicts["certificate-validation"] = "PASS"
    assert not diff(side(run("a", [])), side(new)).regressed


def test_a_newer_run_without_verdict_cannot_pass_the_gate_by_reaching_nothing() -> None:
    lost = RunRecord("lost", "b", device="virtual:lost", reason="the bench did not come up")
    result = diff(side(run("a", [GOOGLE])), side(run("b", [GOOGLE]), lost), gate=True)
    assert result.regressed
    assert "the bench did not come up" in result.unproven[0]
    assert all(v["new"] == "NO VERDICT" for v in result.verdicts)


def test_a_newer_capture_in_doubt_cannot_pass_the_gate() -> None:
    doubtful = run("b", [], doubts=["the capture dropped 12 packets"])
    result = diff(side(run("a", [GOOGLE])), side(doubtful), gate=True)
    assert result.regressed
    assert "dropped 12 packets" in result.unproven[0]


def test_a_batch_is_the_union_of_its_runs_and_its_worst_verdict() -> None:
    old = side(run("a1", [GOOGLE]), run("a2", [GOOGLE]))
    new = side(
        run("b1", [GOOGLE]), run("b2", [GOOGLE, ZZHC], [IMEI], verdicts={**PASSING, "consent": "FAIL"})
    )
    result = diff(old, new, gate=True)
    assert result.phases["setup-wizard"]["endpoints_new"][0]["devices"] == ["virtual:b2"]
    assert {v["assertion"]: v["new"] for v in result.verdicts} == {"consent": "FAIL"}
    assert result.regressed


def test_the_form_or_decode_chain_of_a_known_send_is_not_a_new_send() -> None:
    hashed = Sent(*IMEI.key, form="md5-hex(imei)", decode="http-body", rule="undeclared-recipient")
    result = diff(side(run("a", [ZZHC], [IMEI])), side(run("b", [ZZHC], [hashed])), gate=True)
    assert not result.regressed


def test_the_text_diff_shows_hostile_names_as_text() -> None:
    from phonehome.store.diff import render

    evil = Endpoint("boot", "\x1b[2J\x1b]0;pwned\x07evil.example\u202e", 443, "tcp")
    lines = render(diff(side(run("a", [])), side(run("b", [evil])), gate=True))
    assert not any("\x1b" in line or "\u202e" in line or "\x07" in line for line in lines)
    assert any("evil.example" in line for line in lines)
    assert lines[-1].startswith("REGRESSION")
