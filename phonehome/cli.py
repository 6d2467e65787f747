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
EXIT_USAGE = 2  # argparse's own
EXIT_BAD_INPUT = 4
"""A file given on the command line cannot be used at all (missing, unreadable, empty, not a capture)."""


def _doctor(args: argparse.Namespace) -> int:
    from phonehome.bench.doctor import doctor  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return doctor(install_missing=args.install, quiet=args.quiet)


def _bench(args: argparse.Namespace) -> int:
    from phonehome.bench.cli import run  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return run(args)


def _analyze(args: argparse.Namespace) -> int:
    # Imported here so that `phonehome --help` stays fast.
    import json  # noqa: PLC0415

    from phonehome.traffic import CaptureError, analyze  # noqa: PLC0415
    from phonehome.traffic.table import render  # noqa: PLC0415

    try:
        analysis = analyze(args.captures)
    except CaptureError as exc:
        print(f"phonehome analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = json.dumps(analysis.to_dict(), indent=1) + "\n" if args.format == "json" else render(analysis)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            print(f"phonehome analyze: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        sys.stdout.write(text)
    for warning in analysis.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


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

    bench = sub.add_parser(
        "bench",
        help="bring a bench up, show it, bring it down, clean what killed runs left",
        description="up: builds a bench from a definition and leaves it running (its dnsmasq, sinks and "
        "capture are detached processes); status: lists benches and their problems; down: stops the "
        "capture (printing its files, SHA-256 and drops) and removes the bench; clean: removes benches "
        "whose owner died (--all: detached ones too). Exit 0 on success, 1 on a bench error.",
    )
    verbs = bench.add_subparsers(dest="verb", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="build a bench and leave it running")
    up.add_argument("definition", help="bench definition (benches/virtual.yaml)")
    up.add_argument("--workdir", help="folder for captures and logs (default: results/NAME-RUNID)")
    status = verbs.add_parser("status", help="list running benches")
    status.add_argument("name", nargs="?", help="run id or bench name")
    down = verbs.add_parser("down", help="stop the capture and remove a bench")
    down.add_argument("name", help="run id or bench name")
    clean = verbs.add_parser("clean", help="remove benches whose owner died")
    clean.add_argument("--all", action="store_true", help="also remove detached benches (bench up)")
    bench.set_defaults(func=_bench)

    analyze = sub.add_parser(
        "analyze",
        help="list the endpoints a capture reached (or all its flows as JSON)",
        description="Reads pcap or pcapng captures (gzip-compressed too; several files are one rotated "
        "capture, in the order given) and lists the servers the traffic reached: by the name the client "
        "used (TLS/QUIC SNI, HTTP Host, or its own earlier DNS answer) or, unnamed, by address. "
        "Malformed packets are counted, never fatal; a truncated file is analyzed up to its end "
        "with a warning on stderr.",
        epilog=f"exit status: {EXIT_OK} analyzed; {EXIT_USAGE} usage error; "
        f"{EXIT_BAD_INPUT} bad input (a file is missing, unreadable, empty or not a capture: one line "
        "on stderr names it). JSON output follows phonehome/traffic/analysis.schema.json.",
    )
    analyze.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap/pcapng file(s), optionally .gz")
    analyze.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: one line per endpoint (default); json: flows, endpoints, capture facts, stats",
    )
    analyze.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    analyze.set_defaults(func=_analyze)
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
