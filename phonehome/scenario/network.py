"""Joining the bench's Wi-Fi over ADB: ``cmd wifi connect-network`` (Android 11+), as a lab scripts it.

The Setup Wizard can join the network itself (its Wi-Fi screen); after
setup, or where the wizard's Wi-Fi screen is skipped, this step joins the
bench's access point (a hostapd port's SSID and passphrase) and waits for
``cmd wifi status`` to name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonehome.scenario.context import Context
from phonehome.scenario.model import Detail, StepFailed, StepKind

SECURITY = ("open", "owe", "wpa2", "wpa3")


@dataclass
class JoinWifi:
    """``cmd wifi connect-network SSID SECURITY [PASSPHRASE]``, then until the handset is associated."""

    ssid: str
    password: str = ""
    security: str = ""
    """``open``, ``owe``, ``wpa2`` or ``wpa3``; default: wpa2 with a password, else open."""
    timeout: float = 60.0
    label: str = "join the bench's Wi-Fi"
    kind: StepKind = "automated"

    def __post_init__(self) -> None:
        self.security = self.security or ("wpa2" if self.password else "open")
        if self.security not in SECURITY:
            raise ValueError(f"security={self.security!r}: choose one of {', '.join(SECURITY)}")
        if self.security in ("wpa2", "wpa3") and not 8 <= len(self.password) <= 63:
            raise ValueError(f"a {self.security} passphrase is 8 to 63 characters")

    def run(self, ctx: Context) -> Detail | None:
        argv = ["cmd", "wifi", "connect-network", self.ssid, self.security]
        argv += [self.password] if self.password else []
        done = ctx.handset.shell(argv, step=self.label, check=False)
        if done.exit_code != 0 or "Connection initiated" not in done.stdout:
            said = (done.stdout + done.stderr).strip()[:200] or f"exit {done.exit_code}"
            raise StepFailed(
                f"cmd wifi connect-network {self.ssid!r} failed ({said}): Android 11+ is needed; join it on the "
                "wizard's Wi-Fi screen instead (--scenario-option wifi=join)"
            )

        def joined() -> bool:
            status = ctx.handset.shell(["cmd", "wifi", "status"], step=self.label, check=False).stdout
            return f'connected to "{self.ssid}"' in status

        ctx.wait_until(
            joined, what=f"Wi-Fi associated with {self.ssid!r} (is the AP up?)", timeout=self.timeout
        )
        return {"wifi": self.ssid, "security": self.security}
