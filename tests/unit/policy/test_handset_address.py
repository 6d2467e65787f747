"""The handset: given by IP or MAC, or inferred with the reason said."""

from __future__ import annotations

import pytest

from phonehome.policy.handset import infer, parse_handset, resolve
from tests.unit.policy.builders import make_flow


def test_given_ip_or_mac_parses() -> None:
    assert parse_handset("10.77.0.2").addresses == {"10.77.0.2"}
    assert parse_handset("AA-BB-CC-DD-EE-0F").mac == "aabbccddee0f"
    with pytest.raises(ValueError, match="IP address or a MAC"):
        parse_handset("phone")


def test_mac_claims_the_addresses_it_used() -> None:
    flows = [
        make_flow(src="10.77.0.9", src_mac="aa:bb:cc:dd:ee:0f"),
        make_flow(src="10.77.0.3", src_mac="02:00:00:00:00:01"),
    ]
    handset = resolve(parse_handset("aa:bb:cc:dd:ee:0f"), flows)
    assert handset.addresses == {"10.77.0.9"}
    assert handset.owns(flows[0])
    assert not handset.owns(flows[1])


def test_inferred_handset_is_the_top_talker_to_the_internet_and_says_so() -> None:
    flows = [make_flow(src="10.77.0.2", dst="8.8.8.8") for _ in range(3)]
    flows += [make_flow(src="10.77.0.1", dst="10.77.0.2") for _ in range(5)]  # the router answering locally
    handset = infer(flows)
    assert handset is not None
    assert handset.addresses == {"10.77.0.2"}
    assert handset.how.startswith("inferred: 10.77.0.2 opened 3 of 3 flows to public addresses")


def test_no_flows_no_handset() -> None:
    assert infer([]) is None
