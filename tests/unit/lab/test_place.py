"""Finding a place and its handset in what a coordinator says (phonehome.lab.place), with labgrid's own
Place and ResourceEntry records: exact names only, one handset per place, and whose a place is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("labgrid", reason="the labgrid extra: pip install 'phonehome[labgrid]'")

from labgrid.remote.common import Place, ResourceEntry, ResourceMatch

from phonehome import exits
from phonehome.lab.handset import LendError
from phonehome.lab.place import find_place, handset_resource, held_by_us

HANDSET = {"serial": "B2NG0001", "inventory": "/srv/lab/inventory.yaml"}


def _session(places: list[Place], resources: dict[str, Any] | None = None, me: str = "bench1/ci") -> Any:
    host, user = me.split("/")
    return SimpleNamespace(
        places={p.name: p for p in places},
        resources=resources or {},
        gethostname=lambda: host,
        getuser=lambda: user,
    )


def _place(name: str, *matches: str, acquired: str | None = None, aliases: tuple[str, ...] = ()) -> Place:
    return Place(
        name, aliases=set(aliases), matches=[ResourceMatch.fromstr(m) for m in matches], acquired=acquired
    )


def _entry(cls: str = "PhonehomeHandset", avail: bool = True, **params: object) -> ResourceEntry:
    return ResourceEntry(
        {"cls": cls, "params": {**HANDSET, **params, "extra": {"proxy": "bench1"}}, "avail": avail}
    )


def _lend_error(call: Any) -> LendError:
    with pytest.raises(LendError) as caught:
        call()
    return caught.value


def test_a_place_is_found_by_its_exact_name_or_alias() -> None:
    desk = _place("desk-12", aliases=("nokia",))
    session = _session([desk, _place("desk-1")])
    assert find_place(session, "desk-12", "c:1") is desk
    assert find_place(session, "nokia", "c:1") is desk


def test_part_of_a_name_is_not_a_place_as_it_is_to_labgrid_client() -> None:
    error = _lend_error(lambda: find_place(_session([_place("desk-12")]), "desk", "c:20408"))
    assert error.status == exits.BAD_INPUT
    assert "no place 'desk' on labgrid coordinator c:20408 (it has: desk-12)" in error.message


def test_the_handset_is_the_one_phonehome_resource_the_place_matches() -> None:
    place = _place("desk-1", "bench1/desk/PhonehomeHandset", "bench1/desk/NetworkPowerPort")
    resources = {
        "bench1": {
            "desk": {"PhonehomeHandset": _entry(), "NetworkPowerPort": _entry("NetworkPowerPort")},
            "other": {"PhonehomeHandset": _entry(serial="OTHER")},
        }
    }
    path, params = handset_resource(_session([place], resources), place)
    assert path == "bench1/desk/PhonehomeHandset/PhonehomeHandset"
    assert params["serial"] == "B2NG0001"


def test_a_place_without_a_handset_match_is_bad_input_saying_to_add_one() -> None:
    place = _place("desk-1", "bench1/desk/NetworkPowerPort")
    error = _lend_error(lambda: handset_resource(_session([place]), place))
    assert error.status == exits.BAD_INPUT
    assert "has no PhonehomeHandset resource (its matches: bench1/desk/NetworkPowerPort)" in error.message
    assert "add-match" in error.message


def test_a_handset_whose_exporter_is_gone_is_no_verdict_saying_to_start_it() -> None:
    place = _place("desk-1", "bench1/desk/PhonehomeHandset")
    deleted = {
        "bench1": {"desk": {"PhonehomeHandset": ResourceEntry({})}}
    }  # how a client keeps a deleted one
    error = _lend_error(lambda: handset_resource(_session([place], deleted), place))
    assert error.status == exits.NO_VERDICT
    assert "is not exported now: start labgrid-exporter" in error.message


def test_a_place_matching_two_handsets_is_refused() -> None:
    place = _place("desk-1", "bench1/*/PhonehomeHandset")
    resources = {"bench1": {"a": {"PhonehomeHandset": _entry()}, "b": {"PhonehomeHandset": _entry()}}}
    error = _lend_error(lambda: handset_resource(_session([place], resources), place))
    assert error.status == exits.BAD_INPUT
    assert "matches 2 PhonehomeHandset resources" in error.message


def test_a_handset_its_exporter_calls_unavailable_is_no_verdict() -> None:
    place = _place("desk-1", "bench1/desk/PhonehomeHandset")
    resources = {"bench1": {"desk": {"PhonehomeHandset": _entry(avail=False)}}}
    assert (
        _lend_error(lambda: handset_resource(_session([place], resources), place)).status == exits.NO_VERDICT
    )


@pytest.mark.parametrize(
    ("acquired", "allowed", "ours"),
    [
        ("bench1/ci", set(), True),
        ("laptop/ci", set(), False),  # the same user elsewhere is someone else to labgrid
        ("laptop/alice", {"bench1/ci"}, True),  # alice allowed us (labgrid-client allow)
        ("bench1/alice", set(), False),
    ],
)
def test_a_place_is_ours_when_we_hold_it_here_or_are_allowed(
    acquired: str, allowed: set[str], ours: bool
) -> None:
    place = _place("desk-1", acquired=acquired)
    place.allowed = allowed
    assert held_by_us(_session([place]), place) is ours
