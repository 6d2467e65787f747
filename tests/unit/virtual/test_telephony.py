"""SIM cards in, out and swapped: what the handset reports over its shell, and what it broadcasts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phonehome.device.reader import read_identity
from phonehome.virtual import HandsetError, VirtualHandset
from phonehome.virtual.identity import Carrier, luhn_valid
from phonehome.virtual.telephony import SimError, SimTray, check_iccid, sim_properties
from phonehome.virtual.testing import RecordingScreen
from tests.unit.virtual.helpers import VirtualShell, run_shell

TELENOR = Carrier("Telenor", "242", "01", "no", "894701", "+474", 10)


@pytest.fixture
def nokia_bare(tmp_path: Path) -> Iterator[VirtualHandset]:
    """The Nokia with both slots empty at power-on."""
    handset = VirtualHandset(
        "nokia-7-plus-2019", seed="sim", screen=RecordingScreen(), time_scale=0, workdir=tmp_path / "d",
        sims_at_boot=(),
    )  # fmt: skip
    handset.start()
    handset.wait_boot_completed(5)
    yield handset
    handset.stop()


def sim_broadcasts(handset: VirtualHandset) -> list[tuple[str, str]]:
    return [
        (b.extras["slot"], b.extras["ss"])
        for b in handset.state.broadcasts.all()
        if b.action == "android.intent.action.SIM_STATE_CHANGED"
    ]


def test_a_handset_without_a_sim_says_absent_everywhere(nokia_bare: VirtualHandset) -> None:
    assert run_shell(nokia_bare, "getprop gsm.sim.state")[1] == "ABSENT,ABSENT\n"
    assert run_shell(nokia_bare, "getprop gsm.sim.operator.numeric")[1] == ",\n"
    assert "mServiceState=1 1 voice searching" in run_shell(nokia_bare, "dumpsys telephony.registry")[1]
    assert sim_broadcasts(nokia_bare) == [("0", "ABSENT"), ("1", "ABSENT")]
    report = read_identity(VirtualShell(nokia_bare))
    assert report.identity.iccid == []
    assert report.identity.imsi == []


def test_inserting_a_fresh_sim_makes_it_ready_with_a_valid_iccid(nokia_bare: VirtualHandset) -> None:
    card = nokia_bare.sim_insert(0)
    assert luhn_valid(card.iccid)
    assert card.iccid.startswith("894701")
    assert card.imsi.startswith("24201")
    assert card == nokia_bare.identity.sims[0]
    assert run_shell(nokia_bare, "getprop gsm.sim.state")[1] == "READY,ABSENT\n"
    assert run_shell(nokia_bare, "getprop gsm.sim.operator.alpha")[1] == "Telenor,\n"
    assert "mOperatorNumeric=24201" in run_shell(nokia_bare, "dumpsys telephony.registry")[1]
    assert sim_broadcasts(nokia_bare)[-2:] == [("0", "READY"), ("0", "LOADED")]


def test_the_first_fresh_sim_is_the_profiles_own_the_next_ones_are_new(nokia_bare: VirtualHandset) -> None:
    profile_sim = VirtualHandset("nokia-7-plus-2019", seed="sim", screen=RecordingScreen()).identity.sims[0]
    first = nokia_bare.sim_insert(0)
    assert first.iccid == profile_sim.iccid
    seen = {first.iccid}
    for _ in range(5):
        seen.add(nokia_bare.sim_swap(0).iccid)
    assert len(seen) == 6


def test_a_swap_is_seen_by_the_device_layers_identity_reader(nokia: VirtualHandset) -> None:
    before = read_identity(VirtualShell(nokia)).identity
    old = nokia.identity.sims[0]
    assert before.iccid == [old.iccid]
    new = nokia.sim_swap(0)
    assert new.iccid != old.iccid
    after = read_identity(VirtualShell(nokia)).identity
    assert after.iccid == [new.iccid]
    assert after.imsi == [new.imsi]
    assert sim_broadcasts(nokia)[-3:] == [("0", "ABSENT"), ("0", "READY"), ("0", "LOADED")]


def test_a_card_with_a_given_iccid_reads_back_the_same_each_time(nokia_bare: VirtualHandset) -> None:
    iccid = "8947010000000000002"
    assert luhn_valid(iccid)
    first = nokia_bare.sim_insert(1, iccid)
    nokia_bare.sim_remove(1)
    again = nokia_bare.sim_insert(1, iccid)
    assert (again.iccid, again.imsi, again.slot) == (iccid, first.imsi, 1)
    assert read_identity(VirtualShell(nokia_bare)).identity.iccid == [iccid]
    assert run_shell(nokia_bare, "getprop gsm.sim.state")[1] == "ABSENT,READY\n"


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (lambda h: h.sim_insert(0), "slot 0 already holds SIM"),
        (lambda h: h.sim_remove(1), "slot 1 is empty"),
        (lambda h: h.sim_insert(2), "no SIM slot 2"),
        (lambda h: h.sim_swap(0, h.identity.sims[0].iccid), "a swap puts in a different card"),
        (lambda h: h.sim_insert(1, "8947010000000000003"), "fails its Luhn check digit"),
        (lambda h: h.sim_insert(1, "1234"), "not 19 or 20 digits"),
    ],
)
def test_impossible_sim_acts_are_clear_errors_that_change_nothing(
    nokia: VirtualHandset, act, message
) -> None:  # type: ignore[no-untyped-def]
    before = nokia.identity
    with pytest.raises(HandsetError, match=message):
        act(nokia)
    assert nokia.identity == before


def test_sim_acts_on_a_powered_off_handset_show_at_the_next_boot(tmp_path: Path) -> None:
    handset = VirtualHandset(
        "aosp-clean", seed="off", screen=RecordingScreen(), time_scale=0, workdir=tmp_path
    )
    old = handset.identity.sims[0]
    new = handset.sim_swap(0)
    assert new.iccid != old.iccid
    with handset:
        handset.wait_boot_completed(5)
        assert handset.state.identity.sims[0] == new
        assert sim_broadcasts(handset) == [("0", "READY"), ("0", "LOADED")]


def test_a_profile_sim_marked_not_inserted_starts_absent(tmp_path: Path) -> None:
    source = (Path(__file__).parents[3] / "devices" / "virtual" / "aosp-clean.yaml").read_text()
    changed = source.replace("msisdn_length: 13}", "msisdn_length: 13, inserted: false}")
    assert changed != source
    path = tmp_path / "aosp-no-sim.yaml"
    path.write_text(changed.replace("name: aosp-clean", "name: aosp-no-sim"))
    handset = VirtualHandset(path, seed="x", screen=RecordingScreen())
    assert handset.identity.sims == ()
    assert handset.sim_insert().carrier.name == "Vodafone.de"


def test_sim_tray_and_iccid_checks_without_a_handset() -> None:
    assert check_iccid(" 8947010000000000002 ") == "8947010000000000002"
    with pytest.raises(SimError, match="starting with 89"):
        check_iccid("9947010000000000002")
    with pytest.raises(SimError, match="defines no SIM"):
        SimTray("s", (), ()).carrier(0)
    tray = SimTray("s", (TELENOR,), ())
    empty = VirtualHandset("nokia-7-plus-2019", seed="t", screen=RecordingScreen(), sims_at_boot=()).identity
    one = tray.insert(empty, 1)
    assert [s.slot for s in one.sims] == [1]
    assert sim_properties(one)["gsm.sim.state"] == "ABSENT,READY"
    assert sim_properties(one)["gsm.sim.operator.numeric"] == ",24201"
