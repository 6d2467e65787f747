"""The Nokia 7 Plus on a real bench: its self-registration follows boot + SIM + attach, unlock and a new ICCID.

Each run brings the bench up, boots the handset on its port, lets it send its
boot-and-attach window, then does what a person would (unlock the phone,
swap the SIM) and captures until the firmware has sent everything. The
registrations are read back from the bench's HTTP sink, decoded as China
Telecom's server would (base64 of JSON), and judged by the policy.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from phonehome.bench import SinkRecord
from phonehome.virtual import VirtualHandset
from phonehome.virtual.firmware import Firmware
from tests.integration.bench.conftest import leftovers
from tests.integration.virtual.firmware_run import ProfileRun, run_profile

pytestmark = pytest.mark.root

ATTEMPTS = 10  # the profile's retry: hourly, ten times, while the server never says resultCode 0


def registrations(run: ProfileRun) -> list[dict[str, str]]:
    """The JSON of every self-registration POST the bench's sink received, in order."""
    posts: list[SinkRecord] = [
        r for r in run.sink_records
        if r.http_heads and r.http_heads[0].startswith("POST / HTTP/1.1") and "Host: zzhc.vnet.cn" in r.http_heads[0]
    ]  # fmt: skip
    return [json.loads(base64.b64decode(r.head.split(b"\r\n\r\n", 1)[1])) for r in posts]


def leak_phases(run: ProfileRun) -> set[str | None]:
    return {
        f.phase
        for f in run.evaluation.findings
        if f.assertion == "no-cleartext-identifiers" and "zzhc" in f.detail and f.identifier == "iccid"
    }


def unlock_then_swap(handset: VirtualHandset, firmware: Firmware) -> None:
    """Setup is done; the owner switches the screen off and on, unlocks, then puts in another SIM."""
    handset.state.settings.put("global", "device_provisioned", "1")
    handset.press_power()
    handset.press_power()
    handset.display.press_key("KEYCODE_MENU")
    firmware.wait_phase("unlock", 60)
    handset.sim_swap(0)
    firmware.wait_phase("sim-change", 60)


def test_the_nokia_registers_again_on_unlock_and_on_a_new_iccid(tmp_path: Path) -> None:
    run = run_profile("nokia-7-plus-2019", tmp_path, seed="reactions", acts=unlock_then_swap)
    assert leftovers(run.run_id) == [], "the bench left something behind"
    sent = registrations(run)
    assert len(sent) == 3 * ATTEMPTS, "attach, unlock and the new SIM each start ten hourly attempts"
    iccids = [r["SIM1ICCID"] for r in sent]
    old, new = iccids[0], iccids[-1]
    assert old != new
    assert iccids == [old] * (2 * ATTEMPTS) + [new] * ATTEMPTS
    assert {s.iccid for s in run.handset.sims} == {new}
    assert leak_phases(run) == {"network-attach", "unlock", "sim-change"}
    assert run.verdict("no-cleartext-identifiers") == "FAIL"


def test_without_a_sim_the_nokia_does_not_register_until_one_is_inserted(tmp_path: Path) -> None:
    inserted: list[str] = []

    def insert(handset: VirtualHandset, firmware: Firmware) -> None:
        assert registrations_so_far(handset) == 0
        inserted.append(handset.sim_insert(0).iccid)
        firmware.wait_phase("sim-change", 60)

    def registrations_so_far(handset: VirtualHandset) -> int:
        logs, _ = handset.state.logs.since(0)
        return sum("com.qualcomm.qti.autoregistration" in line and "not sent" not in line for line in logs)

    run = run_profile("nokia-7-plus-2019", tmp_path, seed="no-sim", acts=insert, sims_at_boot=())
    assert leftovers(run.run_id) == [], "the bench left something behind"
    sent = registrations(run)
    assert len(sent) == ATTEMPTS
    assert {r["SIM1ICCID"] for r in sent} == set(inserted)
    assert leak_phases(run) == {"sim-change"}


def test_after_a_factory_reset_it_boots_attaches_and_registers_again_with_new_ids(tmp_path: Path) -> None:
    ids: list[str] = []

    def erase(handset: VirtualHandset, firmware: Firmware) -> None:
        ids.append(handset.identity.android_id)
        handset.factory_reset(wait=True, timeout=60)
        ids.append(handset.identity.android_id)
        deadline = time.monotonic() + 60
        while sum(r.phase == "network-attach" for r in firmware.runs) < 2:
            assert time.monotonic() < deadline, "no network attach after the reset"
            time.sleep(0.02)

    run = run_profile("nokia-7-plus-2019", tmp_path, seed="wipe", acts=erase)
    assert leftovers(run.run_id) == [], "the bench left something behind"
    old, new = ids
    assert old != new
    assert [lease.hostname for lease in run.leases] == [f"android-{new}"], (
        "the lease was taken again, and Android 9 names itself by its ANDROID_ID in DHCP: a new one"
    )
    phases = [m.phase for m in run.capture.markers]
    assert phases.count("boot") == 2
    assert phases.count("network-attach") == 2
    assert len(registrations(run)) == 2 * ATTEMPTS, "the first boot after the wipe registers again"
