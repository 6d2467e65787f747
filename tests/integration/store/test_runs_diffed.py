"""Two real `phonehome run` batches (a clean build, then one with the 2019 self-registration), indexed as they
finish into a real PostgreSQL server (--store, and PHONEHOME_STORE), then into a SQLite file with `phonehome store add`,
and `phonehome diff --gate` between them from each store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phonehome import exits
from phonehome.store.db import Store
from phonehome.store.hook import BATCH_ENV, STORE_ENV

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
TIMEOUT_S = 900


def _phonehome(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phonehome.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_the_newer_builds_endpoint_and_identifier_fail_the_gate_from_postgresql_and_sqlite(
    postgresql: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a bench needs root (network namespaces)")
    results = tmp_path / "results"
    inventory = ("--inventory", "devices/virtual-inventory.yaml", "--results", str(results), "-q")
    old = _phonehome(
        "run", "--device", "virtual:aosp-clean", *inventory, "--store", postgresql, "--batch", "build-41"
    )
    new = _phonehome(
        "run",
        "--device",
        "virtual:nokia-7-plus-2019",
        *inventory,
        env={STORE_ENV: postgresql, BATCH_ENV: "build-42"},
    )
    assert old.returncode == exits.PASS, old.stdout + old.stderr
    assert new.returncode == exits.FAIL, new.stdout + new.stderr
    assert "results store was not updated" not in old.stderr + new.stderr
    sqlite = str(tmp_path / "lab.sqlite")
    run_dirs = sorted(p for p in results.iterdir() if p.is_dir())
    for batch, run_dir in zip(("build-41", "build-42"), run_dirs, strict=True):
        added = _phonehome("store", "add", str(run_dir), "--batch", batch, "--store", sqlite)
        assert added.returncode == exits.PASS, added.stdout + added.stderr
    for store in (postgresql, sqlite):
        done = _phonehome(
            "diff", "batch:build-41", "batch:build-42", "--gate", "--format", "json", "--store", store
        )
        assert done.returncode == exits.FAIL, done.stdout + done.stderr
        doc = json.loads(done.stdout)
        new_endpoints = {e["name"] for p in doc["phases"].values() for e in p["endpoints_new"]}
        new_sends = {(s["identifier"], s["to"]) for p in doc["phases"].values() for s in p["identifiers_new"]}
        assert "zzhc.vnet.cn" in new_endpoints, done.stdout
        assert any(kind == "imei" and to.startswith("zzhc.vnet.cn:") for kind, to in new_sends), done.stdout
        back = _phonehome("diff", "batch:build-42", "batch:build-41", "--gate", "--store", store)
        assert "- endpoint zzhc.vnet.cn" in back.stdout
    with Store.open(postgresql) as opened:
        assert {b for b, _ in opened.batches()} >= {"build-41", "build-42"}
