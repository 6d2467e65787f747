"""The offline country/AS database: well-known networks placed, private ones not, version recorded."""

from __future__ import annotations

from phonehome.policy.geo import default_database, is_private


def test_public_addresses_get_a_country_and_network() -> None:
    db = default_database()
    google = db.lookup("8.8.8.8")
    assert google.country == "US"
    assert google.as_name
    assert "google" in google.as_name.lower()
    assert db.lookup("202.96.128.86").country == "CN"  # Chinanet, Guangdong
    assert db.lookup("2001:4860:4860::8888").country == "US"
    assert db.version.startswith("geoip2fast 1.2")
    assert "GeoLite2" in db.version


def test_private_and_bench_addresses_have_no_country() -> None:
    for address in ("10.1.2.3", "192.0.2.7", "198.51.100.1", "100.64.0.1", "fe80::1", "224.0.0.251"):
        assert is_private(address)
        assert default_database().lookup(address).country is None
