"""phonehome's pytest plugin: options, fixtures and markers. Thin: it maps to the library.

Registered through the ``pytest11`` entry point, so a lab's compliance suite
gets it by installing phonehome.
"""

from __future__ import annotations

import os

import pytest

from phonehome.bench.doctor import Host, check_privileges


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "root: needs root or CAP_NET_ADMIN (network namespaces, nftables, capture); "
        "skipped with the reason when not privileged, an error in CI",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is None:
        return
    check = check_privileges(Host())
    if check.ok:
        return
    reason = f"needs root: {check.detail}"
    if _truthy(os.environ.get("CI")):
        # CI runs as root; a privileged test that cannot run there must not pass by skipping.
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)
