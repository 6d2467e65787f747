"""labgrid's resource and driver for a lab's handset on a bench port.

An exporter on the host the handset is cabled to exports it (no phonehome needed there for that:
labgrid's exporter publishes the parameters of a class it has no export code for as they are)::

    phonehome-desk:                  # the resource group; a place matches EXPORTER/phonehome-desk/PhonehomeHandset
      PhonehomeHandset:
        serial: B2NGAAL9SNN8HV81     # ro.serialno: its entry in the inventory
        inventory: /srv/lab/handsets.yaml
        interface: enx00e04c680001   # optional, shown by labgrid-client and checked against the bench

On the client side (``phonehome run --lg-place``, or a lab's own labgrid environment with a
``RemotePlace``), importing this module registers both classes with labgrid's target factory; the
driver turns the bound resource into the `LabHandset` a run takes.
"""

from __future__ import annotations

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import Resource

from phonehome.lab.handset import PARAMETERS, RESOURCE, LabHandset, resolve

# labgrid ships no type hints: its base classes are Any to mypy (hence the ignores on the classes).

_text = attr.validators.instance_of(str)
_maybe_text = attr.validators.optional(attr.validators.instance_of(str))


@target_factory.reg_resource
@attr.s(eq=False)
class PhonehomeHandset(Resource):  # type: ignore[misc]
    """A handset of the lab's inventory, cabled to a bench port of the exporter's host. It only holds
    data (`phonehome.lab.handset.PARAMETERS`); what a run needs is the driver's to work out."""

    serial: str = attr.ib(validator=_text)
    """``ro.serialno``: how the inventory lists it."""
    inventory: str = attr.ib(validator=_text)
    """The lab's inventory file on the exporter's host (an absolute path)."""
    adb_serial: str | None = attr.ib(default=None, validator=_maybe_text)
    fastboot_serial: str | None = attr.ib(default=None, validator=_maybe_text)
    bench: str | None = attr.ib(default=None, validator=_maybe_text)
    """The bench definition, when its inventory entry names none."""
    port: str | None = attr.ib(default=None, validator=_maybe_text)
    interface: str | None = attr.ib(default=None, validator=_maybe_text)
    """The host interface of its bench port (a USB-Ethernet adapter, an AP's uplink)."""


@target_factory.reg_driver
@attr.s(eq=False)
class PhonehomeDriver(Driver):  # type: ignore[misc]
    """Binds to a `PhonehomeHandset` and says how ``phonehome run`` drives it (`lab_handset`)."""

    bindings = {"handset": RESOURCE}  # noqa: RUF012  (labgrid's binding table is a class attribute)

    @Driver.check_active  # type: ignore[untyped-decorator]
    def lab_handset(self) -> LabHandset:
        """The device, inventory and bench of the bound handset; `phonehome.lab.handset.LendError`
        when its description does not fit the lab's inventory or bench."""
        handset = self.handset
        params = {k: getattr(handset, k) for k in PARAMETERS if getattr(handset, k) is not None}
        return resolve(params, f"{self.target.name}/{handset.name or RESOURCE}")
