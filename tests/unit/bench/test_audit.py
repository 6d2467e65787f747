"""What a capture says about the bench around it: dead services, foreign machines, the router's MACs."""

from __future__ import annotations

import os

from phonehome.bench.audit import dead_services, foreign_problems, mac_text
from phonehome.bench.nft import FOREIGN_LIMIT
from phonehome.bench.records import NetnsCreated, ProcessStarted
from phonehome.bench.runtime import ProcessId
from phonehome.bench.topology import Port

PORT = Port("wlan", "veth", "lan", "ph1-wlan", "ph1-br0", "172.16.0.1", "172.16.0.0/24")


def test_a_service_that_is_not_the_process_the_bench_started_is_named() -> None:
    me = ProcessId.of(os.getpid())
    assert me is not None
    records = [
        NetnsCreated("x"),
        ProcessStarted("sinks", me.pid, me.start),
        ProcessStarted("resolver", me.pid, me.start + 1),  # a reused pid
        ProcessStarted("capture:wlan", 2**22 + 3, 1),  # checked elsewhere
    ]
    (problem,) = dead_services(records)
    assert problem.startswith("the bench's resolver (every DNS answer")
    assert f"(pid {me.pid}) was not running when the capture stopped" in problem


def test_other_macs_on_an_isolated_port_are_a_problem_that_names_a_few_and_counts_all() -> None:
    macs = [f"02:5a:00:00:00:{i:02x}" for i in range(7)]
    (problem,) = foreign_problems(PORT, macs)
    assert problem.startswith("port wlan: 7 hardware addresses other than the handset's appeared")
    assert "02:5a:00:00:00:00, 02:5a:00:00:00:01" in problem
    assert "02:5a:00:00:00:06" not in problem
    assert foreign_problems(PORT, []) == []


def test_a_full_record_says_at_least_and_an_unreadable_one_is_a_problem_too() -> None:
    macs = [f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}" for i in range(FOREIGN_LIMIT)]
    assert f"at least {FOREIGN_LIMIT}" in foreign_problems(PORT, macs)[0]
    assert "could not be read" in foreign_problems(PORT, None)[0]


def test_a_shared_cable_expects_other_macs_but_the_status_still_lists_them() -> None:
    shared = Port("ap1", "physical", "lan", "eth1", "ph1-br0", "172.16.0.1", "172.16.0.0/24", isolated=False)
    assert foreign_problems(shared, ["02:00:00:00:00:09"]) == []
    assert foreign_problems(shared, ["02:00:00:00:00:09"], every_port=True)


def test_nft_numbers_for_client_hardware_addresses_read_as_macs() -> None:
    assert mac_text(0x025A00000001) == "02:5a:00:00:00:01"
    assert mac_text("02:5A:00:00:00:01") == "02:5a:00:00:00:01"
    assert mac_text(-1) == "00:00:00:00:00:00"
