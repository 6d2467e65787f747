"""Names and addresses of a bench: short enough for the kernel, unique per run and slot."""

from __future__ import annotations

import ipaddress

import pytest

from phonehome.bench.definition import parse_bench
from phonehome.bench.topology import ifname, plan, run_id_of

TWO_GROUPS = """
ports:
  - name: wlan
  - name: ap1
    kind: physical
    interface: enx00e04c680001
    group: guest
  - name: ap2
    kind: vlan
    interface: enp3s0
    vlan: 20
    group: guest
"""


def test_every_created_interface_name_fits_in_15_characters_and_carries_the_run_id() -> None:
    topo = plan(parse_bench(TWO_GROUPS), "3f2a1c", 249)
    created = [lan.bridge for lan in topo.lans] + [p.interface for p in topo.ports if p.kind != "physical"]
    assert all(len(name) <= 15 for name in created)
    assert all(run_id_of(name) == "3f2a1c" for name in created)
    assert run_id_of(topo.router_ns) == "3f2a1c"


def test_groups_get_their_own_bridge_and_subnet_and_slots_never_share_one() -> None:
    defn = parse_bench(TWO_GROUPS)
    a, b = plan(defn, "aaaaaa", 0), plan(defn, "bbbbbb", 1)
    assert len(a.lans) == 2
    subnets = {p.subnet for t in (a, b) for p in t.ports}
    assert len(subnets) == 4
    nets = [ipaddress.ip_network(s) for s in subnets]
    assert not any(x.overlaps(y) for x in nets for y in nets if x != y)
    wlan = a.ports[0]
    assert (wlan.netns, wlan.handset_ifname) == ("phonehome-aaaaaa-wlan", "wlan0")
    assert wlan.handset_mac is not None
    assert int(wlan.handset_mac[:2], 16) & 0b11 == 0b10  # unicast, locally administered
    assert a.ports[1].interface == "enx00e04c680001"
    assert a.ports[1].netns is None


def test_nat_gets_a_transfer_net_and_host_names_per_slot() -> None:
    topo = plan(parse_bench("mode: nat\nnat:\n  interface: eth0\nports:\n  - name: wlan\n"), "abcdef", 7)
    assert topo.transfer == "100.64.7.0/30"
    assert topo.uplink_host == "phabcdef-up"
    assert topo.host_table == "phonehome_abcdef"


def test_ipv6_prefixes_are_written_as_the_kernel_writes_them() -> None:
    topo = plan(parse_bench("ipv6: offer\nports:\n  - name: wlan\n"), "abcdef", 0)
    assert topo.ports[0].ipv6_prefix == "fd70:686f:6e65::/64"


@pytest.mark.parametrize(
    ("name", "run_id"),
    [
        ("phonehome-3f2a1c-router", "3f2a1c"),
        ("ph3f2a1c-br0", "3f2a1c"),
        ("phonehome_3f2a1c", "3f2a1c"),
        ("phonehome-3f2a1-router", None),
        ("phone0", None),
        ("eth0", None),
        ("ph3f2a1cx", None),
    ],
)
def test_run_ids_are_read_back_from_names_and_nothing_else_matches(name: str, run_id: str | None) -> None:
    assert run_id_of(name) == run_id


def test_a_name_too_long_for_the_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than 15"):
        ifname("3f2a1c", "toolong")


def test_a_topology_survives_its_state_file_form() -> None:
    import json

    from phonehome.bench.topology import Topology

    topo = plan(parse_bench("mode: nat\nnat:\n  interface: eth0\nipv6: block\n" + TWO_GROUPS), "abcdef", 3)
    assert Topology.from_dict(json.loads(json.dumps(topo.to_dict()))) == topo


def test_a_veth_port_serves_its_handsets_mac_and_a_cable_the_macs_it_lists() -> None:
    topo = plan(
        parse_bench(
            TWO_GROUPS.replace(
                "    group: guest\n  - name: ap2",
                "    group: guest\n    handset_macs: [02:00:00:00:00:07]\n    isolated: false\n  - name: ap2",
            )
        ),
        "3f2a1c",
        1,
    )
    wlan, ap1, ap2 = topo.ports
    assert wlan.handset_macs == (wlan.handset_mac,)
    assert (ap1.handset_macs, ap1.isolated) == (("02:00:00:00:00:07",), False)
    assert (ap2.handset_macs, ap2.isolated) == ((), True)
    again = type(ap1).from_dict(ap1.to_dict())
    assert again == ap1


NAT = "mode: nat\nnat:\n  interface: eth0\nports:\n  - name: wlan\n  - name: ap\n    group: guest\n"


def nets(*texts: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(t) for t in texts]


def test_without_anything_in_the_way_the_slot_picks_the_subnets() -> None:
    topo = plan(parse_bench(NAT), "aaaaaa", 7)
    assert [str(n) for n in topo.networks()] == ["172.16.7.0/24", "172.17.7.0/24", "100.64.7.0/30"]


def test_subnets_that_a_host_route_or_address_overlaps_are_passed_over() -> None:
    host = nets("100.64.0.0/16", "172.16.7.128/25", "172.17.0.0/16")
    topo = plan(parse_bench(NAT), "aaaaaa", 7, host)
    chosen = topo.networks()
    assert not any(mine.overlaps(theirs) for mine in chosen for theirs in host)
    assert not any(a.overlaps(b) for i, a in enumerate(chosen) for b in chosen[i + 1 :])
    assert [n.prefixlen for n in chosen] == [24, 24, 30]
    assert topo.ports[0].router_ip == str(chosen[0].network_address + 1)


def test_a_default_route_does_not_count_as_overlapping_everything() -> None:
    topo = plan(parse_bench(NAT), "aaaaaa", 3, nets("0.0.0.0/0"))
    assert str(topo.networks()[0]) == "172.16.3.0/24"


def test_when_every_candidate_is_taken_the_error_says_so() -> None:
    from phonehome.bench.netops import BenchError

    everything = nets("172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16")
    with pytest.raises(BenchError, match="no free /24"):
        plan(parse_bench(NAT), "aaaaaa", 3, everything)
