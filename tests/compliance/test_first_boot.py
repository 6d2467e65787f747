"""First boot and network attach: what the firmware sends before anyone touches the handset.

The suite a lab runs per firmware batch, e.g.

    pytest tests/compliance --device virtual:nokia-7-plus-2019
    pytest tests/compliance --device adb:0123ABC --manifest manifests/M.yaml --inventory devices/inventory.yaml

Each test is one assertion of DESIGN.md; a failure prints the offending flows
with their evidence (frames, decode chain, excerpt) and requirement clauses.
"""

from __future__ import annotations

from phonehome.pytest_plugin import Verdicts


def test_every_endpoint_reached_is_declared(verdicts: Verdicts) -> None:
    verdicts.require("declared-endpoints")


def test_no_identifier_travels_in_clear(verdicts: Verdicts) -> None:
    verdicts.require("no-cleartext-identifiers")


def test_identifiers_reach_only_their_declared_recipients(verdicts: Verdicts) -> None:
    verdicts.require("identifier-recipients")


def test_endpoints_declared_tls_are_reached_over_tls_1_2_or_later(verdicts: Verdicts) -> None:
    verdicts.require("transport")


def test_dns_stays_visible(verdicts: Verdicts) -> None:
    verdicts.require("visible-dns")
