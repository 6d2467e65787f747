"""A compliance run's judged identity: read over ADB after the scenario, the inventory, what it learned.

Read after the scenario, so that what the scenario changed is in it (a new
SIM on an Android 9 phone, a factory reset's new ANDROID_ID); merged with
the lab's inventory (what Android 10+ refuses the shell) and with what the
scenario learned from the operator (the ICCID typed off a new SIM card). A
handset that cannot be read any more leaves a problem, so every would-be
PASS is INCONCLUSIVE, instead of a crash without verdicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pydantic

from phonehome.report import folder as results

if TYPE_CHECKING:
    from phonehome.compliance import ComplianceRun
    from phonehome.policy import Identity

LEARNED = "scenario"
"""The source named for identifiers the scenario learned (the operator's answer)."""


def read_run_identity(run: ComplianceRun) -> Identity:
    """``identity.json`` (and its provenance, ``identity.txt``, ``build.json``) in the results; the Identity."""
    from phonehome.device import DeviceError  # noqa: PLC0415
    from phonehome.policy import Identity  # noqa: PLC0415

    inventory = run.inventory()
    handset = run.handset
    confirm_after_setup(run)
    identity: Identity | None = None
    if handset is None:
        run.problems.append(
            "the scenario never reached the handset over ADB: its identifiers were not read (only the "
            "inventory's are looked for)"
        )
    else:
        try:
            report = handset.read_identity(inventory)
        except DeviceError as exc:
            run.problems.append(
                f"the handset's identity could not be read over ADB after the scenario: {exc}"
            )
        else:
            identity = report.identity
            run.write_json(results.PROVENANCE, report.as_dict())
            results.write_text(run.claim() / "identity.txt", report.table() + "\n")
            run.notes += [f"identity: {c}" for c in report.conflicts]
            if identity.unread:
                keys = ", ".join(sorted(identity.unread))
                run.notes.append(
                    f"identity: {keys} could not be read over ADB: declare them in the inventory (--inventory)"
                )
    if identity is None:
        entry = inventory.find(None, run.device.name) if inventory is not None else None
        identity = entry.identity.model_copy(deep=True) if entry is not None else Identity()
        if entry is not None:
            identity.sources.update(dict.fromkeys(identity.keys(), "inventory"))
    learned = run.scenario_result.learned if run.scenario_result else {}
    identity = with_learned(identity, learned, run.problems)
    run.write_json(results.IDENTITY, identity.model_dump(mode="json", exclude_defaults=True))
    if handset is not None:
        try:
            run.build = handset.read_build()
        except DeviceError as exc:
            run.notes.append(f"build identity not read: {exc}")
        else:
            run.write_json("build.json", run.build.to_dict())
            run.notes.append(
                f"build: {run.build.fingerprint} ({run.build.build_type or '?'}/{run.build.tags or '?'}): every "
                "verdict is of this build"
            )
    return identity


def confirm_after_setup(run: ComplianceRun) -> None:
    """A handset whose ADB ran only after setup was known by its inventory entry through its first boot;
    its ``ro.serialno`` over ADB now confirms it was that unit, or the run cannot PASS."""
    from phonehome.device import DeviceError  # noqa: PLC0415

    entry = run.inventory_entry()
    if entry is None or entry.adb != "after-setup" or run.handset is None:
        return
    try:
        serial = run.handset.getprop("ro.serialno", step="confirm identity")
    except DeviceError as exc:
        run.problems.append(
            f"the inventory's identity for {entry.serial} could not be confirmed over ADB: {exc}"
        )
        return
    if serial != entry.serial:
        run.problems.append(
            f"the handset over ADB after setup is {serial or '(no ro.serialno)'}, not the inventory's {entry.serial}: "
            "the first boot was judged with another unit's identifiers"
        )
        return
    run.notes.append(
        f"identity: ADB runs only after setup on this build, so through its first boot the handset was known by "
        f"its inventory entry ({entry.serial}); confirmed over ADB after setup (ro.serialno {serial})"
    )


def with_learned(identity: Identity, learned: dict[str, list[str]], problems: list[str]) -> Identity:
    """``identity`` with the scenario's learned values added to their keys (source ``scenario``).

    A value that is not a valid identifier of its kind (a typo at the prompt) is left out, and named
    as a problem: the new SIM's leaks could not be looked for.
    """
    from phonehome.policy import Identity  # noqa: PLC0415

    out = identity
    for key, values in learned.items():
        for value in values:
            doc = out.model_dump()
            current = list(doc.get(key) or [])
            try:
                candidate = Identity.model_validate({**doc, key: [*current, value]})
            except pydantic.ValidationError:
                problems.append(
                    f"the scenario learned {key}={value!r}, which is not a valid {key}: leaks of it cannot be "
                    "looked for (type it as printed on the card)"
                )
                continue
            added = getattr(candidate, key)[-1]
            if added in current:
                continue  # already known (read over ADB, or in the inventory)
            old = out.sources.get(key)
            candidate.sources[key] = f"{old}, {LEARNED}" if old and LEARNED not in old else old or LEARNED
            out = candidate
    return out
