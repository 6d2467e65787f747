"""Manifests: declared endpoints matched by name, wildcard, address and port; typos are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.policy.manifest import Manifest, load_manifest
from phonehome.yamlconf import ConfigError
from tests.unit.policy.builders import make_flow

REPO = Path(__file__).resolve().parents[3]

MANIFEST = Manifest.model_validate(
    {
        "firmware": "test",
        "endpoints": [
            {
                "name": "google",
                "hosts": ["*.oemapis.com", "www.google.com"],
                "ports": [443],
                "purpose": "apis",
            },
            {
                "name": "ntp",
                "hosts": "time.android.com",
                "cidrs": "216.239.35.0/24",
                "ports": 123,
                "protocol": "udp",
                "transport": "cleartext",
                "purpose": "time",
                "before_consent": True,
            },
            {"name": "range", "cidrs": ["2001:db8::/32"], "ports": ["8000-8100"], "purpose": "x"},
        ],
    }
)


@pytest.mark.parametrize(
    ("name", "dst", "dport", "proto", "expected"),
    [
        ("android.oemapis.com", "198.51.100.1", 443, "tcp", "google"),
        ("a.b.oemapis.com", "198.51.100.1", 443, "tcp", "google"),
        ("oemapis.com", "198.51.100.1", 443, "tcp", None),  # a wildcard needs a label before it
        ("eviloemapis.com", "198.51.100.1", 443, "tcp", None),
        ("www.google.com", "198.51.100.1", 80, "tcp", None),  # wrong port
        (None, "216.239.35.4", 123, "udp", "ntp"),  # by address
        ("time.android.com", "192.0.2.9", 123, "udp", "ntp"),
        ("time.android.com", "192.0.2.9", 123, "tcp", None),  # wrong protocol
        (None, "2001:db8::5", 8050, "tcp", "range"),
        (None, "2001:db8::5", 8200, "tcp", None),
    ],
)
def test_flows_match_endpoints(
    name: str | None, dst: str, dport: int, proto: str, expected: str | None
) -> None:
    flow = make_flow(proto, dport, dst=dst, server_name=name)
    endpoint = MANIFEST.endpoint_for(flow)
    assert (endpoint.name if endpoint else None) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "firmware: x\nendpoints:\n  - name: a\n    hosts: [a.com]\n    purpose: p\n    identifers: [imei]\n",
            ":6: endpoints.0.identifers: unknown key",
        ),
        (
            "firmware: x\nendpoints:\n  - name: a\n    hosts: [a.*.com]\n    purpose: p\n",
            ":4: endpoints.0.hosts",
        ),
        (
            "firmware: x\nendpoints:\n  - name: a\n    cidrs: [10.0.0.0/33]\n    purpose: p\n",
            ":4: endpoints.0.cidrs",
        ),
        (
            "firmware: x\nendpoints:\n  - name: a\n    hosts: a.com\n    ports: [70000]\n    purpose: p\n",
            ":5: endpoints.0.ports",
        ),
        (
            "firmware: x\nendpoints:\n  - name: a\n    hosts: a.com\n    purpose: p\n    identifiers: [imei]\n",
            ":3: endpoints.0",
        ),  # identifiers without a legal basis
        (
            "firmware: x\nendpoints:\n  - name: a\n    purpose: p\n",
            ":3: endpoints.0",
        ),  # neither hosts nor cidrs
        ("firmware: x\npolicy:\n  personal_data_countries: [Norway]\n", ":3: policy.personal_data_countries"),
    ],
)
def test_manifest_errors_name_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(f"{path}{where}"), str(caught.value)


def test_duplicate_keys_in_a_manifest_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("firmware: x\nfirmware: y\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_manifest(path)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "manifests").glob("*.yaml")))
def test_shipped_manifests_load(name: str) -> None:
    manifest = load_manifest(REPO / "manifests" / name)
    assert manifest.endpoints


def test_the_most_specific_host_wins_whatever_the_order() -> None:
    manifest = Manifest.model_validate(
        {
            "firmware": "t",
            "endpoints": [
                {"name": "broad", "hosts": "*.oemapis.com", "before_consent": True, "purpose": "p"},
                {"name": "narrower", "hosts": "*.pa.oemapis.com", "purpose": "p"},
                {"name": "telemetry", "hosts": "firebaselogging-pa.oemapis.com", "purpose": "p"},
            ],
        }
    )
    flow = make_flow("tcp", 443, server_name="firebaselogging-pa.oemapis.com")
    assert manifest.endpoint_for(flow).name == "telemetry"  # type: ignore[union-attr]
    assert manifest.endpoint_for(make_flow("tcp", 443, server_name="x.pa.oemapis.com")).name == "narrower"  # type: ignore[union-attr]
    assert manifest.endpoint_for_name("www.oemapis.com").name == "broad"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "host",
    [
        "*.com",
        "*.co.uk",
        "com",
        "*.appspot.com",
        "*.googleapis.com",
        "*.github.io",
        "*.s3.amazonaws.com",
        "*.local",
    ],
)
def test_a_manifest_cannot_declare_the_world_by_a_public_suffix(host: str) -> None:
    with pytest.raises(ValueError, match="public suffix"):
        Manifest.model_validate(
            {"firmware": "t", "endpoints": [{"name": "w", "hosts": [host], "purpose": "p"}]}
        )


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "128.0.0.0/1", "2000::/3", "8.0.0.0/7"])
def test_a_manifest_cannot_declare_the_world_by_a_network(cidr: str) -> None:
    with pytest.raises(ValueError, match="not the Internet"):
        Manifest.model_validate(
            {"firmware": "t", "endpoints": [{"name": "w", "cidrs": [cidr], "purpose": "p"}]}
        )


def test_wildcards_under_an_owned_name_and_private_networks_stay_allowed() -> None:
    manifest = Manifest.model_validate(
        {
            "firmware": "t",
            "endpoints": [
                {"name": "a", "hosts": ["*.google.com", "*.x.appspot.com"], "purpose": "p"},
                {"name": "b", "cidrs": ["17.0.0.0/8", "10.0.0.0/8", "fc00::/7"], "purpose": "p"},
            ],
        }
    )
    assert manifest.lookup("tcp", 443, name="mail.google.com") is not None
    assert manifest.lookup("tcp", 443, name="evil.appspot.com") is None


@pytest.mark.parametrize(
    ("proto", "ok"), [("icmp", True), ("ICMPv6", True), ("gre", True), ("ip-253", True), ("smtp", False)]
)
def test_endpoints_name_any_ip_protocol(proto: str, ok: bool) -> None:
    data = {
        "firmware": "t",
        "endpoints": [{"name": "a", "cidrs": ["203.0.113.0/24"], "protocol": proto, "purpose": "p"}],
    }
    if ok:
        manifest = Manifest.model_validate(data)
        assert manifest.lookup(proto.lower(), 0, address="203.0.113.9") is not None
        assert manifest.lookup("tcp", 0, address="203.0.113.9") is None
    else:
        with pytest.raises(ValueError, match="not a protocol"):
            Manifest.model_validate(data)
