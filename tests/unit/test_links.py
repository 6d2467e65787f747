"""How a run reaches a virtual handset: acts done as a lab assistant would, identities an inventory lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from phonehome.device import load_inventory
from phonehome.links import VirtualHands, virtual_inventory, virtual_seed
from phonehome.scenario import OperatorError, parse_answer
from phonehome.virtual import available_profiles, generate_identity, load_profile

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "devices" / "virtual-inventory.yaml"


@dataclass
class Card:
    iccid: str
    imsi: str


@dataclass
class Sim:
    slot: int
    iccid: str
    imsi: str


@dataclass
class Ident:
    sims: list[Sim] = field(default_factory=list)


@dataclass
class FakeVirtual:
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    identity: Ident = field(default_factory=Ident)

    def sim_insert(self, slot: int, iccid: str | None = None) -> Card:
        self.calls.append(("insert", slot, iccid))
        return Card("8947010000001234568", "242011234567890")

    def sim_swap(self, slot: int, iccid: str | None = None) -> Card:
        self.calls.append(("swap", slot, iccid))
        return Card("8947010000009999995", "242019999999999")

    def press_power(self) -> None:
        self.calls.append(("power",))


class FakeLink:
    def __init__(self) -> None:
        self.virtual = FakeVirtual()
        self.started = False

    def power_on(self) -> None:
        self.started = True


def test_power_on_is_the_runs_own_act_and_switches_the_handset_on() -> None:
    link = FakeLink()
    hands = VirtualHands(link)  # type: ignore[arg-type]
    with pytest.raises(OperatorError, match="switched off"):
        hands.perform("sim.swap", {"slot": 1}, "")
    assert hands.perform("power.on", {}, "Switch it on.") == ""
    assert link.started


def test_without_the_virtual_packages_operator_the_acts_go_to_the_handsets_methods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import phonehome.virtual

    monkeypatch.setattr(phonehome.virtual, "VirtualOperator", None, raising=False)
    link = FakeLink()
    link.started = True
    hands = VirtualHands(link)  # type: ignore[arg-type]
    answer = hands.perform("sim.swap", {"slot": 1, "iccid": None}, "Swap it.")
    assert parse_answer(answer) == {"iccid": "8947010000009999995", "imsi": "242019999999999"}
    hands.perform("sim.insert", {"slot": 2, "iccid": "8947010000001234568"}, "")
    assert link.virtual.calls == [("swap", 0, None), ("insert", 1, "8947010000001234568")]
    with pytest.raises(OperatorError, match="not an act"):
        hands.perform("cable.unplug", {}, "")
    with pytest.raises(OperatorError, match="slots count from 1"):
        hands.perform("sim.swap", {"slot": 0}, "")


def test_each_profile_gets_its_own_repeatable_seed() -> None:
    seeds = {virtual_seed(name) for name in available_profiles()}
    assert len(seeds) == len(available_profiles())
    assert virtual_seed("aosp-clean") == "phonehome-aosp-clean"


def test_the_shipped_virtual_inventory_is_what_the_profiles_are_today() -> None:
    assert INVENTORY.read_text() == virtual_inventory(available_profiles()), (
        "regenerate it: python -m phonehome.links devices/virtual-inventory.yaml"
    )
    inventory = load_inventory(INVENTORY)
    for name in available_profiles():
        profile = load_profile(name)
        ident = generate_identity(virtual_seed(name), profile.identity_spec())
        entry = inventory.find(ident.serial)
        assert entry is not None, name
        assert entry.identity.imei == list(ident.imeis)
        assert entry.identity.iccid == [s.iccid for s in ident.sims]


class TheirOperator:
    """The virtual package's operator as its module documents it: slots from 0, a sentence as the answer."""

    def __init__(self, virtual: FakeVirtual) -> None:
        self.virtual = virtual
        self.given: list[tuple[str, dict[str, object]]] = []

    def perform(self, act: str, params: Any = None, instruction: str = "") -> str:
        self.given.append((act, dict(params or {})))
        return f"swapped a SIM in slot {params['slot']}"


def test_the_virtual_packages_operator_gets_slots_from_zero_and_the_answer_names_the_card(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import phonehome.virtual

    link = FakeLink()
    link.started = True
    link.virtual.identity = Ident([Sim(0, "8947010000009999995", "242019999999999")])
    theirs: list[TheirOperator] = []

    def operator(virtual: FakeVirtual) -> TheirOperator:
        theirs.append(TheirOperator(virtual))
        return theirs[-1]

    monkeypatch.setattr(phonehome.virtual, "VirtualOperator", operator, raising=False)
    answer = VirtualHands(link).perform("sim.swap", {"slot": 1, "iccid": None}, "Swap it.")  # type: ignore[arg-type]
    assert theirs[0].given == [("sim.swap", {"slot": 0})]
    assert parse_answer(answer) == {"iccid": "8947010000009999995", "imsi": "242019999999999"}
