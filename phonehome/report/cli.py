"""``phonehome judge``, ``phonehome report`` and ``phonehome verify``: what a lab does with a results folder.

Thin, like ``phonehome/cli.py`` that adds them: each parses its options and
calls `phonehome.report` (re-judging, re-rendering, the evidence bundle).
Exit statuses are `phonehome.exits`'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from phonehome import exits

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = exits.PASS, exits.FAIL, exits.USAGE, exits.INCONCLUSIVE
EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR = exits.BAD_INPUT, exits.INTERNAL_ERROR
_EXIT_FOR_RESULT = exits.FOR_RESULT


def _judge(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from phonehome.report.rejudge import JudgeError, rejudge  # noqa: PLC0415
    from phonehome.report.terminal import render_verdicts as render  # noqa: PLC0415

    try:
        judged = rejudge(Path(args.results_dir))
    except JudgeError as exc:
        print(f"phonehome judge: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    status = EXIT_INTERNAL_ERROR if judged.differences else _EXIT_FOR_RESULT[judged.evaluation.result]
    if args.format == "json":
        doc = {"status": status, "reproduced": not judged.differences, "differences": judged.differences,
               **judged.evaluation.to_json()}  # fmt: skip
        print(json.dumps(doc, indent=1))
        return status
    sys.stdout.write(render(judged.evaluation))
    if judged.differences:
        print(f"phonehome judge: the verdicts differ from the archived {args.results_dir}/evaluation.json:")
        for difference in judged.differences:
            print(f"  {difference}")
        return EXIT_INTERNAL_ERROR
    print(f"phonehome judge: reproduces the archived verdicts ({judged.evaluation.result})")
    return _EXIT_FOR_RESULT[judged.evaluation.result]


def _report(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from phonehome.report.rerender import render_results  # noqa: PLC0415

    folder = Path(args.results)
    if not folder.is_dir():
        print(f"phonehome report: {folder}: not a folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    done = render_results(folder, Path(args.output) if args.output else None)
    if args.format == "json":
        print(json.dumps(done.to_json(), indent=1))
        return done.status
    for h in done.handsets:
        if h.error:
            print(f"{h.device}: cannot be judged again: {h.error}", file=sys.stderr)
        elif h.differences:
            print(
                f"{h.device}: the verdicts differ from the archived evaluation.json (reports not rendered):"
            )
            for difference in h.differences:
                print(f"  {difference}")
        else:
            print(f"{h.device}: {h.result} (reproduces the archived verdicts)")
    if done.report is not None:
        print(f"report: {done.report}")
    return done.status


def _verify(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from phonehome.report.bundle import summary  # noqa: PLC0415

    doc = summary(Path(args.results))
    if args.format == "json":
        print(json.dumps(doc, indent=1))
    elif doc["ok"]:
        print(f"phonehome verify: {doc['files']} files match {args.results}/evidence.json")
    else:
        for problem in doc["problems"]:
            print(f"phonehome verify: {problem}", file=sys.stderr)
        print(
            f"phonehome verify: {args.results} is NOT what the run sealed ({len(doc['problems'])} problems)"
        )
    return EXIT_OK if doc["ok"] else EXIT_BAD_INPUT


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``judge``, ``report`` and ``verify`` to the ``phonehome`` command."""
    judge = sub.add_parser(
        "judge",
        help="judge an archived run again from its results folder alone",
        description="Reads a handset's results folder (capture.json and its capture files, identity.json, "
        "the manifest's copy, run.json with the phases and bench problems), checks the files are the ones "
        "the run sealed (SHA-256), judges them again and prints the verdicts.",
        epilog=f"exit status: {EXIT_OK}, {EXIT_FAIL} or {EXIT_INCONCLUSIVE} as the reproduced verdicts "
        f"(PASS/NOT_APPLICABLE, FAIL, INCONCLUSIVE); {EXIT_USAGE} usage; {EXIT_BAD_INPUT} bad input (the "
        f"folder lacks a file, or a file is not the one the run sealed); {EXIT_INTERNAL_ERROR} the verdicts "
        "differ from the archived evaluation.json (each difference is printed), or a crash.",
    )
    judge.add_argument("results_dir", metavar="RESULTS_DIR", help="a handset's results folder")
    add_format(judge, "the verdicts, findings and differences as JSON")
    judge.set_defaults(func=_judge)

    report = sub.add_parser(
        "report",
        help="judge an archived run again from its files alone and render its HTML reports",
        description="RESULTS is a handset's results folder or a `phonehome run` folder (its handsets from "
        "summary.json). Each capture is judged again from the folder's own files (as `phonehome judge`); "
        "when every verdict is reproduced, each handset's report.html and the batch's are rendered again "
        "(in place, byte for byte as the run wrote them, or under --output). The report's path is printed last.",
        epilog=f"exit status: {EXIT_OK}, {EXIT_FAIL} or {EXIT_INCONCLUSIVE} as the reproduced verdicts; "
        f"{EXIT_BAD_INPUT} a folder that cannot be judged again (a file missing, or not the one the run "
        f"sealed); {EXIT_INTERNAL_ERROR} verdicts that differ from the archive (nothing is rendered), or a crash.",
    )
    report.add_argument("results", metavar="RESULTS", help="a handset's or a batch's results folder")
    report.add_argument("-o", "--output", metavar="DIR", help="render into DIR instead of RESULTS")
    add_format(report, "each handset's reproduced result and differences, and the report's path, as JSON")
    report.set_defaults(func=_report)

    verify = sub.add_parser(
        "verify",
        help="check a results folder against its evidence bundle (SHA-256 of every file)",
        description="Checks every file listed in RESULTS/evidence.json (and SHA256SUMS) against its SHA-256, "
        "that no file was added, and that each capture is still the one its bench sealed (capture.json).",
        epilog=f"exit status: {EXIT_OK} every file matches; {EXIT_BAD_INPUT} a file differs, is missing or "
        "was added, or there is no bundle (each problem is printed on stderr).",
    )
    verify.add_argument("results", metavar="RESULTS", help="a handset's or a batch's results folder")
    add_format(verify, "the outcome and every problem as JSON")
    verify.set_defaults(func=_verify)


def add_format(parser: argparse.ArgumentParser, json_help: str) -> None:
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help=f"text (default) or json: {json_help}"
    )
