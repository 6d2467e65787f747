"""The handset's DHCP client: busybox udhcpc in the handset's namespace, with our own hook script.

Android's DhcpClient says who it is in two options the bench logs (and a
leak test may judge): the host name (option 12) and the vendor class
(option 60, ``android-dhcp-<release>``). udhcpc sends exactly what it is
given; ``-V ""`` keeps it from announcing itself as ``udhcp <version>``.

The hook configures only the handset's interface (address, default route)
and writes what it was given into a file the handset reads. It writes no
resolv.conf anywhere: the firmware asks the lease's DNS server directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

HOOK = """#!/bin/sh
# udhcpc hook of a phonehome virtual handset: configures $interface in the
# handset's namespace only, and records the lease in $PHONEHOME_LEASE.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\nlease=%s\\nserverid=%s\\n' \\
      "$ip" "$mask" "$router" "$dns" "$lease" "$serverid" > "$PHONEHOME_LEASE.tmp"
    mv "$PHONEHOME_LEASE.tmp" "$PHONEHOME_LEASE"
    ;;
esac
exit 0
"""

SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class DhcpError(RuntimeError):
    """No lease: the message says what udhcpc said and what to check."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What the handset's DHCP client was given, and what it said about itself."""

    ip: str
    prefixlen: int
    router: str | None
    dns: tuple[str, ...]
    seconds: int
    server: str | None = None
    interface: str = ""
    hostname: str | None = None
    """Option 12 as sent (None: not sent)."""
    vendor_class: str | None = None
    """Option 60 as sent."""

    @property
    def resolver(self) -> str | None:
        """The DNS server the firmware asks (the lease's first)."""
        return self.dns[0] if self.dns else None

    def as_dict(self) -> dict[str, object]:
        return {
            "ip": self.ip,
            "prefixlen": self.prefixlen,
            "router": self.router,
            "dns": list(self.dns),
            "seconds": self.seconds,
            "interface": self.interface,
            "hostname": self.hostname,
            "vendor_class": self.vendor_class,
        }


def parse_lease(text: str, **extra: object) -> Lease:
    """The hook's ``key=value`` lines as a `Lease`; `DhcpError` when the address is missing."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if not fields.get("ip"):
        raise DhcpError(f"the DHCP hook recorded no address ({text.strip()[:200]!r})")
    mask = fields.get("mask", "").strip()
    routers = fields.get("router", "").split()
    return Lease(
        ip=fields["ip"].strip(),
        prefixlen=int(mask) if mask.isdigit() else 24,
        router=routers[0] if routers else None,
        dns=tuple(fields.get("dns", "").split()),
        seconds=int(fields["lease"]) if fields.get("lease", "").strip().isdigit() else 0,
        server=fields.get("serverid", "").strip() or None,
        **extra,  # type: ignore[arg-type]
    )


def find_tool(name: str) -> str:
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        raise DhcpError(f"{name} is not installed (phonehome doctor --install adds it)")
    return found


def udhcpc_argv(
    netns: str,
    ifname: str,
    hook: Path,
    *,
    hostname: str | None,
    vendor_class: str | None,
    tries: int = 4,
) -> list[str]:
    """``ip netns exec NS busybox udhcpc ...``: one lease, then exit (-q), failing when none (-n)."""
    argv = [find_tool("ip"), "netns", "exec", netns, find_tool("busybox"), "udhcpc"]
    argv += ["-i", ifname, "-f", "-q", "-n", "-t", str(tries), "-T", "1", "-A", "1", "-s", str(hook)]
    argv += ["-V", vendor_class or ""]
    if hostname:
        argv += ["-x", f"hostname:{hostname}"]
    return argv


async def obtain(
    netns: str,
    ifname: str,
    workdir: Path,
    *,
    hostname: str | None,
    vendor_class: str | None,
    timeout: float = 15.0,
) -> Lease:
    """Runs udhcpc once in ``netns`` on ``ifname``; the interface is configured when this returns."""
    workdir.mkdir(parents=True, exist_ok=True)
    hook = workdir / "udhcpc-hook.sh"
    if not hook.exists():
        hook.write_text(HOOK)
        hook.chmod(0o755)
    lease_file = workdir / f"udhcpc-{ifname}.lease"
    lease_file.unlink(missing_ok=True)
    env = {"PATH": SEARCH_PATH, "PHONEHOME_LEASE": str(lease_file), "LANG": "C"}
    argv = udhcpc_argv(netns, ifname, hook, hostname=hostname, vendor_class=vendor_class)
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 2.0)
        if isinstance(exc, TimeoutError):
            raise DhcpError(
                f"udhcpc on {ifname} in {netns} got no lease within {timeout:g} s (is the bench's dnsmasq up?)"
            ) from exc
        raise
    said = out.decode(errors="replace").strip()
    if proc.returncode != 0 or not lease_file.exists():
        raise DhcpError(
            f"udhcpc on {ifname} in {netns} got no lease (exit {proc.returncode}): {said[-300:]} "
            "(is the bench's dnsmasq up and the port's interface up?)"
        )
    return parse_lease(lease_file.read_text(), interface=ifname, hostname=hostname, vendor_class=vendor_class)


def hook_env_ok() -> bool:
    """Whether this host can run the client (for tests that say why they skip)."""
    return os.geteuid() == 0 and shutil.which("busybox", path=SEARCH_PATH) is not None
