"""The virtual handset in fastboot mode, driven by Debian's real ``fastboot`` client over TCP."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import RecordingScreen
from tests.unit.virtual.helpers import run_shell

FASTBOOT = shutil.which("fastboot")
pytestmark = pytest.mark.skipif(
    FASTBOOT is None, reason="no fastboot client: phonehome doctor --install (Debian package fastboot)"
)
NEW_FINGERPRINT = "Nokia/Onyx_00WW/B2N_sprout:9/PPR1.180610.011/00WW_3_39B:user/release-keys"


def fastboot(handset: VirtualHandset, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    assert FASTBOOT is not None
    return subprocess.run(
        [FASTBOOT, "-s", handset.fastboot_serial, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_zip(path: Path, product: str = "B2N_sprout") -> Path:
    """A build as a release ships it: android-info.txt and partition images (system: its build.prop)."""
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("android-info.txt", f"require product={product}\n")
        out.writestr("boot.img", bytes(4096))
        out.writestr(
            "system.img", f"ro.build.fingerprint={NEW_FINGERPRINT}\nro.build.version.incremental=00WW_3_39B\n"
        )
    return path


def start(tmp_path: Path, **kwargs: object) -> VirtualHandset:
    handset = VirtualHandset(
        "nokia-7-plus-2019",
        seed="fastboot",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path / "device",
        **kwargs,  # type: ignore[arg-type]
    ).start()
    handset.wait_boot_completed(5)
    return handset


@pytest.fixture
def nokia(tmp_path: Path) -> Iterator[VirtualHandset]:
    handset = start(tmp_path)
    yield handset
    handset.stop()


def back_in_android(handset: VirtualHandset) -> None:
    handset.wait_boot_completed(10)
    assert not handset.in_bootloader
    assert handset.adb_online


def test_reboot_bootloader_from_the_shell_stops_android_and_listens_for_fastboot(
    nokia: VirtualHandset,
) -> None:
    run_shell(nokia, "reboot bootloader")
    nokia.wait_bootloader(10)
    assert not nokia.adb_online
    done = fastboot(nokia, "getvar", "product")
    assert done.returncode == 0, done.stderr
    assert "product: B2N_sprout" in done.stderr
    assert "unlocked: yes" in fastboot(nokia, "getvar", "unlocked").stderr


def test_fastboot_is_refused_while_android_runs(nokia: VirtualHandset) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        fastboot(nokia, "getvar", "product", timeout=2)  # the client waits for a device that is not there


def test_fastboot_w_then_reboot_boots_a_wiped_handset_to_its_first_boot(nokia: VirtualHandset) -> None:
    run_shell(nokia, "settings put secure user_setup_complete 1")
    android_id = nokia.identity.android_id
    nokia.reboot_bootloader(wait=True)
    wiped = fastboot(nokia, "-w")
    assert wiped.returncode == 0, wiped.stderr
    assert "Erasing 'userdata'" in wiped.stderr
    assert nokia.in_bootloader  # -w alone does not reboot
    assert fastboot(nokia, "reboot").returncode == 0
    back_in_android(nokia)
    assert nokia.identity.android_id != android_id
    assert run_shell(nokia, "settings get secure user_setup_complete")[1].strip() == "0"
    assert run_shell(nokia, "getprop ro.boot.bootreason")[1].strip() == "reboot"


def test_fastboot_update_flashes_a_build_that_changes_the_fingerprint(
    nokia: VirtualHandset, tmp_path: Path
) -> None:
    nokia.reboot_bootloader(wait=True)
    done = fastboot(nokia, "-w", "update", str(build_zip(tmp_path / "build.zip")))
    assert done.returncode == 0, done.stderr
    assert "Writing 'system'" in done.stderr
    back_in_android(nokia)
    assert run_shell(nokia, "getprop ro.build.fingerprint")[1].strip() == NEW_FINGERPRINT
    assert nokia.bootloader.images["boot"] == 4096
    nokia.reboot(wait=True, timeout=10)
    assert run_shell(nokia, "getprop ro.build.fingerprint")[1].strip() == NEW_FINGERPRINT  # it stays flashed


def test_an_update_for_another_product_is_refused_by_the_client(
    nokia: VirtualHandset, tmp_path: Path
) -> None:
    nokia.reboot_bootloader(wait=True)
    done = fastboot(nokia, "update", str(build_zip(tmp_path / "other.zip", product="walleye")))
    assert done.returncode != 0
    assert "requirements not met" in done.stderr.lower() or "walleye" in done.stderr
    assert nokia.bootloader.images == {}


def test_a_locked_bootloader_fails_the_wipe_with_the_lock_state(tmp_path: Path) -> None:
    handset = start(tmp_path, bootloader_unlocked=False)
    try:
        handset.reboot_bootloader(wait=True)
        assert "unlocked: no" in fastboot(handset, "getvar", "unlocked").stderr
        done = fastboot(handset, "-w")
        assert done.returncode != 0
        assert "Flashing is not allowed in Lock State" in done.stderr
        assert not handset.bootloader.wipe_pending
    finally:
        handset.stop()


def test_reboot_bootloader_from_fastboot_stays_in_fastboot(nokia: VirtualHandset) -> None:
    nokia.reboot_bootloader(wait=True)
    assert fastboot(nokia, "reboot", "bootloader").returncode == 0
    nokia.wait_bootloader(10)
    assert fastboot(nokia, "getvar", "product").returncode == 0
    assert fastboot(nokia, "reboot").returncode == 0
    back_in_android(nokia)


def test_stopping_a_handset_in_fastboot_mode_closes_the_listener(tmp_path: Path) -> None:
    handset = start(tmp_path)
    handset.reboot_bootloader(wait=True)
    handset.stop()
    with pytest.raises(subprocess.TimeoutExpired):
        fastboot(handset, "getvar", "product", timeout=2)


def test_once_the_client_is_told_okay_to_reboot_the_handset_is_no_longer_in_fastboot_mode(
    nokia: VirtualHandset,
) -> None:
    # A caller that waits for fastboot mode right after `fastboot reboot bootloader` must not find the old one.
    nokia.reboot_bootloader(wait=True)
    assert fastboot(nokia, "reboot").returncode == 0
    assert not nokia.in_bootloader
    back_in_android(nokia)
