"""A run's app attribution: the polled socket tables joined with its flows into apps.json and the report,
and never into a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phonehome.compliance import ComplianceRun
from phonehome.device.sockets import Poll, Row, SocketLog
from phonehome.policy.build import BuildIdentity, Package
from phonehome.report import folder as results
from tests.unit.policy import captures
from tests.unit.report import runs

AUTOREG = "com.qualcomm.qti.autoregistration"
JUDGE = ComplianceRun.judge


def _log(uid: int = 10051) -> SocketLog:
    """What a poll during the Nokia's self-registration would have seen: its POST's socket."""
    log = SocketLog()
    row = Row("tcp", captures.HANDSET, 41002, captures.ZZHC, 9999, "01", uid, 777)
    log.add(Poll(rows=[row], handset_time=captures.T0 + 3), captures.T0 + 3.2)
    return log


def _build() -> BuildIdentity:
    return BuildIdentity(
        *[""] * 5, 28, *[""] * 10,  # type: ignore[arg-type]
        packages=(Package(AUTOREG, "/system/app/AutoRegistration/AutoRegistration.apk", (10051,)),),
    )  # fmt: skip


def _with_sockets(monkeypatch: pytest.MonkeyPatch, *, sockets: bool = True) -> None:
    """Runs judge with the build (and the socket log, unless not ``sockets``) a handset would have given."""

    def judge(self: ComplianceRun, *args: object, **kw: object) -> object:
        self.sockets, self.build = (_log() if sockets else None), _build()
        return JUDGE(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ComplianceRun, "judge", judge)


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The report tests' Nokia run, judged with what the handset's socket tables showed."""
    _with_sockets(monkeypatch)
    return runs.handset_folder(tmp_path, sealed=False)


def _post_flow(folder: Path) -> int:
    flows = json.loads((folder / results.ANALYSIS).read_text())["flows"]
    return next(f["id"] for f in flows if f["dport"] == 9999 and f["proto"] == "tcp")


def test_the_self_registration_flow_is_attributed_to_its_package_in_apps_json(judged: Path) -> None:
    apps = json.loads((judged / results.APPS).read_text())
    owner = apps["flows"][str(_post_flow(judged))]
    assert owner["packages"] == [AUTOREG]
    assert owner["text"] == f"{AUTOREG} (uid 10051)"
    assert len(apps["flows"]) == 1  # the DNS lookup and the rest: no socket seen, no owner
    assert apps["sockets"][0]["uid"] == 10051


def test_the_report_says_who_sent_the_findings_and_owns_the_flow(judged: Path) -> None:
    page = (judged / "report.html").read_text(encoding="utf-8")
    assert f"<dt>sent by</dt><dd>{AUTOREG} (uid 10051), as the handset&#x27;s socket table says</dd>" in page
    assert "owner app" in page


def test_attribution_changes_no_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "attributed").mkdir()
    _with_sockets(monkeypatch, sockets=False)
    plain = runs.handset_folder(tmp_path / "plain", sealed=False)
    _with_sockets(monkeypatch)
    attributed = runs.handset_folder(tmp_path / "attributed", sealed=False)

    def verdicts(folder: Path) -> object:
        doc = json.loads((folder / results.EVALUATION).read_text())
        return [(v["assertion"], v["result"], v["reason"]) for v in doc["verdicts"]], doc["findings"]

    assert verdicts(plain) == verdicts(attributed)
    assert json.loads((attributed / results.APPS).read_text())["flows"]
    plain_apps = json.loads((plain / results.APPS).read_text())
    assert plain_apps["flows"] == {}
    assert plain_apps["notes"] == ["the handset's socket tables were not polled"]


def test_no_policy_module_reads_the_attribution() -> None:
    policy = Path(__file__).resolve().parents[2] / "phonehome" / "policy"
    readers = [
        p.name
        for p in policy.rglob("*.py")
        if p.name != "owners.py" and ("owners" in p.read_text() or "apps.json" in p.read_text())
    ]
    assert readers == []


def test_the_pollers_own_connection_waits_for_the_handset_and_reconnects_after_a_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phonehome.device import DeviceNotFoundError, Handset
    from phonehome.run_apps import OwnConnection

    made: list[str] = []
    present = {"on": False}

    def connect(serial: str, server: object, *, timeout: float) -> object:
        if not present["on"]:
            raise DeviceNotFoundError(serial, "connect", "not listed", "plug it in")
        made.append(serial)
        return object()

    monkeypatch.setattr(Handset, "connect", staticmethod(connect))
    serial: list[str | None] = [None]
    own = OwnConnection(lambda: serial[0], server=object())  # type: ignore[arg-type]
    assert own() is None  # switched off: nothing asked
    serial[0] = "emulator-5554"
    assert own() is None  # not on the adb server yet
    present["on"] = True
    first = own()
    assert first is not None
    assert own() is first
    own.lost()
    assert own() is not first
    assert made == ["emulator-5554", "emulator-5554"]


def test_a_user_builds_handset_is_not_asked_over_adb_before_the_scenario_reached_it() -> None:
    from types import SimpleNamespace

    from phonehome.links import AdbLink
    from phonehome.run_apps import OwnConnection, poller

    link = AdbLink("lab-1", server=object(), entry=SimpleNamespace(adb="after-setup"))  # type: ignore[arg-type]
    own = poller(link).source
    assert isinstance(own, OwnConnection)
    assert own.serial() is None
    link.handset = object()  # type: ignore[assignment]
    assert own.serial() == "lab-1"
    at_boot = poller(AdbLink("lab-2", server=object())).source  # type: ignore[arg-type]
    assert isinstance(at_boot, OwnConnection)
    assert at_boot.serial() == "lab-2"
