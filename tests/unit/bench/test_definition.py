"""Bench definitions: the shipped files load, and mistakes name their file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench.definition import load_bench, parse_bench
from phonehome.yamlconf import ConfigError

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["virtual.yaml", "lab-example.yaml"])
def test_shipped_definitions_are_valid(name: str) -> None:
    bench = load_bench(REPO / "benches" / name)
    assert bench.ports


def test_defaults_are_a_sinkhole_that_blocks_ipv6_and_captures_with_whatever_tool_is_installed() -> None:
    bench = parse_bench("ports:\n  - name: wlan\n")
    assert (bench.mode, bench.ipv6, bench.dot, bench.block_quic) == ("sinkhole", "block", "capture", False)
    assert (bench.capture.tool, bench.capture.format) == ("auto", None)
    assert (bench.resolver.pool_ipv4, bench.resolver.pool_ipv6) == ("198.18.0.0/15", "2001:db8:ffff::/64")
    assert bench.ports[0].isolated


def test_the_virtual_bench_lets_the_capture_tool_be_chosen_by_what_is_installed() -> None:
    bench = load_bench(REPO / "benches" / "virtual.yaml")
    assert (bench.capture.tool, bench.capture.format) == ("auto", None)


def test_a_physical_port_lists_its_handsets_macs_and_may_be_shared() -> None:
    bench = parse_bench(
        "ports:\n  - name: ap1\n    kind: physical\n    interface: eth1\n"
        "    handset_macs: [02:00:00:00:00:01, 02:00:00:00:00:02]\n    isolated: false\n"
    )
    assert bench.ports[0].handset_macs == ["02:00:00:00:00:01", "02:00:00:00:00:02"]
    assert not bench.ports[0].isolated


def test_a_typo_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("name: lab\nports:\n  - name: wlan\n    knd: veth\n")
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert str(info.value).startswith(f"{path}:4: ports.0.knd: unknown key")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ports:\n  - name: wlan\n    kind: physical\n", "needs `interface:`"),
        ("ports:\n  - name: wlan\n    kind: vlan\n    interface: eth1\n", "needs `vlan:`"),
        ("ports:\n  - name: wlan\n    vlan: 5\n", "only for ports of kind vlan"),
        ("ports:\n  - name: WLAN\n", "port name"),
        ("ports:\n  - name: wlan0123\n", "port name"),
        ("ports:\n  - name: wlan\n  - name: wlan\n", "unique"),
        ("mode: nat\nports:\n  - name: wlan\n", "needs a `nat:` section"),
        ("nat:\n  interface: eth0\nports:\n  - name: wlan\n", "only for mode nat"),
        ("ports: []\n", "at least one port"),
        ("capture:\n  tool: tcpdump\n  format: pcapng\nports:\n  - name: wlan\n", "tcpdump writes pcap only"),
        ("capture:\n  tool: tcpdump\n  format: pcap\n  rotate_mb: 5\nports:\n  - name: w\n", "max_mb"),
        ("ports:\n  - name: wlan\n    handset_macs: [02:00:00:00:00:01]\n", "physical and vlan ports"),
        ("ports:\n  - name: wlan\n    isolated: false\n", "physical and vlan ports"),
        (
            "ports:\n  - name: a\n    kind: physical\n    interface: e1\n    handset_mac: 02:00:00:00:00:01\n",
            "veth",
        ),
        (
            "ports:\n  - name: a\n    kind: physical\n    interface: e1\n    handset_macs: [02:00]\n",
            "hex pairs",
        ),
        ("resolver:\n  pool_ipv4: 172.16.0.0/12\nports:\n  - name: wlan\n", "overlaps 172.16.0.0/12"),
        ("resolver:\n  pool_ipv4: 10.9.0.0/16\nports:\n  - name: wlan\n", "overlaps 10.0.0.0/8"),
        ("resolver:\n  pool_ipv4: 2001:db8::/64\nports:\n  - name: wlan\n", "pool_ipv4"),
        ("resolver:\n  pool_ipv6: 198.18.0.0/15\nports:\n  - name: wlan\n", "pool_ipv6"),
        ("resolver:\n  pool_ipv4: 198.18.0.0/31\nports:\n  - name: wlan\n", "at least 4"),
        ("resolver:\n  pool_ipv6: fd70:686f:6e65:1::/64\nports:\n  - name: wlan\n", "overlaps"),
        ("mode: nat\nipv6: offer\nnat:\n  interface: eth0\nports:\n  - name: wlan\n", "IPv6"),
        ("ports:\n  - name: wlan\n    handset_mac: 02:00:00:00:00\n", "handset_mac"),
        ("ports:\n  - name: wlan\n    handset_mac: 01:00:5e:00:00:01\n", "multicast"),
        ("ports:\n  - name: wlan\n    handset_mac: 33:33:00:00:00:01\n", "multicast"),
        ("ports:\n  - name: wlan\n    handset_mac: ff:ff:ff:ff:ff:ff\n", "multicast"),
        ("ports:\n  - name: wlan\n    handset_mac: 00:00:00:00:00:00\n", "all-zero"),
        ("ports:\n  - name: ap\n    kind: physical\n    interface: lo\n", "loopback"),
        ("ports:\n  - name: ap\n    kind: vlan\n    interface: lo\n    vlan: 3\n", "loopback"),
        ("mode: nat\nnat:\n  interface: lo\nports:\n  - name: wlan\n", "loopback"),
        ("mode: nat\nnat:\n  interface: eth 0\nports:\n  - name: wlan\n", "not a Linux interface name"),
        (
            "ports:\n  - name: ap\n    kind: vlan\n    interface: eth1\n    vlan: 3\n    take_over: true\n",
            "physical",
        ),
        ("ports:\n  - name: wlan\n    take_over: true\n", "physical"),
        ("tls: decrypt\nports:\n  - name: wlan\n", "tls"),
        ("mode: offline\ntls: validate\nports:\n  - name: wlan\n", "needs mode sinkhole"),
        (
            "mode: nat\ntls: intercept\nnat:\n  interface: eth0\nports:\n  - name: wlan\n",
            "needs mode sinkhole",
        ),
        (
            "mode: nat\nnat:\n  interface: eth0\n  allow:\n    - cidr: 10.0.0.0/8\n      ports: [0]\nports:\n  - name: w\n",
            "outside",
        ),
    ],
)
def test_inconsistent_definitions_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bench(text)


def test_a_multicast_mac_is_a_definition_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("name: lab\nports:\n  - name: wlan\n    handset_mac: 01:00:5e:7f:00:01\n")
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: ports.0")
    assert "multicast" in message
    assert "\n" not in message.strip()


def test_take_over_is_off_unless_the_definition_says_so() -> None:
    port = parse_bench("ports:\n  - name: ap\n    kind: physical\n    interface: enx1\n").ports[0]
    assert port.take_over is False
    taken = "ports:\n  - name: ap\n    kind: physical\n    interface: enx1\n    take_over: true\n"
    assert parse_bench(taken).ports[0].take_over is True


def test_tls_is_alert_unless_the_definition_says_validate_or_intercept() -> None:
    assert parse_bench("ports:\n  - name: wlan\n").tls == "alert"
    bench = parse_bench("tls: intercept\ntls_ca: /srv/lab-ca\nports:\n  - name: wlan\n")
    assert (bench.tls, bench.tls_ca) == ("intercept", "/srv/lab-ca")
