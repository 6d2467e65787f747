"""A handset given a network namespace: ``tcp:`` streams and ``ip addr`` reach into it."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.services import socket_in_namespace
from phonehome.virtual.testing import PrivateAdbServer, RecordingScreen

pytestmark = pytest.mark.root


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace with lo up and ``wlan0`` (one end of a veth pair) at 192.0.2.10/24; removed afterwards."""
    from pyroute2 import IPRoute, netns

    name = f"phv-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    try:
        with IPRoute(netns=name) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            ipr.link("add", ifname="wlan0", kind="veth", peer={"ifname": "wlan0-peer"})
            index = ipr.link_lookup(ifname="wlan0")[0]
            ipr.addr("add", index=index, address="192.0.2.10", prefixlen=24)
            ipr.link("set", index=ipr.link_lookup(ifname="wlan0-peer")[0], state="up")
            ipr.link("set", index=index, state="up")
        yield name
    finally:
        netns.remove(name)


def test_forwarded_stream_reaches_a_listener_inside_the_namespace(
    adb_server: PrivateAdbServer, namespace: str
) -> None:
    listener = socket_in_namespace(namespace)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"inside:" + conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with VirtualHandset(
        "aosp-clean", seed="ns", screen=RecordingScreen(), netns=namespace, time_scale=0
    ) as handset:
        adb_server.connect(handset.adb_serial)
        local = adb_server.run("-s", handset.adb_serial, "forward", "tcp:0", f"tcp:{port}").stdout.strip()
        try:
            with socket.create_connection(("127.0.0.1", int(local)), timeout=5) as s:
                s.sendall(b"hello")
                assert s.recv(100) == b"inside:hello"
            thread.join(5)
            addr = adb_server.run("-s", handset.adb_serial, "shell", "ip", "addr", "show", "wlan0").stdout
            assert "inet 192.0.2.10/24 brd 192.0.2.255 scope global wlan0" in addr
            assert f"link/ether {handset.wifi_mac}" in addr
            assert (
                "inet addr:192.0.2.10"
                in adb_server.run("-s", handset.adb_serial, "shell", "ifconfig wlan0").stdout
            )
        finally:
            adb_server.run("-s", handset.adb_serial, "forward", "--remove-all")
            adb_server.run("disconnect", handset.adb_serial)
    listener.close()


def test_nothing_listening_in_the_namespace_is_refused(adb_server: PrivateAdbServer, namespace: str) -> None:
    import adbutils

    with VirtualHandset(
        "aosp-clean", seed="ns2", screen=RecordingScreen(), netns=namespace, time_scale=0
    ) as handset:
        adb_server.connect(handset.adb_serial)
        device = adbutils.AdbClient(port=adb_server.port).device(handset.adb_serial)
        with pytest.raises(adbutils.AdbError):
            device.create_connection(adbutils.Network.TCP, 9)
        adb_server.run("disconnect", handset.adb_serial)
