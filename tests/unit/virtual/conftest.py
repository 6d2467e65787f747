"""Fixtures for the virtual handset's unit tests: a started handset with a recording screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import RecordingScreen
from tests.unit.virtual.helpers import run_shell


@pytest.fixture
def screen() -> RecordingScreen:
    return RecordingScreen()


def _start(profile: str, screen: RecordingScreen, tmp_path: Path) -> VirtualHandset:
    return VirtualHandset(
        profile, seed="unit-test", screen=screen, time_scale=0, workdir=tmp_path / "device"
    ).start()


@pytest.fixture
def nokia(screen: RecordingScreen, tmp_path: Path) -> Iterator[VirtualHandset]:
    """The Android 9 profile (shell may read identifiers), booted."""
    handset = _start("nokia-7-plus-2019", screen, tmp_path)
    handset.wait_boot_completed(5)
    yield handset
    handset.stop()


@pytest.fixture
def pixel(screen: RecordingScreen, tmp_path: Path) -> Iterator[VirtualHandset]:
    """The Android 14 profile (SecurityException for identifiers), booted."""
    handset = _start("aosp-clean", screen, tmp_path)
    handset.wait_boot_completed(5)
    yield handset
    handset.stop()


@pytest.fixture
def sh(nokia: VirtualHandset):  # type: ignore[no-untyped-def]
    """``sh(script)`` -> (status, stdout, stderr) on the Nokia handset."""
    return lambda script, stdin=b"": run_shell(nokia, script, stdin)


@pytest.fixture
def pixel_sh(pixel: VirtualHandset):  # type: ignore[no-untyped-def]
    """``pixel_sh(script)`` -> (status, stdout, stderr) on the Android 14 handset."""
    return lambda script, stdin=b"": run_shell(pixel, script, stdin)
