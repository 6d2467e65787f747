"""A handset lent through labgrid: its exporter's description, checked, as ``phonehome run`` takes it.

The lab's inventory stays the one place a handset is described (identity, reset method, bench and
port); the exporter's resource names the inventory and the handset's serial, and may repeat the adb
and fastboot serials, bench, port and host interface so that ``labgrid-client`` shows them. Whatever
it repeats must agree with the inventory and the bench definition: two descriptions that drift apart
would test a handset on another cable than the one the lab thinks. The paths are the exporter host's:
the run executes there, because the bench needs the handset's cable (docs/lab-rig.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from phonehome import exits
from phonehome.yamlconf import ConfigError

RESOURCE = "PhonehomeHandset"
"""The labgrid resource class a place lends a handset by (`phonehome.lab.labgrid`)."""
PARAMETERS: tuple[str, ...] = (
    "serial",
    "inventory",
    "adb_serial",
    "fastboot_serial",
    "bench",
    "port",
    "interface",
)
"""What a `RESOURCE` in an exporter's configuration may say; ``serial`` and ``inventory`` are required."""
_LABGRID_OWN = ("extra",)  # the exporter adds its host under `extra` (proxy, proxy_required)


class LendError(Exception):
    """A place that cannot lend its handset for a run: the step, what is wrong and what to do, one line."""

    def __init__(self, step: str, message: str, status: int) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.status = status
        """The run's exit status (`phonehome.exits`): BAD_INPUT for a lab's definitions that cannot be
        used, NO_VERDICT for a lab that is not there or busy."""


@dataclass(frozen=True, slots=True)
class LabHandset:
    """What ``phonehome run`` needs of a lent handset, in its own terms."""

    device: str
    """``adb:SERIAL``: the serial the exporter host's adb server lists it by."""
    inventory: Path
    """The lab's inventory on this host; its entry names the reset method, bench, port and identity."""
    bench: Path | None
    """The bench definition when only the resource names one (else the inventory entry's is used)."""
    port: str | None
    """The bench port it is cabled to, when named (the inventory's)."""
    interface: str | None
    """The host interface of that port, when the resource names it (checked against the bench)."""


def resolve(params: Mapping[str, object], where: str) -> LabHandset:
    """The handset ``params`` (a `RESOURCE`'s, as its exporter published them) describe; `LendError`
    naming ``where`` (the resource's path) for anything that does not fit the inventory or bench."""

    def bad(message: str) -> LendError:
        return LendError("resource", f"{where}: {message}", exits.BAD_INPUT)

    unknown = sorted(set(params) - set(PARAMETERS) - set(_LABGRID_OWN))
    if unknown:
        raise bad(
            f"{', '.join(map(repr, unknown))} is not a parameter of {RESOURCE} (it has: {', '.join(PARAMETERS)}): "
            "fix the exporter's configuration"
        )
    given: dict[str, str] = {}
    for key in PARAMETERS:
        value = params.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise bad(f"{key} {value!r} is not a non-empty string (quote it in the exporter's YAML)")
        given[key] = value
    for key in ("serial", "inventory"):
        if key not in given:
            raise bad(
                f"{key} is missing: {RESOURCE} names the handset's serial and the lab inventory listing it"
            )
    for key in ("inventory", "bench"):
        if key in given and not Path(given[key]).is_absolute():
            raise bad(f"{key} {given[key]!r} is not an absolute path (the exporter's file, on its host)")
    inventory = Path(given["inventory"])
    if not inventory.is_file():
        raise bad(
            f"inventory {inventory} is not on this host: run phonehome on the host the handset is cabled to "
            "(its exporter's): the bench needs the handset's cable"
        )
    return _checked(given, inventory, bad)


def _checked(given: dict[str, str], path: Path, bad: Callable[[str], LendError]) -> LabHandset:
    """The inventory entry of ``given['serial']``, and whatever the resource repeats checked against it."""
    from phonehome.bench.definition import load_bench  # noqa: PLC0415  (pydantic models: loaded when used)
    from phonehome.device import load_inventory  # noqa: PLC0415

    try:
        inventory = load_inventory(path)
    except ConfigError as exc:
        raise bad(f"inventory {path}: {exc.one_line()}") from exc
    serial = given["serial"]
    entry = next((e for e in inventory.handsets if e.serial == serial), None)
    if entry is None:
        raise bad(
            f"inventory {path} lists no handset with serial {serial!r}: add its entry, or fix `serial:`"
        )

    def disagree(key: str, theirs: str | None, what: str) -> None:
        if key in given and given[key] != theirs:
            raise bad(
                f"{key} {given[key]!r} disagrees with {what} ({theirs!r}): make the exporter's configuration "
                "and the lab's definitions say the same"
            )

    adb_serial = entry.adb_serial or entry.serial
    disagree("adb_serial", adb_serial, f"the inventory's adb serial in {path}")
    plan = entry.reset
    fastboot = (plan.fastboot_serial or entry.serial) if plan and plan.method.startswith("fastboot") else None
    disagree("fastboot_serial", fastboot, f"the fastboot serial of its reset method in {path}")
    named = given.get("bench")
    if named and entry.bench and Path(entry.bench).resolve() != Path(named).resolve():
        disagree("bench", entry.bench, f"the inventory's bench in {path}")
    bench_path = Path(named) if named else Path(entry.bench) if entry.bench else None
    port, interface = entry.port, None
    if bench_path is not None and ("port" in given or "interface" in given):
        try:
            bench = load_bench(bench_path)
        except ConfigError as exc:
            raise bad(f"bench {bench_path}: {exc.one_line()}") from exc
        ports = {p.name: p for p in bench.ports}
        port = port or (next(iter(ports)) if len(ports) == 1 else None)
        disagree("port", port, f"the port the inventory puts it on in {path}")
        interface = ports[port].interface if port in ports else None
        disagree("interface", interface, f"the host interface of port {port!r} in {bench_path}")
    elif "port" in given or "interface" in given:
        raise bad(f"port and interface are a bench's: name `bench:` in its inventory entry ({path}) or here")
    return LabHandset(
        device=f"adb:{adb_serial}",
        inventory=path,
        bench=Path(named) if named and not entry.bench else None,
        port=port,
        interface=interface,
    )
