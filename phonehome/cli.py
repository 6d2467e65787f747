"""``phonehome``: the command line. Thin: parses arguments and calls the library.

Exit statuses are part of the interface (labs script against them); each
subcommand documents its own in its help text.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from phonehome import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own


def _doctor(args: argparse.Namespace) -> int:
    from phonehome.bench.doctor import doctor  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return doctor(install_missing=args.install, quiet=args.quiet)


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
        )
    except (DaemonError, ConfigError) as exc:
        print(f"phonehome virtual start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{instance.name}\t{instance.adb_serial}\tserial {instance.serial}\tpid {instance.pid}")
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
            status = EXIT_FAILED
    return status


def _add_virtual(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    virtual = sub.add_parser(
        "virtual",
        help="run virtual handsets (detached) that the real adb server can connect to",
        description="Starts, lists and stops virtual handsets. Each runs as a detached process that "
        "listens for ADB on 127.0.0.1 (out of band, like USB); its record is in /run/phonehome/virtual "
        "(or $PHONEHOME_RUN_DIR). Exit 0 on success, 1 on failure, 2 on usage errors.",
    )
    verbs = virtual.add_subparsers(dest="verb", metavar="VERB", required=True)
    start = verbs.add_parser("start", help="start a handset; prints NAME, ADB address, serial and pid")
    start.add_argument(
        "--profile", required=True, help="profile name (devices/virtual/NAME.yaml) or YAML path"
    )
    start.add_argument("--name", help="instance name (default: derived from the profile)")
    start.add_argument("--netns", help="the handset's network namespace (must exist)")
    start.add_argument("--adb-port", type=int, default=0, help="ADB port on 127.0.0.1 (default: a free one)")
    start.add_argument("--seed", help="identity seed (default: the profile's, else random)")
    start.add_argument(
        "--time-scale", type=float, default=1.0, help="multiplies boot delays (0.1: ten times faster)"
    )
    start.add_argument(
        "--auth", action="store_true", help="require ADB authentication (shows 'unauthorized')"
    )
    start.set_defaults(func=_virtual_start)
    listing = verbs.add_parser("list", help="list handsets: name, state, ADB address, profile, serial")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_virtual_list)
    stop = verbs.add_parser("stop", help="stop handsets by name")
    stop.add_argument("names", nargs="*", metavar="NAME")
    stop.add_argument("--all", action="store_true", help="stop every handset")
    stop.set_defaults(func=_virtual_stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phonehome",
        description="Proves what a handset's firmware sends over the network.",
    )
    parser.add_argument("--version", action="version", version=f"phonehome {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    doctor = sub.add_parser(
        "doctor",
        help="check what this host needs to run a bench (and install it)",
        description="Checks privileges, kernel features and the host tools a bench needs; "
        "prints each missing piece with the command that installs it. "
        "Exit 0 when everything required is present, 1 otherwise.",
    )
    doctor.add_argument(
        "--install",
        action="store_true",
        help="install missing Debian packages with apt-get (root, Debian/Ubuntu)",
    )
    doctor.add_argument("--quiet", action="store_true", help="print only what is missing")
    doctor.set_defaults(func=_doctor)
    _add_virtual(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


def console_main() -> None:
    """Entry point of the ``phonehome`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
