"""The virtual handset: a phone that the real adb server, adbutils and uiautomator2 talk to.

Public surface: `VirtualHandset` (lifecycle, identity, screen, services),
`Profile`/`load_profile` (``devices/virtual/*.yaml``), `HandsetIdentity`,
`AuthPolicy` (ADB authentication). The UI (``phonehome.virtual.ui``) and the
uiautomator2 server (``phonehome.virtual.uiautomator``) are sibling modules.
"""

from phonehome.virtual.adb.auth import AuthPolicy
from phonehome.virtual.handset import HandsetError, HandsetEvent, VirtualHandset
from phonehome.virtual.identity import HandsetIdentity, generate_identity
from phonehome.virtual.profile import Profile, available_profiles, load_profile
from phonehome.virtual.services import TcpHandler

__all__ = [
    "AuthPolicy",
    "HandsetError",
    "HandsetEvent",
    "HandsetIdentity",
    "Profile",
    "TcpHandler",
    "VirtualHandset",
    "available_profiles",
    "generate_identity",
    "load_profile",
]
