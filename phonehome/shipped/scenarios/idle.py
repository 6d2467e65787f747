"""idle: the screen off for a while; what a handset sends when nobody uses it.

The time is handset time: a virtual handset runs it at its time scale (one
hour in 0.36 s by default), a real phone in real time. Options:

    idle      SECONDS    how long the screen stays off (default 3600)
"""

from phonehome.scenario import Options, Phase, PowerOn, Scenario, ScreenOff, Wait, WaitBootCompleted


def scenario(options: Options) -> Scenario:
    seconds = options.number("idle", 3600.0)
    return Scenario(
        "idle",
        f"the screen off for {seconds:g} s of handset time",
        [
            Phase("boot", [PowerOn(), WaitBootCompleted()], once=True),
            Phase("idle", [ScreenOff(), Wait(seconds, "idle", at_least=1.0)], detail={"idle_s": seconds}),
        ],
    )
