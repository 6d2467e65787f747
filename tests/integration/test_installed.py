"""The installed package alone: a wheel carries the suite, benches, profiles, scenarios and manifests.

A lab installs phonehome and runs it from its own folder, with no checkout in
sight. The wheel is built from this checkout and installed into a folder of
its own that shadows the checkout's editable install; the run then happens in
an empty folder, so every definition it finds came out of the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from phonehome import exits

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (
    "phonehome/suite/compliance/test_assertions.py",
    "phonehome/shipped/benches/virtual.yaml",
    "phonehome/shipped/benches/lab-rig.yaml",
    "phonehome/shipped/devices/virtual/aosp-clean.yaml",
    "phonehome/shipped/devices/virtual-inventory.yaml",
    "phonehome/shipped/manifests/nokia-7-plus-global-2019.yaml",
    "phonehome/shipped/scenarios/first-boot.py",
    "phonehome/shipped/scenarios/screenmaps/aosp.yaml",
)


def _python(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a Python that imports phonehome from the wheel (its dependencies from ours)."""
    out = tmp_path_factory.mktemp("wheel")
    built = _python("-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO))
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = out.glob("phonehome-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [name for name in SHIPPED if name not in names]
    site = tmp_path_factory.mktemp("site")
    done = _python("-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel))
    assert done.returncode == 0, done.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site), "PHONEHOME_NO_COLOR": "1"}
    env.pop("PHONEHOME_DEVICES", None)
    env.pop("PHONEHOME_SCENARIOS", None)
    where = _python("-c", "import phonehome; print(phonehome.__file__)", env=env, cwd=out)
    assert where.stdout.startswith(str(site)), where.stdout  # the wheel's, not the checkout's
    return env


def test_phonehome_run_from_an_empty_folder_finds_everything_in_the_wheel(
    installed: dict[str, str], tmp_path: Path
) -> None:
    done = _python(
        "-m", "phonehome.cli", "run", "--device", "virtual:aosp-clean", "--inventory",
        "devices/virtual-inventory.yaml", "--results", "results", "--format", "json",
        env=installed, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == exits.PASS, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"--inventory devices/virtual-inventory.yaml: not in {tmp_path}; the shipped" in done.stderr
    summary = json.loads(done.stdout)
    (handset,) = summary["handsets"]
    assert handset["result"] == "PASS"
    folder = Path(handset["results"])
    assert folder.is_relative_to(tmp_path / "results")
    run = json.loads((folder / "run.json").read_text())
    site = Path(installed["PYTHONPATH"])
    assert Path(run["bench"]).is_relative_to(site / "phonehome" / "shipped")  # the wheel's own bench


def test_pytest_pyargs_collects_the_shipped_suite_from_any_folder(
    installed: dict[str, str], tmp_path: Path
) -> None:
    done = _python(
        "-m", "pytest", "--pyargs", "phonehome.suite", "--device", "virtual:aosp-clean", "--collect-only", "-q",
        "-p", "no:cacheprovider", env=installed, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test_assertion[declared-endpoints]" in done.stdout
    assert "test_assertion[build-identity]" in done.stdout


def test_a_labs_own_bench_of_the_same_path_overrides_the_shipped_one(
    installed: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "virtual.yaml").write_text("name: ours\nports: {}\n")
    done = _python(
        "-m", "phonehome.cli", "run", "--device", "virtual:aosp-clean", "--bench", "benches/virtual.yaml",
        "--results", "results", env=installed, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == exits.BAD_INPUT
    assert (
        "benches/virtual.yaml:2: ports" in done.stdout + done.stderr
    )  # the lab's file was read, not the shipped one
