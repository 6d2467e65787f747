"""A profile is read once per version of its file, and each caller gets a copy of its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from phonehome.virtual.profile import load_profile

SHIPPED = Path(__file__).resolve().parents[3] / "devices" / "virtual" / "aosp-clean.yaml"


def test_each_caller_gets_its_own_copy_of_the_same_profile() -> None:
    first, second = load_profile("aosp-clean"), load_profile("aosp-clean")
    assert first == second
    assert first is not second
    assert first.behaviour is not second.behaviour


def test_a_profile_file_that_changes_is_read_again(tmp_path: Path) -> None:
    copy = tmp_path / "p.yaml"
    shutil.copy(SHIPPED, copy)
    before = load_profile(copy).build.model
    copy.write_text(copy.read_text().replace(f"model: {before}", "model: Pixel 99"))
    os.utime(copy, ns=(1, 10**18))  # a new mtime even on a coarse clock
    assert load_profile(copy).build.model == "Pixel 99"
