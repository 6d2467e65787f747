"""``phonehome virtual start|list|stop|hands``: detached virtual handsets from the command line."""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


def run(args: argparse.Namespace) -> int:
    verbs = {"start": _virtual_start, "list": _virtual_list, "stop": _virtual_stop, "hands": _virtual_hands}
    return verbs[args.verb](args)


def _virtual_start(args: argparse.Namespace) -> int:
    from phonehome.virtual.daemon import DaemonError, start_detached  # noqa: PLC0415
    from phonehome.yamlconf import ConfigError  # noqa: PLC0415

    try:
        instance = start_detached(
            args.profile,
            name=args.name,
            netns=args.netns,
            adb_port=args.adb_port,
            seed=args.seed,
            time_scale=args.time_scale,
            auth=args.auth,
            fastboot_port=args.fastboot_port,
            locked_bootloader=args.locked_bootloader,
            adb=args.adb,
            attach_timeout=args.attach_timeout,
        )
    except (DaemonError, ConfigError) as exc:
        print(f"phonehome virtual start: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"{instance.name}\t{instance.adb_serial}\tserial {instance.serial}\tpid {instance.pid}"
        f"\tfastboot {instance.fastboot_serial}"
    )
    print(f"connect with: adb connect {instance.adb_serial}", file=sys.stderr)
    return EXIT_OK


def _virtual_list(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    from dataclasses import asdict  # noqa: PLC0415

    from phonehome.virtual.daemon import list_instances  # noqa: PLC0415

    instances = list_instances()
    if args.json:
        print(json.dumps([{**asdict(i), "alive": i.alive} for i in instances], indent=2))
        return EXIT_OK
    for i in instances:
        state = "running" if i.alive else "stale"
        netns = i.netns or "-"
        print(
            f"{i.name}\t{state}\t{i.adb_serial}\t{i.profile}\tserial {i.serial}\tnetns {netns}\tpid {i.pid}"
        )
    return EXIT_OK


def _virtual_stop(args: argparse.Namespace) -> int:
    from phonehome.virtual.daemon import list_instances, stop_instance  # noqa: PLC0415

    names = [i.name for i in list_instances()] if args.all else args.names
    if not names and not args.all:
        print("phonehome virtual stop: name a handset (phonehome virtual list) or use --all", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for name in names:
        if stop_instance(name):
            print(f"stopped {name}")
        else:
            print(f"phonehome virtual stop: no virtual handset named {name!r}", file=sys.stderr)
            status = EXIT_FAIL
    return status


def _virtual_hands(args: argparse.Namespace) -> int:
    from phonehome.virtual.control import HandsError, perform  # noqa: PLC0415
    from phonehome.virtual.daemon import list_instances  # noqa: PLC0415

    params: dict[str, object] = {}
    for pair in args.params:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            print(f"phonehome virtual hands: {pair!r} is not KEY=VALUE", file=sys.stderr)
            return EXIT_USAGE
        params[key] = _scalar(value)
    found = [i for i in list_instances() if i.name == args.name and i.alive and i.hands]
    if not found:
        print(f"phonehome virtual hands: no running virtual handset named {args.name!r}", file=sys.stderr)
        return EXIT_FAIL
    try:
        print(perform(found[0].hands, args.act, params))
    except HandsError as exc:
        print(f"phonehome virtual hands: {args.name}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _scalar(value: str) -> object:
    """``true``/``false`` and whole numbers as such (a slot, a pixel); anything else as typed."""
    if value in ("true", "false"):
        return value == "true"
    if value.lstrip("-").isdigit() and len(value) < 10:
        return int(value)
    return value
