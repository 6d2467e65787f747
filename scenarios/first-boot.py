"""first-boot: power on, the Setup Wizard with a consent variant, network attach, settle.

The handset must be at its first boot (factory-reset; ``reset=adb`` wipes a
userdebug build over ADB first). Options (``--scenario-option KEY=VALUE``):

    reset     never | adb | operator   wipe the handset before powering on (default never)
    wifi      join | skip              join ``ssid`` on the wizard's Wi-Fi screen (default join)
    ssid, password                     the bench's network as the wizard lists it
    flavour   aosp | oem | ...         force a screen map (default: the one that knows the screen)
    screenmap PATH                     a folder or file of screen maps (default scenarios/screenmaps/)
    settle    SECONDS                  handset time to let traffic come after attach (default 300)

The consent variant is ``--consent`` (accept-all, decline-all, minimal).
"""

from phonehome.scenario import (
    FactoryReset,
    Options,
    Phase,
    PowerOn,
    Scenario,
    Settle,
    WaitBootCompleted,
    WaitNetwork,
    WalkSetupWizard,
)


def scenario(options: Options) -> Scenario:
    reset = options.choice("reset", "never", ["never", "adb", "operator"])
    boot = [PowerOn(captures_boot=True), WaitBootCompleted()]
    if reset != "never":
        boot.append(FactoryReset(via="adb" if reset == "adb" else "operator"))
    wizard = WalkSetupWizard(
        consent=options.consent,
        flavour=options.text("flavour", "") or None,
        screenmaps=options.text("screenmap", "") or None,
        wifi=options.choice("wifi", "join", ["join", "skip"]),
        ssid=options.text("ssid", "phonehome-bench"),
        password=options.text("password", ""),
    )
    return Scenario(
        "first-boot",
        "power on, the Setup Wizard with a consent variant, network attach, settle",
        [
            Phase("boot", boot, once=True),
            Phase("setup-wizard", [wizard], detail={"consent": options.consent}),
            Phase("network-attach", [WaitNetwork()]),
            Phase("settle", [Settle(options.number("settle", 300.0))]),
        ],
    )
