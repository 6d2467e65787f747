"""Joining the handset's socket sightings with the capture's flows: exact 5-tuples, never a guess."""

from __future__ import annotations

from phonehome.policy.build import Package
from phonehome.policy.owners import SocketSighting, attribute, canonical, packages_by_uid
from phonehome.traffic.flow import Flow

HANDSET = "192.168.0.100"
PACKAGES = [
    Package(
        "com.qualcomm.qti.autoregistration", "/system/app/AutoRegistration/AutoRegistration.apk", (10123,)
    ),
    Package("com.android.settings", "/system/priv-app/Settings/Settings.apk", (1000,)),
    Package("android", "/system/framework/framework-res.apk", (1000,)),
]


def flow(
    *,
    fid: int = 1, proto: str = "tcp", src: str = HANDSET, sport: int = 41202, dst: str = "203.0.113.5",
    dport: int = 80, ts: float = 100.0,
) -> Flow:  # fmt: skip
    return Flow(fid, proto, src, sport, dst, dport, ts, ts + 0.5, 1, 9)


def seen(
    *,
    uid: int = 10123, proto: str = "tcp", local: str = HANDSET, lport: int = 41202, remote: str = "203.0.113.5",
    rport: int = 80, at: float = 100.2, state: str = "01",
) -> SocketSighting:  # fmt: skip
    return SocketSighting(proto, local, lport, remote, rport, uid, state, 4242, at, at)


def test_a_socket_with_the_flows_five_tuple_names_its_package_and_uid() -> None:
    owner = attribute([flow()], [seen()], PACKAGES).owners[1]
    assert owner.packages == ("com.qualcomm.qti.autoregistration",)
    assert owner.how == "connected"
    assert owner.text() == "com.qualcomm.qti.autoregistration (uid 10123)"


def test_a_flow_the_handset_answered_matches_its_socket_from_the_server_side() -> None:
    inbound = flow(src="203.0.113.5", sport=5555, dst=HANDSET, dport=8080)
    owner = attribute([inbound], [seen(lport=8080, remote="203.0.113.5", rport=5555)], PACKAGES).owners[1]
    assert owner.uid == 10123


def test_a_dual_stack_sockets_ipv4_mapped_addresses_match_an_ipv4_flow() -> None:
    mapped = seen(local=canonical("::ffff:192.168.0.100"), remote=canonical("::ffff:203.0.113.5"))
    assert attribute([flow()], [mapped], PACKAGES).owners[1].uid == 10123


def test_a_shared_uid_keeps_every_package_and_the_system_ids_name() -> None:
    owner = attribute([flow()], [seen(uid=1000)], PACKAGES).owners[1]
    assert owner.packages == ("android", "com.android.settings")
    assert owner.name == "system"


def test_a_secondary_users_uid_maps_to_the_same_packages() -> None:
    owner = attribute([flow()], [seen(uid=1010123)], PACKAGES).owners[1]
    assert owner.packages == ("com.qualcomm.qti.autoregistration",)
    assert owner.user == 10


def test_a_uid_no_package_holds_stays_a_number() -> None:
    owner = attribute([flow()], [seen(uid=10999)], PACKAGES).owners[1]
    assert owner.packages == ()
    assert "uid 10999" in owner.text()


def test_no_socket_means_no_owner_even_to_a_known_apps_destination() -> None:
    other = seen(lport=41999)
    assert attribute([flow()], [other], PACKAGES).owners == {}


def test_a_socket_seen_long_before_the_flow_does_not_own_it() -> None:
    assert attribute([flow(ts=500.0)], [seen(at=100.0)], PACKAGES).owners == {}


def test_a_socket_first_listed_seconds_after_its_flows_last_packet_still_owns_it() -> None:
    assert attribute([flow(ts=100.0)], [seen(at=104.0)], PACKAGES).owners[1].uid == 10123


def test_a_socket_listed_only_long_after_the_flow_does_not_own_it() -> None:
    assert attribute([flow(ts=100.0)], [seen(at=120.0)], PACKAGES).owners == {}


def test_time_wait_entries_carry_no_owner() -> None:
    assert attribute([flow()], [seen(uid=0, state="06")], PACKAGES).owners == {}


def test_another_protocol_on_the_same_ports_does_not_match() -> None:
    assert attribute([flow(proto="udp")], [seen(proto="tcp")], PACKAGES).owners == {}


def test_an_unconnected_udp_socket_owns_flows_from_its_bound_handset_port() -> None:
    bound = seen(proto="udp", local="0.0.0.0", lport=5353, remote="0.0.0.0", rport=0, state="07")
    dns = flow(proto="udp", sport=5353, dst="192.168.0.1", dport=53)
    result = attribute([dns], [bound], PACKAGES, handset=[HANDSET])
    assert result.owners[1].how == "bound-port"


def test_a_bound_port_on_the_remote_side_is_not_the_handsets() -> None:
    bound = seen(proto="udp", local="0.0.0.0", lport=53, remote="0.0.0.0", rport=0, state="07")
    dns = flow(proto="udp", sport=40000, dst="192.168.0.1", dport=53)
    assert attribute([dns], [bound], PACKAGES, handset=[HANDSET]).owners == {}


def test_sockets_of_two_uids_on_one_flow_leave_it_unknown_as_a_conflict() -> None:
    result = attribute([flow()], [seen(uid=10123), seen(uid=10200)], PACKAGES)
    assert result.owners == {}
    assert result.conflicts == {1: (10123, 10200)}


def test_packages_by_uid_groups_a_shared_uid() -> None:
    assert packages_by_uid(PACKAGES)[1000] == ("android", "com.android.settings")


def test_the_json_form_names_the_owner_in_words() -> None:
    doc = attribute([flow()], [seen()], PACKAGES).to_dict()
    assert doc["flows"]["1"]["text"] == "com.qualcomm.qti.autoregistration (uid 10123)"
    assert SocketSighting.from_dict(seen().to_dict()) == seen()
