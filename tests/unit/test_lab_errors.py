"""Errors a lab can act on, before any bench comes up: one line naming the input and what to do, and the
bad-input exit status (a profile typo, a handset over ADB with no bench, a bench port the bench lacks, a
cable that is not plugged in)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.assets import shipped
from phonehome.run import check_inputs

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", "run", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_a_profile_typo_is_one_line_and_bad_input_before_any_bench(tmp_path: Path) -> None:
    done = _run("--device", "virtual:aosp-claen", "--results", str(tmp_path))
    assert done.returncode == exits.BAD_INPUT
    (line,) = _lines(done)
    assert line.startswith("phonehome run: ")
    assert "aosp-claen" in line
    assert "aosp-clean" in line  # what the lab meant
    assert not any(tmp_path.iterdir())  # nothing ran


def test_a_handset_over_adb_without_a_bench_is_told_to_name_one(tmp_path: Path) -> None:
    done = _run("--device", "adb:PT-0001", "--results", str(tmp_path))
    assert done.returncode == exits.BAD_INPUT
    (line,) = _lines(done)
    assert "--bench is required for a handset over ADB" in line
    assert "`bench:` in its inventory entry" in line


def test_an_inventory_port_the_bench_lacks_is_one_line_naming_both(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        f"handsets:\n  - serial: PT-0001\n    bench: {REPO}/benches/virtual.yaml\n    port: desk\n"
    )
    done = _run("--device", "adb:PT-0001", "--inventory", str(inventory), "--results", str(tmp_path / "r"))
    assert done.returncode == exits.BAD_INPUT
    (line,) = _lines(done)
    assert "bench port 'desk'" in line
    assert "it has: wlan" in line
    assert "fix `port:` in the inventory" in line


def test_a_cable_that_is_not_plugged_in_is_one_line_before_any_bench(tmp_path: Path) -> None:
    bench = tmp_path / "lab.yaml"
    bench.write_text((REPO / "benches" / "lab-rig.yaml").read_text().replace("phrig0", "nosuchcable9"))
    done = _run("--device", "adb:PT-0001", "--bench", str(bench), "--results", str(tmp_path / "r"))
    assert done.returncode == exits.BAD_INPUT
    (line,) = _lines(done)
    assert f"{bench}: port desk: host interface nosuchcable9 does not exist on this host" in line
    assert "plug the adapter in" in line
    assert not (tmp_path / "r").exists()


def test_the_shipped_suite_bench_and_manifests_are_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_inputs(["virtual:nokia-7-plus-2019"], bench=None, manifest=None, inventory=None) == []
    assert shipped("benches/virtual.yaml") == REPO / "phonehome" / "shipped" / "benches" / "virtual.yaml"
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "virtual.yaml").write_text("name: mine\n")
    assert shipped("benches/virtual.yaml") == Path("benches/virtual.yaml")  # the lab's own wins
    done = _run("--device", "virtual:aosp-claen", "--results", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == exits.BAD_INPUT  # not "no compliance suite": it is found, and so are profiles
    assert "aosp-clean" in _lines(done)[0]
