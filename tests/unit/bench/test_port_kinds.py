"""Bench port kinds, one class each: definitions checked by their kind, hostapd's configuration and its
"not a radio" line, and the typed records a bench writes down."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench.definition import parse_bench
from phonehome.bench.netops import BenchError
from phonehome.bench.ports import kinds, port_kind
from phonehome.bench.ports.hostapd import AccessPoint, hostapd_config, not_a_radio, radio_message
from phonehome.bench.records import (
    RECORD_KINDS,
    HostInterfaceTaken,
    NetnsCreated,
    PhyTaken,
    ProcessStarted,
    SysctlSet,
    UnknownRecord,
    record_from_dict,
    record_to_dict,
)
from phonehome.bench.runtime import CaptureStart, CaptureTool, StateFile
from phonehome.bench.topology import plan
from phonehome.yamlconf import ConfigError

HOSTAPD = "ports:\n  - name: ap\n    kind: hostapd\n    interface: wlx00c0ca000001\n"


def test_every_kind_is_registered_once_and_an_unknown_one_is_an_error() -> None:
    assert sorted(kinds()) == ["hostapd", "physical", "veth", "vlan"]
    with pytest.raises(
        BenchError, match="unknown port kind 'wifi': a port is one of veth, physical, vlan, hostapd"
    ):
        port_kind("wifi")


def test_an_unknown_kind_in_a_definition_is_a_definition_error_with_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_bench("name: lab\nports:\n  - name: ap\n    kind: wifi\n    interface: wlan1\n", "lab.yaml")
    assert "lab.yaml:4" in str(err.value)
    assert "'veth', 'physical', 'vlan' or 'hostapd'" in str(err.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HOSTAPD, "needs `ssid:`"),
        (HOSTAPD + "    ssid: lab\n", "needs `passphrase:`, 8 to 63 printable ASCII"),
        (HOSTAPD + "    ssid: lab\n    passphrase: short\n", "8 to 63"),
        (HOSTAPD + '    ssid: lab\n    passphrase: "new\\nline 1234"\n', "8 to 63"),
        (HOSTAPD + "    ssid: lab\n    security: open\n    passphrase: '12345678'\n", "open network has no"),
        (HOSTAPD + "    ssid: lab\n    passphrase: 12345678\n", "write it in quotes"),
        (HOSTAPD + f"    ssid: {'x' * 33}\n    passphrase: '12345678'\n", "longer than 32 bytes"),
        (
            "ports:\n  - name: ap\n    kind: hostapd\n    ssid: lab\n    passphrase: '12345678'\n",
            "needs `interface:`",
        ),
        ("ports:\n  - name: ap\n    kind: physical\n    interface: e1\n    ssid: lab\n", "for hostapd ports"),
        (HOSTAPD + "    ssid: lab\n    passphrase: '12345678'\n    country: de\n", "country"),
    ],
)
def test_a_hostapd_port_is_checked_by_its_kind(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_bench(text)
    assert words in str(err.value)


def test_a_hostapd_port_plans_like_an_adopted_interface_with_its_ssid() -> None:
    defn = parse_bench(HOSTAPD + "    ssid: phonehome-lab\n    passphrase: a good passphrase\n")
    (port,) = plan(defn, "abcdef", 7).ports
    assert (port.kind, port.interface, port.host_interface, port.ssid) == (
        "hostapd",
        "wlx00c0ca000001",
        "wlx00c0ca000001",
        "phonehome-lab",
    )
    assert port.netns is None
    assert kinds()["hostapd"].adopts_host_interface
    assert kinds()["physical"].adopts_host_interface
    assert not kinds()["vlan"].adopts_host_interface


def test_the_hostapd_configuration_carries_the_ssid_as_hex_and_the_passphrase() -> None:
    ssid = 'lab"\nctrl_interface=/tmp/x'  # a name cannot end a line of the configuration
    text = hostapd_config(AccessPoint("wlan1", "ph0001-br0", ssid, "a good passphrase", country="DE"))
    lines = text.splitlines()
    assert f"ssid2={ssid.encode().hex()}" in lines
    assert "interface=wlan1" in lines
    assert "bridge=ph0001-br0" in lines
    assert "wpa_key_mgmt=WPA-PSK" in lines
    assert "wpa_passphrase=a good passphrase" in lines
    assert "country_code=DE" in lines
    assert not any(line.startswith("ctrl_interface=/") for line in lines)
    wpa3 = hostapd_config(
        AccessPoint("wlan1", None, "lab", "a good passphrase", security="wpa3")
    ).splitlines()
    assert "wpa_key_mgmt=SAE" in wpa3
    assert "ieee80211w=2" in wpa3
    assert not any(line.startswith("bridge=") for line in wpa3)
    assert not any(
        line.startswith("wpa")
        for line in hostapd_config(AccessPoint("w", None, "o", "", "open")).splitlines()
    )


def test_hostapd_s_complaints_about_a_non_radio_become_the_one_clear_line() -> None:
    log = (
        "nl80211: 'nl80211' generic netlink not found\nFailed to initialize driver 'nl80211'\n"
        "veth0: interface state UNINITIALIZED->DISABLED\n"
    )
    said = not_a_radio(log)
    assert said == "nl80211: 'nl80211' generic netlink not found"
    line = radio_message("ap", "veth0", said, Path("/r/hostapd-ap.log"))
    assert line.startswith("port ap: veth0 is not a Wi-Fi radio (hostapd: nl80211: 'nl80211' generic netlink")
    assert "iw dev lists them" in line
    assert "kernel has no Wi-Fi stack" in line
    assert line.endswith("(log: /r/hostapd-ap.log)")
    assert "\n" not in line
    assert not_a_radio("wlan1: interface state COUNTRY_UPDATE->ENABLED\nwlan1: AP-ENABLED\n") is None
    assert "no /sys/class/net/IFACE/phy80211" in radio_message("ap", "eth9")


def test_every_record_kind_round_trips_through_the_state_file_form() -> None:
    records = [
        NetnsCreated("phonehome-abcdef-router"),
        SysctlSet(None, "net/ipv4/conf/eth0/forwarding", "0"),
        ProcessStarted("hostapd:ap", 4242, 77),
        HostInterfaceTaken("phonehome-abcdef-router", "enx1", {"ifname": "enx1", "addresses": []}),
        PhyTaken("phonehome-abcdef-router", "phy0", "wlan1", {"ifname": "wlan1"}),
    ]
    for record in records:
        data = record_to_dict(record)
        assert data["kind"] == record.kind
        assert record_from_dict(data) == record
    assert len(RECORD_KINDS) == 9


@pytest.mark.parametrize(
    "data",
    [{"kind": "bogus"}, {"kind": "netns"}, {"kind": "netns", "name": "x", "extra": 1}, {"name": "x"}],
)
def test_a_record_this_version_cannot_read_is_an_error_never_skipped(data: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(UnknownRecord):
        record_from_dict(data)


def test_the_state_file_is_typed_and_round_trips(tmp_path: Path) -> None:
    defn = parse_bench(HOSTAPD + "    ssid: lab\n    passphrase: '12345678'\n")
    state = StateFile(
        tmp_path / "abcdef.json",
        "lab",
        "abcdef",
        3,
        None,
        undo=[NetnsCreated("phonehome-abcdef-router"), ProcessStarted("dnsmasq", 10, 20)],
        definition=defn.model_dump(mode="json"),
        topology=plan(defn, "abcdef", 3),
        capture_info={"ap": CaptureStart(1.5, 7)},
        capture_tool=CaptureTool("dumpcap", "pcapng"),
    )
    again = StateFile.from_json(state.path, state.to_json())
    assert again == state
    assert again.processes() == [ProcessStarted("dnsmasq", 10, 20)]
    with pytest.raises(ValueError, match="not a bench state file"):
        StateFile.from_json(state.path, {"name": "x"})
