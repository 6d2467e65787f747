"""The virtual handset: a phone that the real adb server, adbutils and uiautomator2 talk to.

Public surface: `VirtualHandset` (lifecycle, identity, screen, services, and
what hands do: SIM cards, the power button, a factory reset), `VirtualOperator`
(a scenario's manual acts by name), `Profile`/`load_profile`
(``devices/virtual/*.yaml``), `HandsetIdentity`, `SimCard`, `AuthPolicy` (ADB
authentication). The UI (``phonehome.virtual.ui``) and the uiautomator2 server
(``phonehome.virtual.uiautomator``) are sibling modules.
"""

from phonehome.virtual.adb.auth import AuthPolicy
from phonehome.virtual.events import HandsetError, HandsetEvent
from phonehome.virtual.handset import VirtualHandset
from phonehome.virtual.identity import HandsetIdentity, SimCard, generate_identity
from phonehome.virtual.operator import OperatorError, VirtualOperator
from phonehome.virtual.profile import Profile, available_profiles, load_profile
from phonehome.virtual.services import TcpHandler

__all__ = [
    "AuthPolicy",
    "HandsetError",
    "HandsetEvent",
    "HandsetIdentity",
    "OperatorError",
    "Profile",
    "SimCard",
    "TcpHandler",
    "VirtualHandset",
    "VirtualOperator",
    "available_profiles",
    "generate_identity",
    "load_profile",
]
