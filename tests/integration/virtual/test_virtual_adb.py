"""The real adb binary and real adbutils calls against a virtual handset."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from pathlib import Path

import adbutils
import pytest

from phonehome.virtual import VirtualHandset
from phonehome.virtual.testing import PrivateAdbServer as AdbServer

Connected = tuple[VirtualHandset, adbutils.AdbDevice]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_adb_devices_lists_the_handset_with_its_model(adb_server: AdbServer, connected: Connected) -> None:
    handset, _ = connected
    listing = adb_server.run("devices", "-l").stdout
    line = next(x for x in listing.splitlines() if x.startswith(handset.adb_serial))
    assert " device " in line
    assert "product:Onyx_00WW" in line
    assert "model:Nokia_7_plus" in line
    assert "device:B2N_sprout" in line


def test_adb_shell_returns_the_exit_status_and_separates_stderr(
    adb_server: AdbServer, connected: Connected
) -> None:
    handset, _ = connected
    done = adb_server.run("-s", handset.adb_serial, "shell", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert (
        adb_server.run("-s", handset.adb_serial, "shell", "getprop", "ro.serialno").stdout
        == handset.serial + "\n"
    )


def test_adbutils_shell_and_shell2_with_and_without_v2(connected: Connected) -> None:
    _handset, device = connected
    assert device.shell("getprop ro.product.model") == "Nokia 7 plus"
    assert device.prop.model == "Nokia 7 plus"
    v1 = device.shell2("ls /nope")
    assert v1.returncode == 1
    assert "No such file or directory" in v1.output
    v2 = device.shell2("echo a; echo b >&2; exit 7", v2=True)
    assert (v2.returncode, v2.stdout, v2.stderr) == (7, "a\n", "b\n")
    assert device.shell2("nosuchtool", v2=True).returncode == 127
    assert device.getprop("ro.build.version.sdk") == "28"


def test_push_and_pull_4_mib_with_the_adb_binary(
    adb_server: AdbServer, connected: Connected, tmp_path: Path
) -> None:
    handset, device = connected
    data = os.urandom(4 * 1024 * 1024 + 13)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    pushed = adb_server.run(
        "-s", handset.adb_serial, "push", str(local), "/data/local/tmp/big.bin", timeout=60
    )
    assert pushed.returncode == 0, pushed.stderr
    assert device.shell("toybox md5sum /data/local/tmp/big.bin").split()[0] == md5(data)
    back = tmp_path / "back.bin"
    pulled = adb_server.run(
        "-s", handset.adb_serial, "pull", "/data/local/tmp/big.bin", str(back), timeout=60
    )
    assert pulled.returncode == 0, pulled.stderr
    assert md5(back.read_bytes()) == md5(data)
    missing = adb_server.run("-s", handset.adb_serial, "pull", "/data/local/tmp/none", str(back))
    assert missing.returncode != 0
    assert "No such file or directory" in missing.stderr + missing.stdout


def test_adbutils_sync_push_pull_stat_and_list(connected: Connected, tmp_path: Path) -> None:
    _, device = connected
    data = os.urandom(4 * 1024 * 1024)
    assert device.sync.push(data, "/data/local/tmp/u.bin", check=True) == len(data)
    assert device.sync.stat("/data/local/tmp/u.bin").size == len(data)
    assert md5(device.sync.read_bytes("/data/local/tmp/u.bin")) == md5(data)
    assert "u.bin" in [f.path for f in device.sync.list("/data/local/tmp")]
    assert device.sync.pull("/data/local/tmp/u.bin", tmp_path / "u.bin") == len(data)
    assert not device.sync.exists("/data/local/tmp/nothing")


def _echo_service(handset: VirtualHandset, port: int) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(b"echo:" + line)
            await writer.drain()

    handset.register_service(port, echo, owner="echo")


def test_forward_reaches_a_device_local_service(adb_server: AdbServer, connected: Connected) -> None:
    handset, device = connected
    _echo_service(handset, 7100)
    try:
        local = device.forward_port(7100)
        with socket.create_connection(("127.0.0.1", local), timeout=5) as s:
            s.sendall(b"hello\n")
            assert s.recv(100) == b"echo:hello\n"
        assert any(f.remote == "tcp:7100" for f in device.forward_list())
    finally:
        device.forward_remove_all()
        handset.unregister_service(7100)


def test_a_port_nothing_listens_on_is_refused(connected: Connected) -> None:
    _, device = connected
    with pytest.raises(adbutils.AdbError):
        device.create_connection(adbutils.Network.TCP, 9008)


def test_reverse_opens_a_stream_from_the_device_to_the_host(connected: Connected) -> None:
    handset, device = connected
    received: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    host_port = server.getsockname()[1]

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            received.append(conn.recv(100))
            conn.sendall(b"from host")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    async def device_client() -> bytes:
        reader, writer = await handset.state.services.open_connection(7200)
        writer.write(b"from device")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        return answer

    try:
        device.reverse("tcp:7200", f"tcp:{host_port}")
        assert [(r.remote, r.local) for r in device.reverse_list()] == [("tcp:7200", f"tcp:{host_port}")]
        assert handset.run(device_client()).result(10) == b"from host"
        thread.join(5)
        assert received == [b"from device"]
        device.reverse_remove_all()
        assert device.reverse_list() == []
    finally:
        server.close()


def test_interactive_shell_and_stdin_reach_the_device(adb_server: AdbServer, connected: Connected) -> None:
    import subprocess

    handset, _ = connected
    argv = [str(adb_server.binary), "-P", str(adb_server.port), "-s", handset.adb_serial, "shell"]
    typed = subprocess.run(argv, input="cd /sdcard\npwd\nexit\n", capture_output=True, text=True,
                           env=adb_server.env, timeout=20, check=False)  # fmt: skip
    assert "/sdcard\n" in typed.stdout
    assert typed.stdout.startswith("B2N_sprout:/ $ ")
    piped = subprocess.run([*argv, "cat > /data/local/tmp/in.txt; toybox md5sum /data/local/tmp/in.txt"],
                           input="piped data\n", capture_output=True, text=True, env=adb_server.env,
                           timeout=20, check=False)  # fmt: skip
    assert piped.stdout.split()[0] == md5(b"piped data\n")


def test_exec_out_screencap_is_a_png(adb_server: AdbServer, connected: Connected) -> None:
    import subprocess

    handset, _ = connected
    argv = [
        str(adb_server.binary),
        "-P",
        str(adb_server.port),
        "-s",
        handset.adb_serial,
        "exec-out",
        "screencap",
        "-p",
    ]
    png = subprocess.run(argv, capture_output=True, env=adb_server.env, timeout=20, check=True).stdout
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
