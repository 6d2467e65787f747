"""A handset-side DHCP client for scripts, tests and benchmarks: busybox udhcpc with our own hook.

Stock udhcpc and dhclient scripts rewrite the host's /etc/resolv.conf; this
hook configures only the handset namespace's interface and writes the
resolver into ``/etc/netns/<namespace>/resolv.conf`` (what ``ip netns exec``
shows as /etc/resolv.conf there).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from phonehome.bench.netops import BenchError, ns_argv, tool
from phonehome.bench.topology import Port

HOOK = """#!/bin/sh
# udhcpc hook of phonehome: configures $interface in this namespace only.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    if [ -n "$PHONEHOME_RESOLV" ]; then
      : > "$PHONEHOME_RESOLV.tmp"
      for d in $dns; do echo "nameserver $d" >> "$PHONEHOME_RESOLV.tmp"; done
      mv "$PHONEHOME_RESOLV.tmp" "$PHONEHOME_RESOLV"
    fi
    printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\nlease=%s\\n' "$ip" "$mask" "$router" "$dns" "$lease" > "$PHONEHOME_LEASE"
    ;;
esac
exit 0
"""


@dataclass(frozen=True, slots=True)
class ClientLease:
    """What the handset's DHCP client was given."""

    ip: str
    prefixlen: int
    router: str
    dns: tuple[str, ...]
    seconds: int


def obtain_lease(
    port: Port,
    workdir: Path,
    *,
    hostname: str | None = None,
    vendor_class: str | None = None,
    timeout: float = 15.0,
) -> ClientLease:
    """Runs udhcpc once in the port's handset namespace; returns the lease it took (and configured)."""
    if port.netns is None or port.handset_ifname is None:
        raise BenchError(f"port {port.name} has no handset namespace (a {port.kind} port's handset is real)")
    hook = workdir / "udhcpc-hook.sh"
    if not hook.exists():
        hook.write_text(HOOK)
        hook.chmod(0o755)
    lease_file = workdir / f"udhcpc-{port.name}.lease"
    lease_file.unlink(missing_ok=True)
    argv = [tool("busybox"), "udhcpc", "-i", port.handset_ifname, "-f", "-q", "-n", "-t", "10", "-T", "1"]
    argv += ["-s", str(hook)]
    if hostname:
        argv += ["-x", f"hostname:{hostname}"]
    if vendor_class:
        argv += ["-V", vendor_class]
    env = dict(
        os.environ,
        PHONEHOME_LEASE=str(lease_file),
        PHONEHOME_RESOLV=str(Path("/etc/netns") / port.netns / "resolv.conf"),
    )
    try:
        done = subprocess.run(
            ns_argv(port.netns, argv), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"port {port.name}: no DHCP lease within {timeout:g} s (is dnsmasq up?)") from exc
    if done.returncode != 0 or not lease_file.exists():
        raise BenchError(f"port {port.name}: udhcpc failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    fields = dict(line.split("=", 1) for line in lease_file.read_text().splitlines() if "=" in line)
    return ClientLease(
        ip=fields["ip"],
        prefixlen=int(fields.get("mask") or 24),
        router=fields.get("router", "").split()[0] if fields.get("router") else "",
        dns=tuple(fields.get("dns", "").split()),
        seconds=int(fields.get("lease") or 0),
    )
