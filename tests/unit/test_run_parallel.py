"""`phonehome run --jobs N`: handsets at once, each in its own folder, the summary in --device order;
each handset judged against its inventory entry's manifest, ``--manifest`` only the default."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.cli import build_parser
from phonehome.compliance import DeviceSpec, device_manifest
from phonehome.policy import registry
from phonehome.report import folder as results
from phonehome.run import run
from tests.unit.plugin.fake_suite import ENV, fake, make_suite

BENCH = "benches/virtual.yaml"
HANDSETS = [
    "virtual:aosp-clean",
    "virtual:nokia-7-plus-2019",
    "virtual:oem-ip-literal",
    "virtual:oem-hashed-imei",
]
NAMES = [a.name for a in registry()]
INVENTORY = Path("devices/virtual-inventory.yaml")


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # benches/, manifests/ as the CLI sees them


class Children:
    """A launcher that writes what a child would, slowly, and counts how many run at once."""

    def __init__(self, verdict_of: dict[str, str], seconds: float = 0.3) -> None:
        self.verdict_of, self.seconds = verdict_of, seconds
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.argv: dict[str, list[str]] = {}

    def __call__(self, argv: Sequence[str], log: Path, timeout: float) -> int:
        device = next(a.removeprefix("--device=") for a in argv if a.startswith("--device="))
        folder = Path(next(a.removeprefix("--results-dir=") for a in argv if a.startswith("--results-dir=")))
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.argv[device] = list(argv)
        time.sleep(self.seconds)
        result = self.verdict_of[device]
        tests = [{"nodeid": f"t[{n}]", "assertions": [n], "outcome": "failed" if result == "FAIL" else "passed",
                  "message": ""} for n in NAMES]  # fmt: skip
        verdicts = [{"assertion": n, "result": result} for n in NAMES]
        results.write_json(folder / results.SESSION, {"run_id": device, "device": device, "state": "finished",
                           "exitstatus": 0, "error": None, "tests": tests})  # fmt: skip
        results.write_json(folder / results.EVALUATION, {"run_id": device, "device": device, "result": result,
                           "verdicts": verdicts, "findings": []})  # fmt: skip
        with self.lock:
            self.running -= 1
        return 1 if result == "FAIL" else 0


def _run(tmp_path: Path, children: Children, jobs: int, **kwargs: object) -> tuple[int, dict[str, object]]:
    lines: list[str] = []
    status = run(HANDSETS, suite=Path("tests/compliance"), results_dir=tmp_path, bench=BENCH, out=lines.append,
                 launch=children, jobs=jobs, fmt="json", **kwargs)  # type: ignore[arg-type]  # fmt: skip
    return status, json.loads(lines[-1])


def test_jobs_run_handsets_at_once_and_the_summary_keeps_the_device_order(tmp_path: Path) -> None:
    verdict_of = dict(zip(HANDSETS, ["PASS", "FAIL", "PASS", "FAIL"], strict=True))
    children = Children(verdict_of)
    status, summary = _run(tmp_path, children, jobs=4)
    assert children.most == 4  # all four children at once, not one after another
    assert status == exits.FAIL
    handsets = summary["handsets"]
    assert isinstance(handsets, list)
    assert [h["device"] for h in handsets] == HANDSETS
    assert [h["result"] for h in handsets] == [verdict_of[d] for d in HANDSETS]
    assert len({h["results"] for h in handsets}) == 4  # a folder each
    assert all(set(h["verdicts"].values()) == {verdict_of[h["device"]]} for h in handsets)
    page = (Path(str(summary["results"])) / "report.html").read_text()
    assert all(d in page for d in HANDSETS)  # the batch report lists every handset


def test_one_job_runs_handsets_one_after_another(tmp_path: Path) -> None:
    children = Children(dict.fromkeys(HANDSETS, "PASS"), seconds=0.05)
    status, _summary = _run(tmp_path, children, jobs=1)
    assert (status, children.most) == (exits.PASS, 1)


def test_jobs_must_be_a_whole_number_of_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--device", "virtual:aosp-clean", "--jobs", "0"])
    assert "at least 1" in capsys.readouterr().err
    assert build_parser().parse_args(["run", "--device", "virtual:x", "-j", "3"]).jobs == 3


def _inventory(tmp_path: Path, manifests: dict[str, str]) -> Path:
    """The shipped virtual inventory with ``manifest:`` added to the entries of ``manifests``' labels."""
    out = []
    label = ""
    for line in INVENTORY.read_text().splitlines():
        if line.strip().startswith("label: virtual "):
            label = line.strip().removeprefix("label: virtual ")
            out.append(line)
            if label in manifests:
                out.append(f"    manifest: {manifests[label]}")
            continue
        out.append(line)
    path = tmp_path / "inventory.yaml"
    path.write_text("\n".join(out) + "\n")
    return path


