"""The real doctor on this host: after bootstrap, a privileged host has everything a bench needs."""

from __future__ import annotations

import pytest

from phonehome.bench.doctor import Host, run_checks
from phonehome.bench.tools import find_tool


@pytest.mark.root
def test_bootstrapped_host_passes_every_required_check() -> None:
    checks = run_checks(Host())
    failed = [c.line() for c in checks if not c.ok and c.required]
    assert not failed, "\n".join(failed)
    kernel = next(c for c in checks if c.name == "kernel")
    assert "nftables nat" in kernel.detail


@pytest.mark.root
def test_kernel_probe_leaves_no_namespace_behind() -> None:
    from pyroute2 import netns

    before = set(netns.listnetns())
    run_checks(Host())
    assert not {n for n in netns.listnetns() if n.startswith("phd-")} - before


def test_tools_in_sbin_are_found_without_sbin_in_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find_tool("ip") is not None
