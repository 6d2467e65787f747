"""unlock: screen off, screen on and unlock, as the 2019 Nokia client re-sent its registration on unlock.

What the handset sends after the unlock belongs to the unlock (the phase
lasts until it settled), so a resend shows as a finding in phase ``unlock``.
Options:

    settle    SECONDS    handset time to let traffic come after the unlock (default 60)
"""

from phonehome.scenario import (
    Options,
    Phase,
    PowerOn,
    Scenario,
    ScreenOff,
    ScreenOn,
    Settle,
    Unlock,
    WaitBootCompleted,
)


def scenario(options: Options) -> Scenario:
    return Scenario(
        "unlock",
        "screen off, screen on, unlock",
        [
            Phase("boot", [PowerOn(), WaitBootCompleted()], once=True),
            Phase("screen-off", [ScreenOff()]),
            Phase("unlock", [ScreenOn(), Unlock(), Settle(options.number("settle", 60.0))]),
        ],
    )
