"""`phonehome run`: each handset's own folder, its verdict only when its session agrees, distinct statuses.

Children here are either functions that write what a child would (fast, for
timing: many runs in one second), or real child pytest sessions of the real
suite and plugin with the bench faked (`tests.unit.plugin.fake_suite`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.policy import registry
from phonehome.report import folder as results
from phonehome.run import DeviceResult, _status, _table, collect, run, run_one
from tests.unit.plugin.fake_suite import ENV, fake, make_suite

BENCH = "benches/virtual.yaml"
NOKIA, AOSP = "virtual:nokia-7-plus-2019", "virtual:aosp-clean"
NAMES = [a.name for a in registry()]
QUICK = ("-p", "no:hypothesispytest")  # a child has no use for it, and it costs seconds to load
OUTCOME = {"PASS": "passed", "FAIL": "failed", "INCONCLUSIVE": "broken", "NOT_APPLICABLE": "skipped"}


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # benches/, manifests/ as the CLI sees them


def _result(device: str, result: str | None, findings: int = 0, status: int | None = None) -> DeviceResult:
    evaluation = None
    if result is not None:
        evaluation = {
            "result": result,
            "verdicts": [{"assertion": "declared-endpoints", "result": result}],
            "findings": [{"rule": "undeclared-endpoint", "detail": "zzhc.vnet.cn:80/tcp is not declared"}]
            * findings,
        }
    code = status if status is not None else exits.FOR_RESULT[result or "FAIL"]
    return DeviceResult(device, code, Path("/r") / device, evaluation, "" if result else "bench error")


# -- the summary and the worst status ---------------------------------------------------------------


def test_the_worst_verdict_decides_the_exit_status() -> None:
    assert _status([_result("a", "PASS"), _result("b", "NOT_APPLICABLE")]) == exits.PASS
    assert _status([_result("a", "PASS"), _result("b", "INCONCLUSIVE")]) == exits.INCONCLUSIVE
    assert _status([_result("a", "INCONCLUSIVE"), _result("b", "FAIL")]) == exits.FAIL


def test_a_handset_without_verdicts_is_never_summed_up_as_a_pass_or_a_fail() -> None:
    assert _status([_result("a", "PASS"), _result("b", None, status=exits.NO_VERDICT)]) == exits.NO_VERDICT
    assert _status([_result("a", "FAIL"), _result("b", None, status=exits.INTERNAL_ERROR)]) == 6
    assert _status([_result("a", "FAIL"), _result("b", None, status=exits.BAD_INPUT)]) == exits.BAD_INPUT
    lines = _table([_result("b", None, status=exits.NO_VERDICT)])
    assert "b: NO VERDICT: bench or device error: bench error (log: /r/b/pytest.log)" in lines


def test_repeated_findings_are_one_line_with_a_count() -> None:
    lines = _table([_result("nokia", "FAIL", findings=10)])
    shown = [line for line in lines if "undeclared-endpoint" in line]
    assert shown == ["    undeclared-endpoint x10"]


def test_each_kind_of_finding_is_one_line_naming_identifiers_and_endpoints() -> None:
    flow = {"server_name": "zzhc.vnet.cn", "dst": "198.18.0.8", "dport": 80, "proto": "tcp"}
    dhcp = {"server_name": None, "dst": "255.255.255.255", "dport": 67, "proto": "udp"}
    findings = [{"rule": "cleartext-identifier", "identifier": kind, "flow": where, "detail": "x"}
                for kind, where in (("imei", flow), ("iccid", flow), ("imei", flow), ("android_id", dhcp))]  # fmt: skip
    outcome = DeviceResult(
        NOKIA, exits.FAIL, Path("/r"), {"result": "FAIL", "findings": findings, "verdicts": []}
    )
    shown = [line for line in _table([outcome]) if "cleartext-identifier" in line]
    assert shown == [
        "    cleartext-identifier x4: imei, iccid, android_id -> zzhc.vnet.cn:80/tcp, 255.255.255.255:67/udp"
    ]


def test_quiet_is_one_line_per_handset_and_verbose_gives_every_reason() -> None:
    outcome = DeviceResult(NOKIA, exits.FAIL, Path("/r"), {"result": "FAIL", "findings": [], "doubts": ["d1"],
        "verdicts": [{"assertion": "transport", "result": "PASS", "reason": "no TLS below 1.2"}]})  # fmt: skip
    assert _table([outcome], quiet=True) == [f"{NOKIA}: FAIL"]
    verbose = _table([outcome], verbose=True)
    assert "  transport                  PASS: no TLS below 1.2" in verbose
    assert "    doubt: d1" in verbose
    assert "  transport                  PASS" in _table([outcome])


def test_the_statuses_are_distinct() -> None:
    statuses = [exits.PASS, exits.FAIL, exits.USAGE, exits.INCONCLUSIVE, exits.BAD_INPUT, exits.NO_VERDICT, 6]
    assert statuses == list(range(7))


# -- what one folder says (collect) -----------------------------------------------------------------


def _session(
    folder: Path, run_id: str, verdicts: dict[str, str], device: str = AOSP, **changes: object
) -> None:
    tests = [
        {"nodeid": f"t[{name}]", "assertions": [name], "outcome": OUTCOME[result], "message": ""}
        for name, result in verdicts.items()
    ]
    record = {"run_id": run_id, "device": device, "state": "finished", "exitstatus": 0, "error": None}
    results.write_json(folder / results.SESSION, {**record, "tests": tests, **changes})


def _evaluation(
    folder: Path, run_id: str, verdicts: dict[str, str], device: str = AOSP, **changes: object
) -> None:
    worst = next((r for r in ("FAIL", "INCONCLUSIVE", "PASS") if r in verdicts.values()), "NOT_APPLICABLE")
    doc = {
        "run_id": run_id,
        "device": device,
        "result": worst,
        "verdicts": [{"assertion": a, "result": r} for a, r in verdicts.items()],
        "findings": [],
    }
    results.write_json(folder / results.EVALUATION, {**doc, **changes})


def _verdicts(**overrides: str) -> dict[str, str]:
    return {name: overrides.get(name.replace("-", "_"), "PASS") for name in NAMES}


@pytest.mark.parametrize(
    ("verdicts", "pytest_status", "status"),
    [
        (_verdicts(), 0, exits.PASS),
        (_verdicts(consent="NOT_APPLICABLE"), 0, exits.PASS),
        (_verdicts(declared_endpoints="FAIL", consent="INCONCLUSIVE"), 1, exits.FAIL),
        (_verdicts(consent="INCONCLUSIVE"), 1, exits.INCONCLUSIVE),
    ],
)
def test_a_session_that_agrees_with_its_evaluation_gives_its_verdict(
    tmp_path: Path, verdicts: dict[str, str], pytest_status: int, status: int
) -> None:
    _session(tmp_path, "r1", verdicts)
    _evaluation(tmp_path, "r1", verdicts)
    outcome = collect(AOSP, tmp_path, pytest_status)
    assert (outcome.status, outcome.reason) == (status, "")
    assert outcome.results == tmp_path


def test_a_test_that_failed_while_the_evaluation_says_pass_is_an_internal_error(tmp_path: Path) -> None:
    _session(tmp_path, "r1", _verdicts(transport="FAIL"))
    _evaluation(tmp_path, "r1", _verdicts())
    outcome = collect(AOSP, tmp_path, 1)
    assert outcome.status == exits.INTERNAL_ERROR
    assert outcome.evaluation is None
    assert "t[transport] failed but evaluation.json says transport PASS" in outcome.reason


def test_a_suite_that_passed_a_failing_verdict_is_an_internal_error(tmp_path: Path) -> None:
    _session(tmp_path, "r1", _verdicts())
    _evaluation(tmp_path, "r1", _verdicts(declared_endpoints="FAIL"))
    outcome = collect(AOSP, tmp_path, 0)
    assert outcome.status == exits.INTERNAL_ERROR
    assert "passed but evaluation.json says declared-endpoints FAIL" in outcome.reason


def test_an_evaluation_from_another_session_is_not_believed(tmp_path: Path) -> None:
    _session(tmp_path, "mine", _verdicts())
    _evaluation(tmp_path, "yesterday", _verdicts())
    outcome = collect(AOSP, tmp_path, 0)
    assert outcome.status == exits.INTERNAL_ERROR
    assert "from run 'yesterday'" in outcome.reason


def test_an_overall_result_that_is_not_the_worst_verdict_is_not_believed(tmp_path: Path) -> None:
    _session(tmp_path, "r1", _verdicts(transport="FAIL"))
    _evaluation(tmp_path, "r1", _verdicts(transport="FAIL"), result="PASS")
    assert collect(AOSP, tmp_path, 1).status == exits.INTERNAL_ERROR


def test_a_verdict_no_test_judged_is_no_verdict(tmp_path: Path) -> None:
    verdicts = _verdicts()
    _session(tmp_path, "r1", {"transport": "PASS"})  # -x or -k left the others unjudged
    _evaluation(tmp_path, "r1", verdicts)
    outcome = collect(AOSP, tmp_path, 0)
    assert outcome.status == exits.NO_VERDICT
    assert "no test of the session judged declared-endpoints" in outcome.reason


@pytest.mark.parametrize(
    ("kind", "status"),
    [("bad-input", exits.BAD_INPUT), ("no-verdict", exits.NO_VERDICT), ("internal", exits.INTERNAL_ERROR)],
)
def test_an_error_before_verdicts_has_its_own_status_and_reason(
    tmp_path: Path, kind: str, status: int
) -> None:
    _session(tmp_path, "r1", {}, error={"kind": kind, "message": "m.yaml:3: host: Field required"})
    outcome = collect(AOSP, tmp_path, 1)
    assert (outcome.status, outcome.reason) == (status, "m.yaml:3: host: Field required")


def test_a_child_killed_mid_run_is_an_internal_error_even_with_an_evaluation(tmp_path: Path) -> None:
    results.claim(tmp_path, {"run_id": "r1", "device": AOSP})  # what the child wrote when it began
    _evaluation(tmp_path, "r1", _verdicts())
    outcome = collect(AOSP, tmp_path, -9)
    assert outcome.status == exits.INTERNAL_ERROR
    assert "did not finish" in outcome.reason


def test_a_folder_holding_another_handsets_run_is_not_believed(tmp_path: Path) -> None:
    _session(tmp_path, "r1", _verdicts(), device=NOKIA)  # e.g. `-- --device=...` among the pytest options
    _evaluation(tmp_path, "r1", _verdicts(), device=NOKIA)
    outcome = collect(AOSP, tmp_path, 0)
    assert outcome.status == exits.INTERNAL_ERROR
    assert f"holds a run of {NOKIA}, not {AOSP}" in outcome.reason


def test_inconclusive_verdicts_print_what_to_supply() -> None:
    outcome = DeviceResult(AOSP, exits.INCONCLUSIVE, Path("/r"), {"result": "INCONCLUSIVE", "findings": [],
        "verdicts": [{"assertion": "no-cleartext-identifiers", "result": "INCONCLUSIVE",
                      "reason": "the identity lacks imei: declare them in the inventory (--inventory)"}]})  # fmt: skip
    assert (
        "  no-cleartext-identifiers   INCONCLUSIVE: the identity lacks imei: declare them in the inventory "
        "(--inventory)" in _table([outcome])
    )


def test_a_half_written_evaluation_is_an_internal_error(tmp_path: Path) -> None:
    _session(tmp_path, "r1", _verdicts())
    (tmp_path / results.EVALUATION).write_text('{"run_id": "r1", "result": "PA')
    assert collect(AOSP, tmp_path, 0).status == exits.INTERNAL_ERROR


def test_a_child_that_wrote_nothing_is_an_internal_error_never_a_fail(tmp_path: Path) -> None:
    (tmp_path / "pytest.log").write_text("Traceback (most recent call last):\nMemoryError\n")
    outcome = collect(AOSP, tmp_path, 1)
    assert outcome.status == exits.INTERNAL_ERROR
    assert "MemoryError" in outcome.reason


def test_a_child_that_refused_its_options_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pytest.log").write_text("ERROR: unrecognized arguments: --frobnicate\n")
    outcome = collect(AOSP, tmp_path, 4)
    assert outcome.status == exits.USAGE
    assert "unrecognized arguments: --frobnicate" in outcome.reason


def test_a_child_out_of_time_is_no_verdict(tmp_path: Path) -> None:
    assert collect(AOSP, tmp_path, None).status == exits.NO_VERDICT


# -- runs started together --------------------------------------------------------------------------


def _writes_like_a_child(verdict_of: dict[str, str]) -> tuple[list[Path], object]:
    """A launcher that writes, into the folder its argv names and nowhere else, what a child would."""
    seen: list[Path] = []
    lock = threading.Lock()

    def launch(argv: Sequence[str], log: Path, timeout: float) -> int:
        folder = Path(next(a for a in argv if a.startswith("--results-dir=")).split("=", 1)[1])
        device = next(a for a in argv if a.startswith("--device=")).split("=", 1)[1]
        with lock:
            seen.append(folder)
        run_id = folder.name
        results.claim(folder, {"run_id": run_id, "device": device})
        verdicts = _verdicts(declared_endpoints=verdict_of[device])
        _evaluation(folder, run_id, verdicts, device)
        _session(folder, run_id, verdicts, device)
        return 0 if verdict_of[device] == "PASS" else 1

    return seen, launch


def test_runs_started_in_the_same_second_never_share_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results.time, "strftime", lambda fmt: "20190301-120000")
    verdict_of = {NOKIA: "FAIL", AOSP: "PASS"}
    seen, launch = _writes_like_a_child(verdict_of)
    statuses: dict[int, int] = {}
    outputs: dict[int, list[str]] = {i: [] for i in range(4)}
    devices = [NOKIA, AOSP, NOKIA, AOSP]

    def one(i: int) -> None:
        statuses[i] = run(
            [devices[i]], suite=Path("tests/compliance"), results_dir=tmp_path, bench=BENCH,
            out=outputs[i].append, launch=launch,  # type: ignore[arg-type]
        )  # fmt: skip

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {0: exits.FAIL, 1: exits.PASS, 2: exits.FAIL, 3: exits.PASS}
    assert len(set(seen)) == 4
    run_dirs = sorted(
        p for p in tmp_path.iterdir() if p.is_dir()
    )  # the results store's file sits beside the run folders
    assert len(run_dirs) == 4
    assert all(d.name.startswith("run-20190301-120000-") for d in run_dirs)
    for i in range(4):
        report = Path(outputs[i][-1].removeprefix("report: "))
        assert report.name == "report.html"
        (summary,) = json.loads((report.parent / "summary.json").read_text())
        assert Path(summary["results"]).parent == report.parent
        assert summary["result"] == verdict_of[devices[i]]


def test_a_newer_folder_of_the_same_handset_is_never_read(tmp_path: Path) -> None:
    decoy = tmp_path / "virtual-aosp-clean-20990101-000000-ffffffff"  # another run's, sorting last
    decoy.mkdir()
    _session(decoy, "other", _verdicts())
    _evaluation(decoy, "other", _verdicts())
    outcome = run_one(AOSP, Path("tests/compliance"), tmp_path, [], launch=lambda argv, log, timeout: 1)
    assert outcome.status == exits.INTERNAL_ERROR
    assert outcome.results != decoy


def test_a_name_already_taken_is_drawn_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results.time, "strftime", lambda fmt: "20190301-120000")
    draws = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(results.secrets, "token_hex", lambda n: next(draws))
    (tmp_path / "run-20190301-120000-aaaa").mkdir()  # a stale folder from yesterday's clock, or a rival
    assert results.new_folder(tmp_path, "run").name == "run-20190301-120000-bbbb"


# -- inputs checked before any bench ----------------------------------------------------------------


def _never(argv: Sequence[str], log: Path, timeout: float) -> int:
    raise AssertionError("no child may start when an input is bad")


@pytest.mark.parametrize(
    ("devices", "says"),
    [
        (["virtual:"], "expected virtual:PROFILE or adb:SERIAL"),
        (["virtual:no-such-profile"], "no virtual handset profile 'no-such-profile'"),
        ([AOSP, "virtual:nokia-7-plus-2091"], "no virtual handset profile 'nokia-7-plus-2091'"),
    ],
)
def test_a_bad_device_is_bad_input_before_anything_runs(
    tmp_path: Path, devices: list[str], says: str
) -> None:
    lines: list[str] = []
    status = run(devices, suite=Path("tests/compliance"), results_dir=tmp_path, bench=BENCH, out=lines.append,
                 launch=_never)  # fmt: skip
    assert status == exits.BAD_INPUT
    assert any(says in line for line in lines), lines
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_typo_is_bad_input_naming_file_and_line(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    text = Path("manifests/aosp-google-first-boot.yaml").read_text()
    manifest.write_text(text.replace("endpoints:", "endpoint:", 1))
    lines: list[str] = []
    status = run([AOSP], suite=Path("tests/compliance"), results_dir=tmp_path / "r", bench=BENCH,
                 manifest=str(manifest), out=lines.append, launch=_never)  # fmt: skip
    assert status == exits.BAD_INPUT
    assert any(line.startswith(f"phonehome run: {manifest}:") for line in lines), lines


@pytest.mark.parametrize("what", ["inventory", "bench"])
def test_a_missing_inventory_or_bench_is_bad_input(tmp_path: Path, what: str) -> None:
    missing = str(tmp_path / "missing.yaml")
    kwargs = {"inventory": missing, "bench": BENCH} if what == "inventory" else {"bench": missing}
    lines: list[str] = []
    status = run([AOSP], suite=Path("tests/compliance"), results_dir=tmp_path / "r", out=lines.append,
                 launch=_never, **kwargs)  # type: ignore[arg-type]  # fmt: skip
    assert status == exits.BAD_INPUT
    assert any(missing in line for line in lines), lines


# -- real child sessions of the real suite, bench faked ---------------------------------------------


Child = Callable[..., DeviceResult]


@pytest.fixture
def child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Child:
    """Runs one real child session of the fake suite (`fake_suite`) the way `phonehome run` does."""
    suite = make_suite(tmp_path / "suite")
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    def start(spec: str, *options: str) -> DeviceResult:
        monkeypatch.setenv(ENV, spec)
        return run_one(AOSP, suite, run_dir, [*QUICK, *options])

    return start


def test_a_real_child_that_agrees_gives_its_verdict(child: Child) -> None:
    outcome = child(fake(verdicts={"transport": "FAIL", "consent": "INCONCLUSIVE"}))
    assert (outcome.status, outcome.result, outcome.reason) == (exits.FAIL, "FAIL", "")
    session = json.loads((outcome.results / results.SESSION).read_text())  # type: ignore[operator]
    outcomes = {t["assertions"][0]: t["outcome"] for t in session["tests"]}
    assert outcomes == {
        name: OUTCOME[_verdicts(transport="FAIL", consent="INCONCLUSIVE")[name]] for name in NAMES
    }


def test_a_real_suite_that_hides_a_fail_is_an_internal_error(child: Child) -> None:
    outcome = child(fake(verdicts={"transport": "FAIL"}, swallow=True))
    assert outcome.status == exits.INTERNAL_ERROR
    assert "passed but evaluation.json says transport FAIL" in outcome.reason


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        ("bad-input", exits.BAD_INPUT, "m.yaml:3: endpoints.0.host"),
        ("no-verdict", exits.NO_VERDICT, "BenchError: dnsmasq on port wlan did not start"),
        ("internal", exits.INTERNAL_ERROR, "TypeError: unsupported operand"),
    ],
)
def test_a_real_child_error_before_verdicts_is_classified(
    child: Child, error: str, status: int, says: str
) -> None:
    outcome = child(fake(error=error))
    assert outcome.status == status
    assert says in outcome.reason


def test_a_real_child_killed_after_writing_its_evaluation_is_an_internal_error(child: Child) -> None:
    outcome = child(fake(die_after_evaluation=True))
    assert (outcome.results / results.EVALUATION).exists()  # type: ignore[operator]
    assert outcome.status == exits.INTERNAL_ERROR
    assert outcome.evaluation is None


def test_a_real_child_under_xdist_gives_its_verdict_from_one_worker(child: Child) -> None:
    outcome = child(fake(verdicts={"transport": "FAIL"}), "-n", "2")
    assert (outcome.status, outcome.result, outcome.reason) == (exits.FAIL, "FAIL", "")


def test_a_real_child_under_an_xdist_distribution_that_splits_it_refuses_in_one_line(child: Child) -> None:
    outcome = child(fake(), "-n", "2", "--dist", "load")
    assert outcome.status == exits.USAGE
    assert "pytest-xdist" in outcome.reason


def test_a_real_suite_that_cannot_be_collected_is_an_internal_error(child: Child, tmp_path: Path) -> None:
    (tmp_path / "suite" / "compliance" / "test_broken.py").write_text("import no_such_module_here\n")
    outcome = child(fake())
    assert outcome.status == exits.INTERNAL_ERROR
    assert "no_such_module_here" in outcome.reason
