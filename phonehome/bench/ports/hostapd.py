"""``hostapd``: a Wi-Fi access point on a USB Wi-Fi adapter, in the router namespace, as a bench port.

The adapter's radio (its wiphy) moves into the router namespace (``iw phy
PHY set netns name NS``: a wireless interface cannot be moved alone), with
the host-safety rules of a physical port (`phonehome.bench.hostif`), and its
state written down first. Once the capture runs, hostapd starts on it with
the definition's SSID and passphrase and adds it to the port's bridge
(``bridge=``; a managed-mode interface cannot be enslaved before hostapd
makes it an AP). The handset joins with ``cmd wifi connect-network SSID wpa2
PASSPHRASE`` or on the wizard's Wi-Fi screen. An interface that is not a
radio fails with one line that says so, before anything moves; a hostapd
that cannot drive it does the same from its log.
Records: the radio taken (with the interface's state), hostapd's process.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from phonehome.bench import netops, privilege, undo
from phonehome.bench.netops import BenchError, poll
from phonehome.bench.ports.common import host_interface, need, refuse_host_uses
from phonehome.bench.ports.physical import cabled, cabled_problems
from phonehome.bench.process import ProcessId
from phonehome.bench.records import PhyTaken
from phonehome.bench.topology import Port

if TYPE_CHECKING:
    from phonehome.bench.build import Builder
    from phonehome.bench.definition import PortDef

START_TIMEOUT_S = 15.0
ENABLED = ("AP-ENABLED",)
"""hostapd's line once the AP beacons (``IFACE: AP-ENABLED``)."""
_NOT_A_RADIO = (
    "generic netlink not found",
    "Failed to initialize driver",
    "driver initialization failed",
    "Could not configure driver mode",
    "Unable to use interface",
    "nl80211: Could not",
)
SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """What hostapd is told: the radio's interface, the bridge it joins, the network it offers."""

    interface: str
    bridge: str | None
    ssid: str
    passphrase: str
    security: str = "wpa2"
    channel: int = 6
    hw_mode: str = "g"
    country: str | None = None


def hostapd_config(ap: AccessPoint) -> str:
    """hostapd.conf for ``ap``. The SSID goes as hex (``ssid2=``), so no byte of it can end a line; the
    passphrase was checked to be 8-63 printable ASCII characters (WPA2-PSK, IEEE 802.11i)."""
    lines = [
        "# written by phonehome for one bench run; removed with the run's results",
        f"interface={ap.interface}",
        "driver=nl80211",
        f"ssid2={ap.ssid.encode('utf-8').hex()}",
        "utf8_ssid=1",
        f"hw_mode={ap.hw_mode}",
        f"channel={ap.channel}",
        "ieee80211n=1",
        "wmm_enabled=1",
        "ignore_broadcast_ssid=0",
        "auth_algs=1",
        "ctrl_interface=",
    ]
    if ap.bridge:
        lines.append(f"bridge={ap.bridge}")
    if ap.country:
        lines += [f"country_code={ap.country}", "ieee80211d=1"]
    if ap.security == "wpa2":
        lines += ["wpa=2", "wpa_key_mgmt=WPA-PSK", "rsn_pairwise=CCMP", f"wpa_passphrase={ap.passphrase}"]
    elif ap.security == "wpa3":
        lines += [
            "wpa=2",
            "wpa_key_mgmt=SAE",
            "rsn_pairwise=CCMP",
            "ieee80211w=2",
            f"sae_password={ap.passphrase}",
        ]
    return "\n".join(lines) + "\n"


def not_a_radio(log_text: str) -> str | None:
    """The line of hostapd's log that shows it cannot drive the interface as a radio, if there is one."""
    for line in log_text.splitlines():
        if any(marker in line for marker in _NOT_A_RADIO):
            return line.strip()[:200]
    return None


def radio_message(port: str, interface: str, said: str | None = None, log: Path | None = None) -> str:
    """The one line a lab reads when the port's interface is no Wi-Fi radio."""
    why = f" (hostapd: {said})" if said else " (no /sys/class/net/IFACE/phy80211)"
    kernel = (
        " This host's kernel has no Wi-Fi stack (cfg80211)." if said and "generic netlink" in said else ""
    )
    where = f" (log: {log})" if log else ""
    return (
        f"port {port}: {interface} is not a Wi-Fi radio{why}: name a USB Wi-Fi adapter's interface (iw dev lists "
        f"them) for a hostapd port, or use kind physical for an external AP's cable.{kernel}{where}"
    )


