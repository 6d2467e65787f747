"""The virtual handset's UI: a Setup Wizard in two vendor flavours, then a launcher.

`SetupWizard` implements `phonehome.virtual.screen.Screen`; the shell
(``input``, ``screencap``, ``uiautomator dump``) and the uiautomator2 server
(`phonehome.virtual.uiautomator`) both drive it.
"""

from phonehome.virtual.ui.flavour import Flavour, flavour_names, load_flavour
from phonehome.virtual.ui.state import WifiNetwork, WizardState
from phonehome.virtual.ui.wizard import LAUNCHER, SetupWizard

__all__ = [
    "LAUNCHER",
    "Flavour",
    "SetupWizard",
    "WifiNetwork",
    "WizardState",
    "flavour_names",
    "load_flavour",
]
