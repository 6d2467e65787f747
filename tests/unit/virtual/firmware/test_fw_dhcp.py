"""The handset's DHCP client: its command line, its hook, and the lease it records."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.virtual.net import dhcp
from phonehome.virtual.net.dhcp import DhcpError, parse_lease, udhcpc_argv


def test_lease_file_becomes_a_lease_with_what_the_client_said() -> None:
    text = "ip=172.16.0.42\nmask=24\nrouter=172.16.0.1 172.16.0.2\ndns=172.16.0.1 9.9.9.9\nlease=3600\nserverid=172.16.0.1\n"
    lease = parse_lease(text, interface="wlan0", hostname="android-0123", vendor_class="android-dhcp-9")
    assert (lease.ip, lease.prefixlen, lease.router, lease.seconds) == ("172.16.0.42", 24, "172.16.0.1", 3600)
    assert lease.dns == ("172.16.0.1", "9.9.9.9")
    assert lease.resolver == "172.16.0.1"
    assert lease.as_dict()["vendor_class"] == "android-dhcp-9"


def test_a_lease_file_without_an_address_is_refused() -> None:
    with pytest.raises(DhcpError, match="no address"):
        parse_lease("router=1.2.3.4\n")


def test_missing_optional_fields_have_safe_defaults() -> None:
    lease = parse_lease("ip=10.0.0.2\n")
    assert (lease.prefixlen, lease.router, lease.dns, lease.seconds) == (24, None, (), 0)


def test_udhcpc_runs_in_the_namespace_with_our_hook_and_androids_options(tmp_path: Path) -> None:
    if not dhcp.hook_env_ok():
        pytest.skip("busybox is not installed (phonehome doctor --install)")
    argv = udhcpc_argv(
        "ns1", "wlan0", tmp_path / "hook", hostname="android-abc", vendor_class="android-dhcp-14"
    )
    assert argv[1:4] == ["netns", "exec", "ns1"]
    assert argv[argv.index("-s") + 1] == str(tmp_path / "hook")
    assert argv[argv.index("-V") + 1] == "android-dhcp-14"
    assert argv[argv.index("-x") + 1] == "hostname:android-abc"
    assert "-q" in argv, "one lease, then exit: no client process outlives the handset"


def test_without_a_vendor_class_udhcpc_is_told_to_send_none() -> None:
    if not dhcp.hook_env_ok():
        pytest.skip("busybox is not installed (phonehome doctor --install)")
    argv = udhcpc_argv("ns1", "wlan0", Path("/h"), hostname=None, vendor_class=None)
    assert argv[argv.index("-V") + 1] == "", "else busybox announces itself as 'udhcp <version>'"
    assert "-x" not in argv


def test_the_hook_configures_only_the_interface_and_writes_no_resolver_file() -> None:
    assert "resolv" not in dhcp.HOOK
    assert "/etc" not in dhcp.HOOK
    assert 'ip addr add "$ip/${mask:-24}" dev "$interface"' in dhcp.HOOK
