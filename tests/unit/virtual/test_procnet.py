"""The virtual handset's /proc/net tables: the firmware's own sockets, each with its acting app's uid."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from phonehome.device.sockets import parse_poll, parse_table, script
from phonehome.virtual import VirtualHandset
from phonehome.virtual.firmware import Action, Outcome
from phonehome.virtual.firmware.actions import ActionRunner
from phonehome.virtual.net import HandsetNetwork
from phonehome.virtual.net.procnet import LINGER_S, SocketTable, acting_as, app_uid, new_socket

Sh = Callable[..., tuple[int, str, str]]


def _pair(table: SocketTable) -> tuple[socket.socket, socket.socket, socket.socket]:
    """A loopback listener, a socket of uid 10123 connected to it, and the accepted end."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with acting_as(table, 10123):
        client = new_socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    client.connect(server.getsockname())
    accepted, _ = server.accept()
    return server, client, accepted


def test_a_socket_made_while_an_app_acts_is_listed_with_its_uid_and_addresses() -> None:
    table = SocketTable()
    server, client, accepted = _pair(table)
    try:
        rows, odd = parse_table(table.render("tcp").decode(), "tcp")
        assert odd == 0
        assert [(r.local, r.lport, r.remote, r.rport, r.state, r.uid) for r in rows] == [
            ("127.0.0.1", client.getsockname()[1], "127.0.0.1", server.getsockname()[1], "01", 10123)
        ]
        assert rows[0].inode > 0
        assert table.render("tcp6").decode().splitlines()[1:] == []
    finally:
        for s in (server, client, accepted):
            s.close()


def test_a_closed_socket_stays_listed_for_the_linger_then_goes() -> None:
    now = [0.0]
    table = SocketTable(clock=lambda: now[0])
    server, client, accepted = _pair(table)
    port = client.getsockname()[1]
    client.close()
    rows, _ = parse_table(table.render("tcp").decode(), "tcp")
    assert [(r.lport, r.state, r.uid) for r in rows] == [(port, "05", 10123)]
    now[0] = LINGER_S + 0.1
    assert parse_table(table.render("tcp").decode(), "tcp")[0] == []
    server.close()
    accepted.close()


def test_sockets_made_outside_any_action_are_not_listed() -> None:
    table = SocketTable()
    sock = new_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
    sock.bind(("127.0.0.1", 0))
    try:
        assert parse_table(table.render("udp").decode(), "udp")[0] == []
    finally:
        sock.close()


def test_an_ipv6_udp_socket_is_in_udp6_in_the_kernels_word_order() -> None:
    table = SocketTable()
    with acting_as(table, 1000):
        sock = new_socket(socket.AF_INET6, socket.SOCK_DGRAM, 0)
    sock.bind(("::1", 0))
    try:
        text = table.render("udp6").decode()
        assert "00000000000000000000000001000000:" in text
        rows, _ = parse_table(text, "udp")
        assert [(r.local, r.remote, r.rport, r.state, r.uid) for r in rows] == [("::1", "::", 0, "07", 1000)]
    finally:
        sock.close()


def test_an_actions_uid_is_its_package_else_its_labels_else_the_systems() -> None:
    uids = {"com.qualcomm.qti.autoregistration": 10051, "com.google.android.gms": 10012}
    assert app_uid("com.google.android.gms", "x", uids.get) == 10012
    assert app_uid(None, "com.qualcomm.qti.autoregistration", uids.get) == 10051
    assert app_uid(None, "com.google.android.gms/gcm", uids.get) == 10012
    assert app_uid(None, "NetworkTimeUpdateService", uids.get) == 1000
    assert app_uid("not.installed", "", uids.get) == 1000


def test_the_action_runner_lists_its_sockets_under_the_actions_uid(tmp_path: Path) -> None:
    table = SocketTable()
    seen: list[str] = []

    async def attempt(phase: str, action: Action, number: int) -> Outcome:
        sock = new_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.bind(("127.0.0.1", 0))
        seen.append(table.render("udp").decode())
        sock.close()
        return Outcome(phase, action.label, action.kind, "t", True, "", number)

    network = HandsetNetwork("phonehome-no-such-ns", "wlan0", tmp_path)
    run = ActionRunner(network, lambda n: {}, time_scale=1e-4, network_wait_s=0.05, logcat=lambda *a: None,
                       owner=lambda action: (table, 10077))  # fmt: skip
    run.attempt = attempt  # type: ignore[method-assign]
    asyncio.run(run.run("boot", Action.model_validate({"dns": {"name": "a.example"}}), lambda o: None))
    assert [r.uid for r in parse_table(seen[0], "udp")[0]] == [10077]


def test_the_shell_reads_the_tables_as_a_poller_does(sh: Sh, nokia: VirtualHandset) -> None:
    with acting_as(nokia.state.sockets, 10123):
        sock = new_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
    sock.bind(("127.0.0.1", 0))
    try:
        status, out, _ = sh("cat /proc/net/udp")
        assert status == 0
        assert [r.uid for r in parse_table(out, "udp")[0]] == [10123]
        assert sh("cat /proc/net/tcp6")[1].split()[:2] == ["sl", "local_address"]
    finally:
        sock.close()


def test_the_nokias_self_registration_client_is_a_listed_package_with_an_app_uid(sh: Sh) -> None:
    listed = sh("pm list packages -U")[1]
    line = next(x for x in listed.splitlines() if "com.qualcomm.qti.autoregistration" in x)
    assert int(line.rsplit("uid:", 1)[1]) >= 10000


def test_the_labs_poll_script_reads_all_four_tables_from_the_virtual_shell(
    sh: Sh, nokia: VirtualHandset
) -> None:
    with acting_as(nokia.state.sockets, 10123):
        sock = new_socket(socket.AF_INET6, socket.SOCK_STREAM, 0)
    sock.bind(("::1", 0))
    sock.listen()
    try:
        _, out, err = sh(f"sh -c '{script('@@M')}'")
        poll = parse_poll(out, err, "@@M")
        assert poll.unreadable == {}
        assert [(r.proto, r.local, r.state, r.uid) for r in poll.rows] == [("tcp", "::1", "0A", 10123)]
        assert poll.handset_time is not None
    finally:
        sock.close()


def test_a_profile_action_naming_a_package_the_build_lacks_is_a_profile_error(tmp_path: Path) -> None:
    from ruamel.yaml import YAML

    from phonehome.virtual.profile import load_profile, profile_dirs
    from phonehome.yamlconf import ConfigError

    source = next(d / "aosp-clean.yaml" for d in profile_dirs() if (d / "aosp-clean.yaml").is_file())
    yaml = YAML()
    doc = yaml.load(source.read_text())
    doc["behaviour"]["boot"] = [{"label": "x", "package": "com.not.installed", "dns": {"name": "a.example"}}]
    path = tmp_path / "typo.yaml"
    with path.open("w") as out:
        yaml.dump(doc, out)
    with pytest.raises(ConfigError, match=r"com\.not\.installed.*not in the profile"):
        load_profile(path)
