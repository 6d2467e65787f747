"""uiautomator2 3.7's connect() against the handset: jar push, md5 check, server launch, ping, RPC."""

from __future__ import annotations

import time
from collections.abc import Iterator

import adbutils
import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer

u2 = pytest.importorskip("uiautomator2")
pytest.importorskip(
    "phonehome.virtual.uiautomator", reason="the uiautomator2 server (virtual-ui) is not in this tree"
)

LAUNCH = "CLASSPATH=/data/local/tmp/u2.jar app_process / com.wetest.uia2.Main -p 9008"


@pytest.fixture
def wizard_handset(adb_server: PrivateAdbServer) -> Iterator[tuple[VirtualHandset, adbutils.AdbDevice]]:
    """A handset showing the real Setup Wizard (the profile's flavour), connected."""
    with VirtualHandset("aosp-clean", seed="u2", time_scale=0) as handset:
        handset.wait_boot_completed(10)
        adb_server.connect(handset.adb_serial)
        try:
            yield handset, adbutils.AdbClient(port=adb_server.port).device(handset.adb_serial)
        finally:
            adb_server.run("disconnect", handset.adb_serial)


def test_connect_pushes_the_jar_starts_the_server_and_answers_info(
    wizard_handset: tuple[VirtualHandset, adbutils.AdbDevice],
) -> None:
    handset, device = wizard_handset
    d = u2.connect(device)
    try:
        info = d.info
        assert (info["displayWidth"], info["displayHeight"]) == handset.screen.display_size()
        assert info["currentPackageName"] == handset.screen.focused_activity()[0]
        assert handset.state.services.owner(9008) == "uiautomator"
        jar = handset.state.fs.host_path("/data/local/tmp/u2.jar")
        assert jar.stat().st_size > 3_000_000
        assert d.shell(["getprop", "ro.product.model"]).output.strip() == "Pixel 7"
    finally:
        d.stop_uiautomator()
    _wait_free(handset)


def test_the_server_launch_holds_its_stream_and_a_second_one_is_refused(
    wizard_handset: tuple[VirtualHandset, adbutils.AdbDevice],
) -> None:
    handset, device = wizard_handset
    handset.state.fs.install_file("/data/local/tmp/u2.jar", b"PK\x03\x04 stand-in jar")
    first = device.shell(LAUNCH, stream=True)
    try:
        deadline = time.monotonic() + 5
        while handset.state.services.owner(9008) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handset.state.services.owner(9008) == "uiautomator"
        second = device.shell(LAUNCH, timeout=10)
        assert "already registered" in second
    finally:
        first.close()
    _wait_free(handset)


def _wait_free(handset: VirtualHandset) -> None:
    deadline = time.monotonic() + 5
    while handset.state.services.owner(9008) is not None:
        assert time.monotonic() < deadline, "closing the launch stream did not stop the server"
        time.sleep(0.05)