def phy_of(interface: str) -> str | None:
    """The wiphy (``phy0``) behind a host interface; None when it is not a radio."""
    link = SYS_NET / interface / "phy80211"
    try:
        return link.resolve(strict=True).name
    except OSError:
        return None


def start_hostapd(
    netns: str, config: Path, log: Path, *, port: str, interface: str, record: Any = None
) -> subprocess.Popen[bytes]:
    """Starts hostapd on ``config`` in ``netns`` and waits until the AP is enabled; a hostapd that ends
    first is a `BenchError` (the "not a radio" line when its log says so). ``record`` is told the process
    the moment it runs."""
    proc = netops.spawn(netns, [netops.tool("hostapd"), str(config)], log)
    started = ProcessId.of(proc.pid)
    if record is not None and started is not None:
        record(undo.process_record(f"hostapd:{port}", started))

    def enabled() -> bool:
        text = _read(log)
        if any(marker in text for marker in ENABLED):
            return True
        if proc.poll() is not None:
            said = not_a_radio(text)
            if said is not None:
                raise BenchError(radio_message(port, interface, said, log))
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise BenchError(f"port {port}: hostapd exited at start ({tail}) (log: {log})")
        return False

    try:
        poll(f"hostapd on {interface} to enable the AP (see {log})", enabled, START_TIMEOUT_S)
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(5)
        raise
    return proc


class HostapdPort:
    """A USB Wi-Fi adapter's radio moved into the router, hostapd on it once the capture runs."""

    name: ClassVar[str] = "hostapd"
    adopts_host_interface: ClassVar[bool] = True

    @staticmethod
    def check(defn: PortDef) -> list[str]:
        problems = cabled_problems(defn)
        if not defn.ssid:
            problems.append("a hostapd port needs `ssid:` (the network the handset joins)")
        elif len(defn.ssid.encode("utf-8")) > 32:
            problems.append(f"ssid {defn.ssid!r} is longer than 32 bytes (IEEE 802.11)")
        if defn.security != "open":
            text = defn.passphrase or ""
            if not re.fullmatch(r"[\x20-\x7e]{8,63}", text):
                problems.append(
                    f"a {defn.security} hostapd port needs `passphrase:`, 8 to 63 printable ASCII characters"
                )
        elif defn.passphrase:
            problems.append("an open network has no passphrase (security: open)")
        return problems

    @staticmethod
    def plan(defn: PortDef, run_id: str, common: dict[str, Any]) -> Port:
        return Port(
            interface=need(defn.interface, "interface"),
            take_over=defn.take_over,
            ssid=defn.ssid,
            **cabled(defn),
            **common,
        )

    def build(self, builder: Builder, port: Port) -> None:
        host_if = need(port.host_interface, "interface")
        state = host_interface(builder, port, host_if)
        phy = phy_of(host_if)
        if phy is None:
            raise BenchError(radio_message(port.name, host_if))
        refuse_host_uses(port, host_if, state)
        builder.record(PhyTaken(builder.topo.router_ns, phy, port.interface, state))
        done = subprocess.run(
            [netops.tool("iw"), "phy", phy, "set", "netns", "name", builder.topo.router_ns],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(
                f"port {port.name}: the radio {phy} of {host_if} cannot move into the router ({done.stderr.strip()})"
            )
        netops.wait_link(builder.topo.router_ns, port.interface)

    def link_up(self, builder: Builder, port: Port) -> None:
        defn = next(p for p in builder.defn.ports if p.name == port.name)
        ap = AccessPoint(
            interface=port.interface,
            bridge=port.bridge,
            ssid=need(defn.ssid, "ssid"),
            passphrase=defn.passphrase or "",
            security=defn.security,
            channel=defn.channel,
            hw_mode=defn.hw_mode,
            country=defn.country,
        )
        config = privilege.private_file(builder.workdir / f"hostapd-{port.name}.conf")
        config.write_text(hostapd_config(ap))
        log = builder.workdir / f"hostapd-{port.name}.log"
        start_hostapd(
            builder.topo.router_ns,
            config,
            log,
            port=port.name,
            interface=port.interface,
            record=builder.record,
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
