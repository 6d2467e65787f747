"""``phonehome``: the command line. Thin: parses arguments and calls the library.

Exit statuses are part of the interface (labs script against them); each
subcommand documents its own in its help text.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from phonehome import __version__, exits
from phonehome.report.cli import add_format, add_parsers
from phonehome.store.cli import add_parsers as add_store_parsers
from phonehome.store.hook import use_store

EXIT_OK = exits.PASS
"""Analyzed; with --identity/--manifest: every verdict PASS (or NOT_APPLICABLE)."""
EXIT_FAIL = exits.FAIL
EXIT_USAGE = exits.USAGE  # argparse's own
EXIT_INCONCLUSIVE = exits.INCONCLUSIVE
EXIT_BAD_INPUT = exits.BAD_INPUT
"""A file given on the command line cannot be used at all (missing, unreadable, empty, not a capture;
an identity, manifest or timeline with an error: one line names file, line and key)."""
EXIT_NO_VERDICT = exits.NO_VERDICT
EXIT_INTERNAL_ERROR = exits.INTERNAL_ERROR
_EXIT_FOR_RESULT = exits.FOR_RESULT


def _doctor(args: argparse.Namespace) -> int:
    from phonehome.bench.doctor import doctor  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return doctor(install_missing=args.install, quiet=args.quiet)


def _policy_inputs(args: argparse.Namespace) -> dict[str, object] | str:
    """Identity, manifest, handset and timeline from the options; a one-line error instead on bad input."""
    from phonehome.policy import ConfigError, Identity, load_identity, load_manifest, parse_handset  # noqa: PLC0415
    from phonehome.traffic.timeline import TimelineError, load_timeline  # noqa: PLC0415

    out: dict[str, object] = {"manifest": None, "handset": None, "timeline": None, "drops": args.drops}
    try:
        out["identity"] = load_identity(Path(args.identity)) if args.identity else Identity()
        if args.manifest:
            out["manifest"] = load_manifest(Path(args.manifest))
        if args.timeline:
            out["timeline"] = load_timeline(Path(args.timeline))
    except ConfigError as exc:
        return " / ".join(exc.problems[:3]) + (
            f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
        )
    except TimelineError as exc:
        return str(exc)
    except OSError as exc:
        return f"{exc.filename}: cannot read: {exc.strerror or exc}"
    if args.handset:
        try:
            out["handset"] = parse_handset(args.handset)
        except ValueError as exc:
            return str(exc)
    return out


def _bench(args: argparse.Namespace) -> int:
    from phonehome.bench.cli import run  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return run(args)


def _analyze(args: argparse.Namespace) -> int:
    # Imported here so that `phonehome --help` stays fast.
    import gc  # noqa: PLC0415
    import json  # noqa: PLC0415

    from phonehome.report.terminal import render_analysis as render  # noqa: PLC0415
    from phonehome.traffic import CaptureError, analyze  # noqa: PLC0415

    judging = bool(args.identity or args.manifest)
    inputs = _policy_inputs(args) if judging else {}
    if isinstance(inputs, str):
        print(f"phonehome analyze: {inputs}", file=sys.stderr)
        return EXIT_BAD_INPUT
    evaluation = None
    try:
        if judging:
            from phonehome.policy import analyze_capture  # noqa: PLC0415

            analysis, evaluation = analyze_capture(args.captures, keylog=args.keylog, **inputs)  # type: ignore[arg-type]
        else:
            analysis = analyze(args.captures, keylog=args.keylog)
    except CaptureError as exc:
        print(f"phonehome analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # What follows builds the document: a million containers that all live until it is written (and
    # then until the process ends, see `_exit_now`). The cyclic collector, left on, walks them and
    # the analysis again and again for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        text: str | bytes
        if args.format == "json":
            from phonehome.report.analysis_json import compact, to_dict  # noqa: PLC0415

            doc = to_dict(analysis)
            if evaluation is not None:
                doc.update(evaluation.to_json())
            # Indented for a person at a terminal; compact otherwise: the stdlib's C encoder runs
            # only without indentation, and a capture's thousands of flows made indenting cost more
            # than the analysis itself.
            shown = args.output is None and sys.stdout.isatty()
            text = json.dumps(doc, indent=1) + "\n" if shown else compact(doc)
        else:
            text = render(analysis)
            if evaluation is not None:
                from phonehome.report.terminal import render_verdicts  # noqa: PLC0415

                text += "\n" + render_verdicts(evaluation)
        problem = _write_output(args.output, text)
        if problem is not None:
            return problem
        for warning in analysis.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        status = EXIT_OK if evaluation is None else _EXIT_FOR_RESULT[evaluation.result]
        if getattr(args, "exit_when_done", False):
            _exit_now(status)
    finally:
        if collecting:
            gc.enable()
    return status


def _write_output(path: str | None, text: str | bytes) -> int | None:
    """Writes the output to ``path`` (stdout when None); an exit status when it cannot be written."""
    if not path:
        _write_stdout(text)
        return None
    try:
        with open(path, "wb") as out:
            out.write(text.encode() if isinstance(text, str) else text)
    except OSError as exc:
        # Imported here: the report folder's module brings the policy package, which
        # `phonehome analyze` without --identity/--manifest never needs (half its start-up).
        from phonehome.report.folder import DISK_ERRORS  # noqa: PLC0415

        print(f"phonehome analyze: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        # A full or failing disk is this machine's fault; a path that cannot be written, the caller's.
        return EXIT_INTERNAL_ERROR if exc.errno in DISK_ERRORS else EXIT_USAGE
    return None


def _write_stdout(text: str | bytes) -> None:
    """Text as it is; bytes (a UTF-8 document) straight to the underlying buffer when there is one."""
    if isinstance(text, str):
        sys.stdout.write(text)
        return
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by a text-only stream (a test capturing output)
        sys.stdout.write(text.decode())
        return
    sys.stdout.flush()
    buffer.write(text)
    buffer.flush()


def _exit_now(status: int) -> NoReturn:
    """Ends the process with the analysis still in memory. Freeing its millions of objects one by
    one, and then tearing down the interpreter, took a tenth of a run on a large capture; the output
    is written and closed and nothing else is pending (only the console script asks for this)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _manifest_suggest(args: argparse.Namespace) -> int:
    from phonehome.policy import analyze_capture, parse_handset  # noqa: PLC0415
    from phonehome.policy.identity import Identity  # noqa: PLC0415
    from phonehome.policy.suggest import suggest, to_yaml  # noqa: PLC0415
    from phonehome.traffic import CaptureError  # noqa: PLC0415

    inputs = _policy_inputs(args)
    if isinstance(inputs, str):
        print(f"phonehome manifest suggest: {inputs}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        handset = parse_handset(args.handset) if args.handset else None
        identity = inputs["identity"]
        assert isinstance(identity, Identity)
        _analysis, evaluation = analyze_capture(args.captures, identity=identity, handset=handset)
    except CaptureError as exc:
        print(f"phonehome manifest suggest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = to_yaml(suggest(evaluation.contacts, firmware=args.firmware, leaks=evaluation.findings))
    text = f"# handset: {evaluation.handset} ({evaluation.handset_how})\n" + text
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _policy_options(parser: argparse.ArgumentParser, *, judging: bool = True) -> None:
    parser.add_argument(
        "--identity", metavar="ID.yaml", help="the handset's identifiers to look for (enables verdicts)"
    )
    parser.add_argument(
        "--handset", metavar="IP|MAC", help="the handset's address (default: inferred, and said how)"
    )
    if judging:
        parser.add_argument(
            "--manifest", metavar="M.yaml", help="declared endpoints and policy (enables verdicts)"
        )
        parser.add_argument(
            "--timeline", metavar="T.jsonl", help="phase markers (consent) beside the capture"
        )
        parser.add_argument(
            "--drops",
            type=int,
            metavar="N",
            help="packets the bench knows were dropped (adds to the capture's own)",
        )
    else:
        parser.set_defaults(manifest=None, timeline=None, drops=None)


def _run(args: argparse.Namespace) -> int:
    # labgrid-client's convention: LG_PLACE names the place when no -p (here: no --device) is given.
    place = args.lg_place or (None if args.device else os.environ.get("LG_PLACE") or None)
    if place and (args.device or args.inventory):
        print(
            f"phonehome run: --lg-place {place}: the place lends the handset and names its inventory: "
            "drop --device and --inventory (or unset LG_PLACE to run --device)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not place and not args.device:
        print("phonehome run: --device is required (or --lg-place PLACE, or LG_PLACE)", file=sys.stderr)
        return EXIT_USAGE
    if place:
        return _run_lent(args, place)
    return _run_devices(args)


def _run_lent(args: argparse.Namespace, place: str) -> int:
    """The run on the handset a labgrid place lends (`phonehome.lab.place`): held for the run, then given back."""
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("labgrid") is None:
        print(
            f"phonehome run: --lg-place {place}: labgrid is not installed: pip install 'phonehome[labgrid]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from phonehome.lab.handset import LendError  # noqa: PLC0415
    from phonehome.lab.place import DEFAULT_COORDINATOR, borrow, give_back  # noqa: PLC0415

    coordinator = args.lg_coordinator or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR
    try:
        lease = borrow(place, coordinator)
    except LendError as exc:
        print(f"phonehome run: --lg-place {place}: {exc}", file=sys.stderr)
        return exc.status
    how = "acquired for this run" if lease.acquired else "already held"
    if not args.quiet:
        print(
            f"phonehome run: labgrid place {place} ({how} by {lease.holder}): {lease.resource} is {lease.handset.device}",
            file=sys.stderr,
        )
    args.device = [lease.handset.device]
    args.inventory = str(lease.handset.inventory)
    if args.bench is None and lease.handset.bench is not None:
        args.bench = str(lease.handset.bench)
    try:
        return _run_devices(args)
    finally:
        problem = give_back(lease)
        if problem:
            print(f"phonehome run: --lg-place {place}: {problem}", file=sys.stderr)
        elif lease.acquired and not args.quiet:
            print(f"phonehome run: labgrid place {place} released", file=sys.stderr)


def _run_devices(args: argparse.Namespace) -> int:
    from phonehome.assets import SUITE, shipped_or_none  # noqa: PLC0415
    from phonehome.run import run  # noqa: PLC0415

    suite = Path(args.suite) if args.suite else SUITE
    if not suite.exists():
        print(
            f"phonehome run: no compliance suite at {suite} (give the folder with --suite)", file=sys.stderr
        )
        return EXIT_USAGE
    problem = use_store(args.store, args.batch)  # checked before any bench comes up
    if problem:
        print(f"phonehome run: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from phonehome.report.progress import Display  # noqa: PLC0415

    given = {"bench": args.bench, "manifest": args.manifest, "inventory": args.inventory}
    found = {option: shipped_or_none(path) for option, path in given.items()}
    for option, path in given.items():
        if path and found[option] != path and not args.quiet:  # say it: the lab may have meant its own copy
            print(
                f"phonehome run: --{option} {path}: not in {Path.cwd()}; the shipped {found[option]}",
                file=sys.stderr,
            )
    options = [f"--time-scale={args.time_scale}"] if args.time_scale is not None else []
    verbosity = -1 if args.quiet else 1 if args.verbose else 0
    # Progress only where a person watches: a terminal, not -q, not JSON for a script.
    shown = sys.stdout.isatty() and args.format != "json" and verbosity >= 0
    options += [f"--tls={args.tls}"] if args.tls else []
    return run(
        args.device,
        display=Display(sys.stdout, enabled=shown, verbose=verbosity > 0),
        verbosity=verbosity,
        fmt=args.format,
        suite=suite,
        results_dir=Path(args.results),
        bench=found["bench"],
        manifest=found["manifest"],
        inventory=found["inventory"],
        scenarios=args.scenario or [],
        consent=args.consent,
        scenario_options=args.scenario_option or [],
        options=options + list(args.pytest_args),
        jobs=args.jobs,
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return value


def _differential(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from phonehome.report.differential import compare_folders, render  # noqa: PLC0415
    from phonehome.report.rejudge import JudgeError  # noqa: PLC0415

    try:
        comparison = compare_folders([Path(f) for f in args.results])
    except JudgeError as exc:
        print(f"phonehome differential: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(comparison.to_json(), indent=1))
    else:
        sys.stdout.write(render(comparison))
    return comparison.status


def _add_differential(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    differential = sub.add_parser(
        "differential",
        help="compare runs of one firmware with different identities: identifiers in unknown encodings",
        description="Reads two or more results folders (a handset's, or a `phonehome run` folder for all of "
        "its handsets) of the same firmware on handsets with different identities, and compares what they "
        "sent per endpoint and field (path, query, headers, form and JSON fields, raw payloads). A field "
        "whose value changes exactly with an identifier but holds it in no encoding leak detection knows "
        "is reported as a probable obfuscated identifier (XOR with a fixed key; with a repeated identity, "
        "a custom hash or fixed-key encryption), with each run's excerpt.",
        epilog=f"exit status: {EXIT_OK} nothing found; {EXIT_FAIL} a probable obfuscated identifier; "
        f"{EXIT_INCONCLUSIVE} the runs cannot show one (one identity only); {EXIT_BAD_INPUT} a folder that "
        f"cannot be read (a file missing, or not the one the run sealed); {EXIT_INTERNAL_ERROR} a crash.",
    )
    differential.add_argument("results", nargs="+", metavar="RESULTS", help="results folders to compare")
    add_format(differential, "the suspects, each run's excerpts and the notes as JSON")
    differential.set_defaults(func=_differential)


def _virtual(args: argparse.Namespace) -> int:
    from phonehome.virtual.cli import run  # noqa: PLC0415  (keeps `phonehome --help` fast)

    return run(args)


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
    start.add_argument(
        "--fastboot-port",
        type=int,
        default=0,
        help="where its bootloader listens in fastboot mode (fastboot -s tcp:127.0.0.1:PORT; default: a free one)",
    )
    start.add_argument(
        "--locked-bootloader", action="store_true", help="a locked bootloader (refuses erase, flash and -w)"
    )
    start.add_argument(
        "--adb",
        choices=("at-boot", "after-setup"),
        help="after-setup: ADB only once setup is done and USB debugging enabled, as a retail build "
        "(default: the profile's)",
    )
    start.add_argument(
        "--attach-timeout",
        type=float,
        help="seconds to wait for a DHCP lease in --netns at start (default 30); without one the handset "
        "joins at its next boot, as a phone on a desk whose bench is not up yet",
    )
    start.set_defaults(func=_virtual)
    listing = verbs.add_parser("list", help="list handsets: name, state, ADB address, profile, serial")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_virtual)
    stop = verbs.add_parser("stop", help="stop handsets by name")
    stop.add_argument("names", nargs="*", metavar="NAME")
    stop.add_argument("--all", action="store_true", help="stop every handset")
    stop.set_defaults(func=_virtual)
    hands = verbs.add_parser(
        "hands",
        help="do what a person does to a handset: look at and touch its screen, its buttons, its SIM tray",
        description="Performs one act on a running handset, as a lab assistant's hands would (no ADB): "
        "screen.look (prints what the screen shows, as JSON), screen.tap text=LABEL (or x=PX y=PX), "
        "screen.type text=..., screen.key key=back, screen.swipe direction=up, power.press, "
        "power.bootloader (Volume Down + Power), usb-debugging.enable (Developer options, after setup), "
        "sim.insert|sim.remove|sim.swap slot=0, factory-reset. Prints what was done.",
    )
    hands.add_argument("name", metavar="NAME", help="the handset (phonehome virtual list)")
    hands.add_argument("act", metavar="ACT")
    hands.add_argument("params", nargs="*", metavar="KEY=VALUE", help="the act's parameters")
    hands.set_defaults(func=_virtual)


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
        "whose owner died (--all: detached ones too). Exit 0 on success, 1 on a bench error, 4 on a "
        "definition that cannot be used (one line on stderr names file, line and key; nothing is created).",
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
        epilog=exits.describe(
            analyzed=True, no_verdict="never given by analyze, which needs no bench or device"
        )
        + f" -o FILE that cannot be written is a usage error ({EXIT_USAGE}), a full disk an internal one. "
        "JSON output follows phonehome/traffic/analysis.schema.json, plus 'verdicts', 'findings', 'result' "
        "and 'handset' when judging (phonehome/policy/schemas/judged-analysis.schema.json).",
    )
    analyze.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap/pcapng file(s), optionally .gz")
    analyze.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: one line per endpoint (default); json: flows, endpoints, capture facts, stats",
    )
    analyze.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    analyze.add_argument(
        "--keylog",
        metavar="FILE",
        help="TLS secrets to decrypt TLS flows with (an SSLKEYLOGFILE, NSS key log format); secrets in the "
        "capture's own pcapng Decryption Secrets Blocks are used without it",
    )
    _policy_options(analyze)
    analyze.set_defaults(func=_analyze)

    manifest = sub.add_parser("manifest", help="work with declared-endpoint manifests")
    manifest_sub = manifest.add_subparsers(dest="manifest_command", metavar="ACTION", required=True)
    suggest = manifest_sub.add_parser(
        "suggest",
        help="draft a manifest from what a capture shows",
        description="Declares every endpoint the handset reached in the capture (names, ports, transports; "
        "identifiers seen in clear when --identity is given). Purpose, legal basis and consent are left "
        "for an engineer to fill in.",
        epilog=f"exit status: {EXIT_OK} written; {EXIT_USAGE} usage error; {EXIT_BAD_INPUT} bad input.",
    )
    suggest.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap/pcapng file(s), optionally .gz")
    suggest.add_argument(
        "--firmware", default="TODO: build fingerprint", help="the build the manifest describes"
    )
    suggest.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    _policy_options(suggest, judging=False)
    suggest.set_defaults(func=_manifest_suggest)
    _add_virtual(sub)
    _add_run(sub)
    _add_differential(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="the compliance suite on one or more handsets: verdicts and a results folder",
        description="Runs the compliance suite (pytest --pyargs phonehome.suite) once per --device (--jobs at "
        "once), each on a fresh bench with a new results folder of its own and its inventory entry's "
        "manifest, and prints every assertion's verdict per "
        "handset and the results folder (captures, identity with provenance, the manifest's copy, "
        "analysis, verdicts and findings, JUnit XML, allure results). A verdict is printed only when the "
        "handset's own pytest session agrees with it. Inputs are checked before any bench comes up. "
        "Needs root. Extra pytest options go after '--'.",
        epilog=exits.describe(
            no_verdict="a bench or device error, a run that timed out or was interrupted: the reason is "
            "printed, the child's log is in its results folder"
        )
        + " With several handsets the most serious status wins: 6, 4, 2, 5, 1, 3, 0. With --lg-place: 4 for a "
        "place or PhonehomeHandset resource that cannot be used, 5 for a coordinator that does not answer, a "
        "handset not exported or a place someone else holds.",
    )
    run.add_argument(
        "--device",
        action="append",
        metavar="SPEC",
        help="virtual:PROFILE (devices/virtual/PROFILE.yaml) or adb:SERIAL; repeat for several "
        "(required unless a labgrid place lends the handset)",
    )
    run.add_argument(
        "--lg-place",
        metavar="PLACE",
        help="the handset a labgrid place lends (its PhonehomeHandset resource; default $LG_PLACE when no "
        "--device is given): acquired for the run when free, released after it; run on the host the handset "
        "is cabled to (docs/lab-rig.md)",
    )
    run.add_argument(
        "--lg-coordinator",
        metavar="HOST:PORT",
        help="the labgrid coordinator (default $LG_COORDINATOR, else 127.0.0.1:20408)",
    )
    run.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        default=1,
        metavar="N",
        help="handsets run at once, each on a bench of its own (default 1: one after another)",
    )
    run.add_argument(
        "--bench",
        help="bench definition (default: each handset's inventory entry's; virtual handsets: benches/virtual.yaml); "
        "required for adb: handsets the inventory does not place",
    )
    run.add_argument(
        "--manifest",
        help="declared endpoints for handsets whose inventory entry names none (default: each virtual "
        "profile's own)",
    )
    run.add_argument(
        "--inventory",
        help="declared identifiers (IMEI, IMSI, ICCID) the shell cannot read; for the virtual handsets: "
        "devices/virtual-inventory.yaml",
    )
    run.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="scenario to drive each handset through (scenarios/NAME.py: first-boot, activation, unlock, idle, "
        "or a .py path; default first-boot); repeat or separate with commas to run several in order",
    )
    run.add_argument(
        "--consent",
        choices=["accept-all", "decline-all", "minimal"],
        help="consent variant on the Setup Wizard's consent screens (default accept-all)",
    )
    run.add_argument(
        "--scenario-option",
        action="append",
        metavar="KEY=VALUE",
        help="an option of the scenario (settle=SECONDS, idle=SECONDS, reset=adb, wifi=skip...); repeat",
    )
    run.add_argument(
        "--tls",
        choices=["alert", "validate", "intercept"],
        help="what the bench does with TLS, instead of the bench definition's `tls:` (docs/tls.md)",
    )
    run.add_argument("--results", default="results", help="parent folder of the run's results")
    run.add_argument(
        "--store",
        metavar="URL",
        help="the results store the batch is indexed in: postgresql://USER@HOST/DB or a SQLite file "
        "(default: $PHONEHOME_STORE, else RESULTS/phonehome.sqlite; docs/store.md)",
    )
    run.add_argument("--batch", metavar="NAME", help="the batch's name in the store (default: its folder's)")
    run.add_argument(
        "--suite",
        metavar="FOLDER",
        help="a compliance suite of the lab's own (default: the one phonehome ships)",
    )
    run.add_argument(
        "--time-scale",
        type=float,
        help="virtual handsets' firmware time scale (default: the plugin's, 1e-4: an hour in 0.36 s)",
    )
    loud = run.add_mutually_exclusive_group()
    loud.add_argument(
        "-q", "--quiet", action="store_true", help="one line per handset, then the report's path"
    )
    loud.add_argument(
        "-v", "--verbose", action="store_true", help="each step as its own line; every verdict's reason"
    )
    add_format(
        run, "the summary (devices, statuses, verdicts, results and report paths) as one JSON document"
    )
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed to pytest")
    run.set_defaults(func=_run)
    add_parsers(sub)
    add_store_parsers(sub)


def main(argv: Sequence[str] | None = None, *, exit_when_done: bool = False) -> int:
    """Runs one command; a crash exits `EXIT_INTERNAL_ERROR` with its traceback, never 1 (FAIL).
    ``exit_when_done``: a command that may ends the process itself when done (see `_exit_now`)."""
    args = build_parser().parse_args(argv)
    args.exit_when_done = exit_when_done
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        print(f"phonehome {args.command}: interrupted: no verdict", file=sys.stderr)
        return EXIT_NO_VERDICT
    except Exception as exc:  # a crash must never read as a verdict
        traceback.print_exc(file=sys.stderr)
        print(f"phonehome {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return status


def console_main() -> None:
    """Entry point of the ``phonehome`` console script."""
    sys.exit(main(exit_when_done=True))


if __name__ == "__main__":
    console_main()
