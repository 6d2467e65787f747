"""Behaviour sections of the shipped profiles, and what a mistake in one is told."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from phonehome.policy import load_manifest
from phonehome.virtual import VirtualHandset, available_profiles, load_profile
from phonehome.virtual.firmware import Behaviour, Firmware, encode
from phonehome.yamlconf import ConfigError

REPO = Path(__file__).resolve().parents[4]
SELF_REGISTRATION_KEYS = [
    "REGVER", "MEID", "MODEL", "SWVER", "UETYPE", "IMEI1", "IMEI2", "SIM1ICCID", "SIM2ICCID", "SIM1LTEIMSI",
    "SIM2LTEIMSI", "SIM1CDMAIMSI", "SIM2CDMAIMSI", "SIM1TYPE", "SID", "NID", "BASEID", "MACID", "SIM1CELLID",
    "SIM2CELLID", "CELLID", "MANUFACTURE", "OSVER", "HWVER", "ACCESSTYPE", "REGDATE",
]  # fmt: skip
"""The documented key order (../shared/notes/self-registration-facts.md)."""


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_has_behaviour_and_a_manifest_that_loads(name: str) -> None:
    profile = load_profile(name)
    assert not profile.behaviour.empty
    assert profile.behaviour.manifest
    manifest = load_manifest(REPO / "manifests" / f"{profile.behaviour.manifest}.yaml")
    assert manifest.endpoints


def test_nokia_self_registration_is_the_documented_post() -> None:
    handset = VirtualHandset("nokia-7-plus-2019", seed="payload")
    firmware = Firmware(handset)
    [register] = [a for a in handset.profile.behaviour.network_attach if "autoregistration" in a.label]
    assert register.http is not None
    url = urlsplit(register.http.url)
    assert (url.scheme, url.hostname, url.port or 80, url.path) == ("http", "zzhc.vnet.cn", 80, "/")
    assert register.http.method == "POST"
    assert register.http.headers["Content-Type"] == "application/encrypted-json"
    assert register.retry is not None
    assert (register.retry.attempts, register.retry.interval_s) == (10, 3600)
    assert register.http.body is not None
    body = encode.build(register.http.body, firmware.values(1))
    lines = body.split(b"\n")
    assert lines[-1] == b"", "Base64.DEFAULT ends the last line too"
    assert all(len(line) == 76 for line in lines[:-2]), "Base64.DEFAULT, 76 columns"
    document = json.loads(base64.b64decode(body))
    assert list(document) == SELF_REGISTRATION_KEYS
    ident = handset.identity
    assert (document["IMEI1"], document["IMEI2"]) == ident.imeis
    assert document["SIM1ICCID"] == ident.sims[0].iccid
    assert document["SIM1LTEIMSI"] == ident.sims[0].imsi
    assert document["MACID"] == ident.wifi_mac
    assert document["CELLID"] == document["SIM1CELLID"] == str(ident.cell.cid & 0xFF)
    assert document["MEID"] == ident.meid
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(document["REGDATE"]))
    assert [a.label for a in handset.profile.behaviour.sim_change] == [register.label]


def test_dhcp_host_name_follows_the_release_unless_the_profile_says_otherwise() -> None:
    assert load_profile("nokia-7-plus-2019").dhcp_hostname_template() == "android-{android_id}"
    assert load_profile("aosp-clean").dhcp_hostname_template() is None
    profile = load_profile("aosp-clean")
    told = profile.model_copy(
        update={"behaviour": Behaviour.model_validate({"dhcp": {"hostname": "Pixel-7"}})}
    )
    assert told.dhcp_hostname_template() == "Pixel-7"
    silenced = load_profile("nokia-7-plus-2019").model_copy(
        update={"behaviour": Behaviour.model_validate({"dhcp": {"hostname": None}})}
    )
    assert silenced.dhcp_hostname_template() is None


def _profile_with(tmp_path: Path, behaviour: str) -> Path:
    """aosp-clean's device side with ``behaviour`` (YAML text) as its behaviour section."""
    text = (REPO / "devices" / "virtual" / "aosp-clean.yaml").read_text()
    device = text[: text.index("\nbehaviour:")]
    path = tmp_path / "p.yaml"
    path.write_text(device + "\nbehaviour:\n" + textwrap.indent(textwrap.dedent(behaviour), "  "))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("behaviour", "needle", "complaint"),
    [
        ("boot:\n  - udp: {host: a.example, port: 9, payload: {text: '{imie1}'}}\n", "{imie1}", "unknown name {imie1}"),
        ("boot:\n  - delay: 1\n    dns: {name: a.example}\n", "delay: 1", "unknown key"),
        ("boot:\n  - dns: {name: a.example}\n    tls: {host: a.example}\n", "- dns:", "exactly one of"),
        ("boot:\n  - http: {url: 'ftp://a.example/'}\n", "ftp://", "http:// or https://"),
        ("boot:\n  - dns: {name: a.example, types: [AX]}\n", "types: [AX]", "not a DNS record type"),
        ("boot:\n  - dns: {name: a.example}\n    until: {status: [200]}\n", "- dns:", "needs an http action"),
        ("boot:\n  - tcp: {host: a.example, port: 70000, payload: {text: x}}\n", "70000", "less than or equal"),
        ("boot:\n  - udp: {host: a.example, port: 9, payload: {text: x, sntp: true}}\n", "sntp: true", "exactly one of"),
        ("boot:\n  - dns: {name: a.example}\n    repeat: {count: 0, interval_s: 1}\n", "count: 0", "greater than or equal"),
        ("reboot: []\n", "reboot:", "unknown key"),
    ],
)  # fmt: skip
def test_a_mistake_in_behaviour_names_the_file_and_line(
    tmp_path: Path, behaviour: str, needle: str, complaint: str
) -> None:
    path = _profile_with(tmp_path, behaviour)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert f"{path}:{_line_of(path, needle)}:" in message
    assert complaint in message


@pytest.mark.parametrize(
    ("behaviour", "complaint"),
    [
        (
            "boot:\n  - udp: {host: a.example, port: 9, payload: {text: '{imei2}'}}\n",
            "{imei2} does not exist",
        ),
        ("screens:\n  terms: []\n", "the aosp wizard has no such screen"),
    ],
)
def test_what_this_handset_lacks_is_named_at_the_behaviour_key(
    tmp_path: Path, behaviour: str, complaint: str
) -> None:
    path = _profile_with(tmp_path, behaviour)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    line = path.read_text().splitlines().index("behaviour:") + 1
    assert f"{path}:{line}: behaviour:" in str(caught.value)
    assert complaint in str(caught.value)


def test_a_screen_the_wizard_has_is_accepted(tmp_path: Path) -> None:
    profile = load_profile(
        _profile_with(tmp_path, "screens:\n  google_services:\n    - dns: {name: a.example}\n")
    )
    assert [a.kind for a in profile.behaviour.actions("screen:google_services")] == ["dns"]
    with pytest.raises(KeyError, match="unknown phase"):
        profile.behaviour.actions("reboot")
