"""activation: a SIM the handset has never seen, mobile attach, settle (the self-registration trigger).

A SIM goes into slot 1: inserted where the slot is empty, swapped for a new
card where it holds one (the operator does it; on a virtual handset the run
does it as a lab assistant would). The mobile attach and the settling belong
to the same phase, so whatever the new card makes the handset send is a
finding of phase ``activation``. Options:

    slot          1 | 2                the SIM slot (default 1)
    iccid         DIGITS               a particular card (default: any card new to the handset)
    mobile_attach required | skip      wait for mobile data; skip where the lab has no cellular network
    settle        SECONDS              handset time to let traffic come (default 3600: one hourly retry)
"""

from phonehome.scenario import (
    ChangeSim,
    MobileAttach,
    Options,
    Phase,
    PowerOn,
    Scenario,
    Settle,
    WaitBootCompleted,
)


def scenario(options: Options) -> Scenario:
    slot = int(options.choice("slot", "1", ["1", "2"]))
    iccid = options.text("iccid", "") or None
    mobile = options.choice("mobile_attach", "required", ["required", "skip"])
    return Scenario(
        "activation",
        "a new SIM, mobile attach, settle",
        [
            Phase("boot", [PowerOn(), WaitBootCompleted()], once=True),
            Phase(
                "activation",
                [
                    ChangeSim(slot=slot, iccid=iccid),
                    MobileAttach(mode="skip" if mobile == "skip" else "required"),
                    Settle(options.number("settle", 3600.0)),
                ],
            ),
        ],
    )
