"""first-boot: power on, the Setup Wizard with a consent variant, network attach, settle.

The handset must be at its first boot (factory-reset; ``reset=adb`` wipes a
userdebug build over ADB first). Options (``--scenario-option KEY=VALUE``):

    reset     inventory | never | fastboot-wipe | fastboot-update | recovery | test-harness | manual
              | adb | operator         back to first boot (default inventory: the method the handset's
                                       inventory entry names, else nothing); adb: a userdebug build's
                                       FACTORY_RESET broadcast; operator: a person, prompted
    wifi      join | skip | cmd        join ``ssid`` on the wizard's Wi-Fi screen; cmd: skip it there and join
                                       with cmd wifi connect-network after setup (Android 11+) (default join)
    ssid, password                     the bench's network (a hostapd port's ssid and passphrase)
    flavour   aosp | oem | ...         force a screen map (default: the one that knows the screen)
    screenmap PATH                     a folder or file of screen maps (default scenarios/screenmaps/)
    settle    SECONDS                  handset time to let traffic come after attach (default 300)

The consent variant is ``--consent`` (accept-all, decline-all, minimal).
"""

from phonehome.scenario import (
    FactoryReset,
    JoinWifi,
    Options,
    Phase,
    PowerOn,
    Reset,
    Scenario,
    Settle,
    WaitBootCompleted,
    WaitNetwork,
    WalkSetupWizard,
)

RESETS = [
    "inventory",
    "never",
    "fastboot-wipe",
    "fastboot-update",
    "recovery",
    "test-harness",
    "manual",
    "adb",
    "operator",
]


def scenario(options: Options) -> Scenario:
    reset = options.choice("reset", "inventory", RESETS)
    boot = [PowerOn(captures_boot=True), WaitBootCompleted()]
    if reset in ("adb", "operator"):
        boot.append(FactoryReset(via="adb" if reset == "adb" else "operator"))
    elif reset != "never":
        boot.append(Reset(method=None if reset == "inventory" else reset))
    wifi = options.choice("wifi", "join", ["join", "skip", "cmd"])
    ssid, password = options.text("ssid", "phonehome-bench"), options.text("password", "")
    wizard = WalkSetupWizard(
        consent=options.consent,
        flavour=options.text("flavour", "") or None,
        screenmaps=options.text("screenmap", "") or None,
        wifi="join" if wifi == "join" else "skip",
        ssid=ssid,
        password=password,
    )
    attach = [JoinWifi(ssid, password), WaitNetwork()] if wifi == "cmd" else [WaitNetwork()]
    return Scenario(
        "first-boot",
        "power on, the Setup Wizard with a consent variant, network attach, settle",
        [
            Phase("boot", boot, once=True),
            Phase("setup-wizard", [wizard], detail={"consent": options.consent}),
            Phase("network-attach", attach),
            Phase("settle", [Settle(options.number("settle", 300.0))]),
        ],
    )
