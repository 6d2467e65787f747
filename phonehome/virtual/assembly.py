"""Putting a virtual handset's state together, and taking user data apart again (a factory reset).

`assemble_state` builds the `HandsetState` of a handset from its profile and
identity at first power-on; `wipe_user_data` is what recovery's
``--wipe_data`` does to it; `show_sim` makes a SIM change visible where
Android shows it (properties, the Setup Wizard's SIM screen, the log).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from phonehome.virtual.fs import DeviceFs
from phonehome.virtual.identity import HandsetIdentity
from phonehome.virtual.logs import LogBuffer
from phonehome.virtual.packages import PackageTable
from phonehome.virtual.profile import Profile
from phonehome.virtual.properties import PropertyStore, build_properties, default_settings
from phonehome.virtual.services import LocalServices
from phonehome.virtual.state import HandsetState
from phonehome.virtual.telephony import sim_properties, slots
from phonehome.virtual.ui import SetupWizard, load_flavour
from phonehome.virtual.ui.display import Display


def default_wizard(profile: Profile, identity: HandsetIdentity, time_scale: float) -> SetupWizard:
    """The Setup Wizard of the profile's flavour, in the profile's locale when the wizard offers it."""
    flavour = load_flavour(profile.wizard)
    locale = profile.region.locale
    offered = {language.code for language in flavour.languages}
    sim = identity.sim
    return SetupWizard(
        flavour,
        locale=locale if locale in offered else None,
        carrier=sim.carrier.name if sim else None,
        device_name=profile.build.model,
        time_scale=time_scale,
    )


def assemble_state(
    profile: Profile,
    identity: HandsetIdentity,
    fs: DeviceFs,
    display: Display,
    *,
    netns: str | None,
    reboot: Callable[[str], None],
    factory_reset: Callable[[], None],
    broadcast: Callable[[str, dict[str, str]], None],
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    test_harness: Callable[[], None] = lambda: None,
) -> HandsetState:
    """A handset fresh from the factory: build properties, default settings, the profile's packages."""
    props = PropertyStore(build_properties(profile, identity))
    state = HandsetState(
        profile=profile,
        identity=identity,
        props=props,
        settings=default_settings(profile, identity),
        fs=fs,
        packages=PackageTable(profile.packages, float(profile.build.date_utc)),
        display=display,
        services=LocalServices(netns),
        logs=LogBuffer(),
        netns=netns,
        reboot=reboot,
        factory_reset=factory_reset,
        test_harness=test_harness,
        broadcast=broadcast,
        spawn=spawn,
    )
    fs.install_file("/system/build.prop", "".join(f"{k}={v}\n" for k, v in props.items()))
    fs.install_file(f"/sys/class/net/{profile.wifi_interface}/address", state.wifi_mac + "\n")
    fs.generated.update(state.sockets.files())
    fs.install_file("/proc/version", f"Linux version 4.4.153 (android-build@{profile.build.device})\n")
    return state


def wipe_user_data(state: HandsetState) -> None:
    """Erases /data, /sdcard and /cache: settings back to defaults (for the identity the handset has
    now), only the system packages, nothing stopped, and the Setup Wizard back at its first screen."""
    state.fs.wipe_user_data()
    state.settings = default_settings(state.profile, state.identity)
    state.packages = PackageTable(state.profile.packages, float(state.profile.build.date_utc))
    state.stopped_packages.clear()
    state.wifi_networks.clear()
    ui = state.display.inner
    if isinstance(ui, SetupWizard):
        state.display.replace_inner(ui.fresh())
    state.logs.log("I", "recovery", "Data wipe complete.", pid=1)


def show_sim(state: HandsetState, slot: int) -> None:
    """The state's identity has a SIM change in ``slot``: properties, the wizard's SIM screen, the log."""
    identity = state.identity
    state.props.update(sim_properties(identity))
    wizard = state.display.inner
    if isinstance(wizard, SetupWizard):  # its SIM screen shows when a SIM is in
        wizard.carrier = identity.sim.carrier.name if identity.sim else None
    present = slots(identity)[slot] is not None
    state.logs.log("I", "UiccController", f"slot {slot}: card {'PRESENT' if present else 'ABSENT'}", pid=1530)
