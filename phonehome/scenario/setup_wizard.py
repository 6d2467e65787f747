"""The step that walks the Setup Wizard: map, consent variant, and the checks around the walk.

Before walking, the handset must be at its first boot (``user_setup_complete``
not 1): a handset already set up would give a "first boot" without its
consent screens. After the launcher shows, the wizard must have recorded its
end (``settings get secure user_setup_complete`` and ``settings get global
device_provisioned`` are 1), or the walk did not really finish.

On a build whose ADB runs only after setup (a retail build, ``adb:
after-setup`` in the inventory) a person walks the wizard following prompts:
up to the first consent screen, where the consent marker is written just
before they decide, then to its end; then they enable USB debugging, ADB is
re-acquired, and the end is checked over ADB as above.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonehome.scenario.context import Context
from phonehome.scenario.model import Detail, StepFailed, StepKind
from phonehome.scenario.operator import SETUP_WIZARD, USB_DEBUGGING
from phonehome.scenario.screenmap import screen_maps
from phonehome.scenario.wizard import ConsentChoice, WizardDriver, consent_choice

ADB_AFTER_SETUP_S = 120.0
"""How long ADB may take to show once the operator enabled USB debugging (and accepted the key)."""

COMPLETION = (("secure", "user_setup_complete"), ("global", "device_provisioned"))
COMPLETION_TIMEOUT_S = 15.0


def setting(ctx: Context, namespace: str, key: str, step: str) -> str:
    """``settings get NAMESPACE KEY`` ('null' and '' alike mean unset)."""
    return ctx.handset.shell(["settings", "get", namespace, key], step=step).stdout.strip()


def setup_complete(ctx: Context, step: str) -> bool:
    return all(setting(ctx, ns, key, step) == "1" for ns, key in COMPLETION)


@dataclass
class WalkSetupWizard:
    """Walks the wizard to the launcher by the screen maps, with ``consent`` (a consent variant).

    ``flavour`` forces one map (else the map that knows the first screen is used); ``screenmaps`` a
    folder or file of maps (else ``scenarios/screenmaps/``); ``wifi``: ``join`` the network ``ssid``
    (with ``password``) on the Wi-Fi screen, or ``skip`` it.
    """

    consent: str = "accept-all"
    flavour: str | None = None
    screenmaps: str | None = None
    wifi: str = "join"
    ssid: str = "phonehome-bench"
    password: str = ""
    language: str = ""
    timeout: float = 300.0
    label: str = ""
    kind: StepKind = "automated"

    def __post_init__(self) -> None:
        consent_choice(self.consent)  # ValueError naming the variants, when the scenario is built
        if self.wifi not in ("join", "skip"):
            raise ValueError(f"wifi={self.wifi!r}: join or skip")
        self.label = self.label or f"walk the Setup Wizard (consent {self.consent})"

    def run(self, ctx: Context) -> Detail | None:
        if ctx.waits_for_setup:
            return self.by_hand(ctx)
        if setup_complete(ctx, self.label):
            raise StepFailed(
                "the Setup Wizard already completed (user_setup_complete=1): a first boot needs the handset "
                "at its first boot (factory-reset it, or run with --scenario-option reset=adb)"
            )
        maps = screen_maps(self.screenmaps)
        driver = WizardDriver(
            ctx.ui(),
            maps,
            choice=consent_choice(self.consent),
            decide=ctx.decide,
            values={"ssid": self.ssid, "password": self.password, "language": self.language},
            skip=self.wifi == "skip",
            flavour=self.flavour,
            timeout=self.timeout,
            clock=ctx.clock,
            sleep=ctx.sleep,
            seen=lambda name: ctx.progress("screen", name),
        )
        walk = driver.walk()
        ctx.reports["wizard"] = walk.to_dict()
        ctx.wait_until(
            lambda: setup_complete(ctx, self.label),
            what="the wizard's end recorded (user_setup_complete and device_provisioned 1)",
            timeout=COMPLETION_TIMEOUT_S,
        )
        return {
            "consent": self.consent,
            "accepted": driver.choice.accepted,
            "flavour": walk.flavour,
            "screens": walk.screens,
            "consent_screens": [str(c["screen"]) for c in walk.consents],
        }

    def by_hand(self, ctx: Context) -> Detail:
        """The operator walks the wizard; the consent marker is written when they are about to decide."""
        choice = consent_choice(self.consent)
        params: dict[str, object] = {"consent": self.consent, "ssid": self.ssid, "password": self.password}
        wifi = f"join the Wi-Fi network '{self.ssid}' when it asks" if self.wifi == "join" else "skip Wi-Fi"
        ctx.operator.perform(
            SETUP_WIZARD,
            {**params, "stage": "consent"},
            f"Walk the Setup Wizard ({wifi}) up to its first consent screen (diagnostics, location, backup...). "
            f"There {_toggles(choice)}, but do not tap the decision yet. Press Enter.",
        )
        ctx.decide("consent", accepted=choice.accepted, variant=choice.variant, by="operator")
        ctx.operator.perform(
            SETUP_WIZARD,
            {**params, "stage": "finish"},
            f"Now {_decision(choice)}, and finish the wizard choosing the same on every further consent screen. "
            "Press Enter when the home screen shows.",
        )
        ctx.operator.perform(
            USB_DEBUGGING,
            {},
            "Enable USB debugging: Settings > About phone > tap Build number seven times; Settings > System > "
            "Developer options > USB debugging on; accept this computer's key when asked. Press Enter.",
        )
        ctx.reacquire(ADB_AFTER_SETUP_S)
        ctx.wait_until(
            lambda: setup_complete(ctx, self.label),
            what="the wizard's end recorded (user_setup_complete and device_provisioned 1)",
            timeout=COMPLETION_TIMEOUT_S,
        )
        return {
            "consent": self.consent,
            "accepted": choice.accepted,
            "walked_by": "operator",
            "adb": "after setup",
        }


def _toggles(choice: ConsentChoice) -> str:
    return "switch every optional toggle on" if choice.toggles else "switch every optional toggle off"


def _decision(choice: ConsentChoice) -> str:
    if choice.decline:
        return (
            "tap the screen's decline button (No thanks, Decline...) where it has one, else its Next/Accept"
        )
    if choice.accepted:
        return "tap Accept (or Agree, Next)"
    return "tap what setup requires to go on (Next, Accept the terms), with the optional toggles off"
