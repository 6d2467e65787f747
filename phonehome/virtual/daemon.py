"""Virtual handsets as detached processes: what ``phonehome virtual start|list|stop`` manages.

Each instance is one Python process running a `VirtualHandset` until SIGTERM.
It records itself in ``RUN_DIR/NAME.json`` (pid, ADB address, serial,
profile) once ADB listens, and removes the record when it stops; its log is
``RUN_DIR/NAME.log``, and a person's acts (``phonehome virtual hands``) reach it
on ``RUN_DIR/NAME.hands`` (`phonehome.virtual.control`). A record whose process is gone is stale: ``list``
shows it as such and ``stop`` cleans it up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RUN_DIR_ENV = "PHONEHOME_RUN_DIR"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class DaemonError(RuntimeError):
    """An instance that cannot be started or stopped; the message says why and what to do."""


def run_dir() -> Path:
    """``$PHONEHOME_RUN_DIR``, else /run/phonehome/virtual as root, else a per-user runtime folder."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    if os.geteuid() == 0:
        return Path("/run/phonehome/virtual")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/phonehome-{os.getuid()}"  # noqa: S108
    return Path(runtime) / "phonehome" / "virtual"


@dataclass
class Instance:
    """One running (or stale) virtual handset process."""

    name: str
    pid: int
    profile: str
    adb_serial: str
    serial: str
    netns: str | None
    started_at: float
    log: str
    fastboot_serial: str = ""
    """``tcp:127.0.0.1:PORT``: where its bootloader listens once it is in fastboot mode."""
    hands: str = ""
    """The Unix socket its hands listen on (`phonehome.virtual.control`)."""

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _record(name: str) -> Path:
    return run_dir() / f"{name}.json"


def read_instance(path: Path) -> Instance | None:
    try:
        return Instance(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_instances() -> list[Instance]:
    folder = run_dir()
    if not folder.is_dir():
        return []
    found = (read_instance(p) for p in sorted(folder.glob("*.json")))
    return [i for i in found if i is not None]


def start_detached(
    profile: str,
    *,
    name: str | None = None,
    netns: str | None = None,
    adb_port: int = 0,
    seed: str | None = None,
    time_scale: float = 1.0,
    auth: bool = False,
    timeout: float = START_TIMEOUT_S,
    fastboot_port: int = 0,
    locked_bootloader: bool = False,
    adb: str | None = None,
    attach_timeout: float | None = None,
) -> Instance:
    """Starts a handset in its own session and returns once its ADB listens."""
    from phonehome.virtual.profile import load_profile  # noqa: PLC0415

    load_profile(profile)  # a typo fails here, with file:line, not in the detached process
    if netns is not None and not Path("/run/netns", netns).exists():
        raise DaemonError(f"network namespace {netns!r} does not exist (ip netns list); create it first")
    folder = run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    label = name or f"{profile}-{os.getpid()}-{int(time.time()) % 100000}"
    existing = read_instance(_record(label))
    if existing is not None and existing.alive:
        raise DaemonError(
            f"a virtual handset named {label!r} already runs (pid {existing.pid}); stop it first"
        )
    _record(label).unlink(missing_ok=True)
    log = folder / f"{label}.log"
    argv = [sys.executable, "-m", "phonehome.virtual.daemon", "--profile", profile, "--name", label]
    argv += ["--adb-port", str(adb_port), "--time-scale", str(time_scale)]
    if netns:
        argv += ["--netns", netns]
    if seed:
        argv += ["--seed", seed]
    if auth:
        argv += ["--auth"]
    if fastboot_port:
        argv += ["--fastboot-port", str(fastboot_port)]
    if locked_bootloader:
        argv += ["--locked-bootloader"]
    if adb:
        argv += ["--adb", adb]
    if attach_timeout is not None:
        argv += ["--attach-timeout", str(attach_timeout)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instance = read_instance(_record(label))
        if instance is not None and instance.pid == process.pid:
            return instance
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise DaemonError(f"virtual handset {label!r} exited ({process.returncode}): " + " | ".join(tail))
        time.sleep(0.05)
    process.terminate()
    raise DaemonError(f"virtual handset {label!r} did not start within {timeout:.0f} s (log: {log})")


def stop_instance(name: str, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stops ``name`` (SIGTERM, then SIGKILL after ``timeout``); False when there is no such instance."""
    path = _record(name)
    instance = read_instance(path)
    if instance is None:
        return False
    if instance.alive:
        os.kill(instance.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while instance.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if instance.alive:
            os.kill(instance.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    path.with_suffix(".hands").unlink(missing_ok=True)
    return True


def _serve(args: argparse.Namespace) -> int:
    """The detached process: runs one handset until SIGTERM or SIGINT.

    Given a network namespace (a bench port's), the handset's firmware joins it:
    a DHCP lease on the profile's Wi-Fi interface, then the profile's behaviour.
    """
    from phonehome.virtual import AuthPolicy, VirtualHandset, VirtualOperator  # noqa: PLC0415  (heavy)
    from phonehome.virtual.control import HandsServer  # noqa: PLC0415
    from phonehome.virtual.firmware import Firmware, FirmwareError  # noqa: PLC0415
    from phonehome.virtual.net.dhcp import DhcpError  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handset = VirtualHandset(
        args.profile,
        seed=args.seed,
        name=args.name,
        netns=args.netns,
        adb_port=args.adb_port,
        time_scale=args.time_scale,
        auth=AuthPolicy(required=True) if args.auth else None,
        fastboot_port=args.fastboot_port,
        bootloader_unlocked=False if args.locked_bootloader else None,
        adb=args.adb,
    )
    firmware = Firmware(handset) if args.netns else None
    handset.start()
    if firmware is not None:
        try:
            lease = firmware.attach_network(args.netns, timeout=args.attach_timeout)
        except (
            FirmwareError,
            DhcpError,
        ) as exc:  # a phone on a desk whose bench is not up yet: it joins at its next boot
            logging.warning(
                "no network on %s yet (%s): the handset joins it at its next boot", args.netns, exc
            )
        else:
            logging.info("joined %s: %s", args.netns, lease)
    path = _record(args.name)
    hands = HandsServer(path.with_suffix(".hands"), VirtualOperator(handset))
    instance = Instance(
        name=args.name,
        pid=os.getpid(),
        profile=handset.profile.name,
        adb_serial=handset.adb_serial,
        serial=handset.serial,
        netns=args.netns,
        started_at=time.time(),
        log=str(path.with_suffix(".log")),
        fastboot_serial=handset.fastboot_serial,
        hands=str(hands.path),
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(instance)))
    tmp.replace(path)
    logging.info("%r listening; identity %s", handset, json.dumps(handset.identity.as_dict()))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        hands.close()
        if firmware is not None:
            firmware.stop()
        handset.stop()
        with contextlib.suppress(OSError):
            current = read_instance(path)
            if current is not None and current.pid == os.getpid():
                path.unlink()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phonehome.virtual.daemon")
    parser.add_argument("--profile", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--netns")
    parser.add_argument("--adb-port", type=int, default=0)
    parser.add_argument("--seed")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--auth", action="store_true")
    parser.add_argument("--fastboot-port", type=int, default=0)
    parser.add_argument("--locked-bootloader", action="store_true")
    parser.add_argument("--adb", choices=("at-boot", "after-setup"))
    parser.add_argument("--attach-timeout", type=float, default=30.0)
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
