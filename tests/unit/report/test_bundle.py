"""The evidence bundle: every file with its SHA-256, the definitions and tools; `phonehome verify` checks it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from phonehome.cli import EXIT_BAD_INPUT, EXIT_OK, main
from phonehome.report import bundle
from tests.unit.report.runs import REPO, handset_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return handset_folder(tmp_path)


def _flip_one_byte(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_file_is_listed_with_its_sha256(folder: Path) -> None:
    doc = json.loads((folder / bundle.EVIDENCE).read_text())
    listed = {f["path"] for f in doc["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk - listed == {bundle.EVIDENCE, bundle.SUMS}
    for entry in doc["files"]:
        assert bundle.sha256(folder / entry["path"]) == entry["sha256"]
    assert {"bench/wlan.pcapng", "capture-phases.pcapng", "report.html", "evaluation.json"} <= listed


def test_the_definitions_used_are_copied_in_byte_for_byte(folder: Path) -> None:
    doc = json.loads((folder / bundle.EVIDENCE).read_text())
    definitions = doc["definitions"]
    assert (folder / definitions["bench"]).read_bytes() == (REPO / "benches" / "virtual.yaml").read_bytes()
    profile = REPO / "devices" / "virtual" / "nokia-7-plus-2019.yaml"
    assert (folder / definitions["profile"]).read_bytes() == profile.read_bytes()
    manifest = REPO / "manifests" / "nokia-7-plus-global-2019.yaml"
    assert (folder / definitions["manifest"]).read_bytes() == manifest.read_bytes()
    assert definitions["identity"] == "identity.json"
    assert (folder / definitions["scenario:first-boot"]).read_bytes() == (
        REPO / "scenarios" / "first-boot.py"
    ).read_bytes()
    assert doc["phonehome"]
    assert set(doc["tools"]) >= {"dumpcap", "tcpdump", "dnsmasq", "adb"}


def test_verify_passes_on_the_folder_as_sealed(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(folder)]) == EXIT_OK
    assert "files match" in capsys.readouterr().out


def test_verify_fails_after_one_byte_of_the_capture_changed(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _flip_one_byte(folder / "bench" / "wlan.pcapng")
    assert main(["verify", str(folder)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bench/wlan.pcapng: SHA-256 differs from the bundle's" in err
    assert "not the capture its bench sealed" in err


def test_verify_fails_when_the_bundle_and_the_capture_were_both_rewritten(folder: Path) -> None:
    _flip_one_byte(folder / "bench" / "wlan.pcapng")
    bundle.seal(folder)  # someone re-sealed after the change: capture.json still has the bench's hash
    checked, problems = bundle.verify(folder)
    assert checked > 10
    assert any("not the capture its bench sealed" in p for p in problems)


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda f: (f / "evaluation.json").write_text("{}"), "evaluation.json: SHA-256 differs"),
        (lambda f: (f / "report.html").unlink(), "report.html: missing"),
        (lambda f: (f / "extra.txt").write_text("x"), "extra.txt: not in the bundle"),
        (lambda f: (f / bundle.EVIDENCE).unlink(), "not an evidence bundle"),
        (lambda f: _flip_one_byte(f / bundle.EVIDENCE, 40), "evidence.json: does not match SHA256SUMS"),
    ],
)
def test_verify_names_what_changed(folder: Path, tamper, says: str) -> None:  # type: ignore[no-untyped-def]
    tamper(folder)
    _, problems = bundle.verify(folder)
    assert any(says in p for p in problems), problems


def test_a_bundle_listing_a_path_outside_the_folder_is_refused(folder: Path) -> None:
    doc = json.loads((folder / bundle.EVIDENCE).read_text())
    doc["files"].append({"path": "../../etc/passwd", "sha256": "0" * 64, "size": 1})
    (folder / bundle.EVIDENCE).write_text(json.dumps(doc))
    _, problems = bundle.verify(folder)
    assert any("outside the folder" in p for p in problems)


def test_sha256sums_checks_with_coreutils_alone(folder: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    done = subprocess.run(
        ["sha256sum", "--quiet", "-c", bundle.SUMS], cwd=folder, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_verify_as_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flip_one_byte(folder / "capture-phases.pcapng")
    assert main(["verify", str(folder), "--format", "json"]) == EXIT_BAD_INPUT
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert any("capture-phases.pcapng" in p for p in doc["problems"])