def test_an_inventory_entry_names_its_handsets_manifest_and_the_given_one_is_only_the_default(
    tmp_path: Path,
) -> None:
    inventory = _inventory(tmp_path, {"nokia-7-plus-2019": "nokia-7-plus-https"})
    given = Path("manifests/oem-example-first-boot.yaml")
    nokia, aosp = DeviceSpec.parse("virtual:nokia-7-plus-2019"), DeviceSpec.parse("virtual:aosp-clean")
    assert device_manifest(nokia, inventory, given) == Path("manifests/nokia-7-plus-https.yaml")
    assert device_manifest(aosp, inventory, given) == given
    assert device_manifest(aosp, inventory, None) == Path("manifests/aosp-google-first-boot.yaml")
    assert device_manifest(nokia, None, None) == Path("manifests/nokia-7-plus-global-2019.yaml")


def test_a_batch_passes_each_child_its_own_manifest(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, {"nokia-7-plus-2019": "nokia-7-plus-https"})
    children = Children(dict.fromkeys(HANDSETS, "PASS"), seconds=0.01)
    status, _summary = _run(tmp_path / "r", children, jobs=2, inventory=str(inventory),
                            manifest="manifests/oem-example-first-boot.yaml")  # fmt: skip
    assert status == exits.PASS
    manifests = {d: [a for a in argv if a.startswith("--manifest=")] for d, argv in children.argv.items()}
    assert manifests["virtual:nokia-7-plus-2019"] == ["--manifest=manifests/nokia-7-plus-https.yaml"]
    assert manifests["virtual:aosp-clean"] == ["--manifest=manifests/oem-example-first-boot.yaml"]


def test_an_inventory_manifest_with_a_typo_is_bad_input_before_anything_runs(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, {"aosp-clean": "no-such-manifest"})
    lines: list[str] = []
    status = run(["virtual:aosp-clean"], suite=Path("tests/compliance"), results_dir=tmp_path / "r", bench=BENCH,
                 inventory=str(inventory), out=lines.append, launch=Children({}))  # fmt: skip
    assert status == exits.BAD_INPUT
    assert any("no-such-manifest" in line for line in lines), lines


def test_real_children_at_once_give_the_verdicts_of_children_one_after_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = make_suite(tmp_path / "suite")
    monkeypatch.setenv(ENV, fake(by_device={"virtual:nokia-7-plus-2019": {"transport": "FAIL"}}))
    devices = HANDSETS[:3]
    summaries = []
    for jobs in (1, 3):
        lines: list[str] = []
        run(devices, suite=suite, results_dir=tmp_path / f"j{jobs}", bench=BENCH, out=lines.append,
            jobs=jobs, fmt="json", options=["-p", "no:hypothesispytest"])  # fmt: skip
        summaries.append(json.loads(lines[-1]))
    one, three = ({h["device"]: (h["status"], h["verdicts"]) for h in s["handsets"]} for s in summaries)
    assert one == three
    assert one["virtual:nokia-7-plus-2019"][1]["transport"] == "FAIL"
    assert summaries[0]["status"] == summaries[1]["status"] == exits.FAIL


def test_after_ctrl_c_no_handset_still_waiting_for_a_job_starts(tmp_path: Path) -> None:
    started: list[str] = []

    def interrupted(argv: Sequence[str], log: Path, timeout: float) -> int:
        started.append(next(a for a in argv if a.startswith("--device=")))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(HANDSETS, suite=Path("tests/compliance"), results_dir=tmp_path, bench=BENCH, out=lambda _line: None,
            launch=interrupted, jobs=1)  # fmt: skip
    assert started == [f"--device={HANDSETS[0]}"]
