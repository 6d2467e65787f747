"""The lab CA into a handset's system trust store over ADB (`phonehome.device.trust`), against the virtual
handset through the real adb server: a userdebug build takes it (adb root, remount, the file where Android
keeps it) and its apps then trust the lab CA; a user build is refused with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench.certs import android_ca_file, lab_authority
from phonehome.device.trust import SYSTEM_CACERTS, TrustError, install_system_ca
from phonehome.virtual.net.truststore import TrustStore
from phonehome.virtual.profile import load_profile
from phonehome.virtual.testing import PrivateAdbServer
from tests.integration.device.conftest import connected

pytestmark = pytest.mark.root


def _lab_ca(tmp_path: Path) -> bytes:
    return lab_authority(tmp_path / "ca").pem


def test_a_userdebug_build_takes_the_lab_ca_into_its_system_store(
    adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    profile = load_profile("aosp-clean")
    debuggable = profile.model_copy(update={"build": profile.build.model_copy(update={"type": "userdebug"})})
    pem = _lab_ca(tmp_path)
    name, body = android_ca_file(pem)
    with connected(adb_server, debuggable) as (virtual, handset):  # type: ignore[arg-type]
        fs = virtual.state.fs
        assert pem.strip() not in TrustStore.bundle(fs, user=False).encode()
        installed = install_system_ca(handset, body, name)
        assert installed.path == f"{SYSTEM_CACERTS}/{name}"
        assert not installed.apex  # the virtual handset keeps its CAs in /system
        assert fs.host_path(installed.path).read_bytes() == body
        assert body.decode() in TrustStore.bundle(fs, user=False)
        listed = handset.shell(["ls", "-l", installed.path]).stdout
        assert listed.startswith("-rw-r--r--"), listed


def test_a_user_build_is_refused_naming_what_to_do_instead(
    adb_server: PrivateAdbServer, tmp_path: Path
) -> None:
    pem = _lab_ca(tmp_path)
    name, body = android_ca_file(pem)
    with connected(adb_server, "aosp-clean") as (virtual, handset):
        with pytest.raises(TrustError) as refused:
            install_system_ca(handset, body, name)
        text = str(refused.value)
        assert "a user build" in text
        assert "tls: validate" in text
        assert not virtual.state.fs.host_path(f"{SYSTEM_CACERTS}/{name}").exists()
