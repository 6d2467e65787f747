"""VirtualOperator: a scenario's manual acts by name, done on the virtual handset as hands would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.virtual import HandsetError, OperatorError, VirtualHandset, VirtualOperator
from phonehome.virtual.testing import RecordingScreen


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[VirtualOperator]:
    handset = VirtualHandset(
        "nokia-7-plus-2019",
        seed="op",
        screen=RecordingScreen(),
        time_scale=0,
        workdir=tmp_path,
        sims_at_boot=(),
    )
    handset.start()
    handset.wait_boot_completed(5)
    yield VirtualOperator(handset)
    handset.stop()


def test_sim_acts_by_name_say_what_they_did(operator: VirtualOperator) -> None:
    handset = operator.handset
    said = operator.perform("sim.insert", {"slot": 0, "fresh": True}, "Insert a new SIM card into SIM1")
    card = handset.identity.sims[0]
    assert said == f"inserted SIM {card.iccid} (Telenor) into slot 0"
    said = operator.perform("sim.swap", {}, "Swap the SIM")
    new = handset.identity.sims[0]
    assert new.iccid != card.iccid
    assert said == f"swapped SIM {card.iccid} in slot 0 for SIM {new.iccid} (Telenor)"
    assert operator.perform("sim.remove", {"slot": 0}, "") == f"removed SIM {new.iccid} from slot 0"
    assert operator.perform("sim.insert", {"slot": 1, "iccid": "8947010000000000002"}, "").startswith(
        "inserted SIM 8947010000000000002"
    )
    assert handset.getprop("gsm.sim.state") == "ABSENT,READY"


def test_power_press_and_factory_reset(operator: VirtualOperator) -> None:
    handset = operator.handset
    assert operator.perform("power.press", {}, "Press the power button") == (
        "pressed the power button 1 time: the screen is off"
    )
    assert operator.perform("power.press", {"times": 2}, "").endswith("2 times: the screen is off")
    android_id = handset.identity.android_id
    said = operator.perform("factory-reset", {"wait": True}, "Settings > System > Reset > Erase all data")
    assert said == "erased all data (factory reset): it is back at first boot"
    assert handset.identity.android_id != android_id
    assert handset.display.awake


@pytest.mark.parametrize(
    ("act", "params", "message"),
    [
        (
            "sim.eject",
            {},
            "unknown act 'sim.eject'; this operator performs: factory-reset, power.bootloader, power.press",
        ),
        ("sim.insert", {"slot": 0, "colour": "red"}, "sim.insert takes fresh, iccid, slot, not colour"),
        ("sim.insert", {"slot": "SIM1"}, "slot must be a slot number"),
        ("sim.insert", {"iccid": "8947010000000000002", "fresh": True}, "an iccid or fresh: true, not both"),
        ("sim.insert", {"fresh": False}, "needs the card's iccid"),
        ("power.press", {"times": 0}, "times must be 1-10"),
        ("factory-reset", {"wait": "yes"}, "wait must be true or false"),
    ],
)
def test_unknown_acts_and_bad_parameters_are_clear_errors(
    operator: VirtualOperator, act: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(OperatorError, match=message.replace("(", r"\(")):
        operator.perform(act, params, "")


def test_an_impossible_act_is_the_handsets_error(operator: VirtualOperator) -> None:
    with pytest.raises(HandsetError, match="slot 0 is empty"):
        operator.perform("sim.remove", {}, "Take out the SIM")
