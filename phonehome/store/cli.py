"""``phonehome store add|batches`` and ``phonehome diff``: the results store and the regression gate.

Thin, like `phonehome.report.cli`: parses options and calls `phonehome.store`. Nothing heavy
(SQLAlchemy, alembic) is imported before a command runs, so ``phonehome --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from phonehome import exits
from phonehome.report.cli import add_format
from phonehome.store.hook import BATCH_ENV, STORE_ENV

QUERY_KINDS = ("batch", "run")


class BadSide(Exception):
    """A side of a diff that cannot be read: no such folder, batch or run, a store that cannot be used."""


def _deep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deep",
        action="store_true",
        help="judge each folder's capture again without its manifest, so identifiers sent to declared "
        "recipients (inside TLS) are known too (one more analysis per capture)",
    )


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"postgresql://USER@HOST/DB, sqlite:///FILE or a file (default: ${STORE_ENV}, else "
        "RESULTS/phonehome.sqlite)",
    )
    parser.add_argument(
        "--results",
        default="results",
        help="results parent folder, where the default store is (default results/)",
    )


def _url(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # (sqlalchemy's URL, imported late)
    from phonehome.store.db import store_url  # noqa: PLC0415

    return store_url(args.store or os.environ.get(STORE_ENV) or None, Path(args.results))


def _add(args: argparse.Namespace) -> int:
    from phonehome.report.bundle import verify  # noqa: PLC0415
    from phonehome.store.db import Store, StoreError, shown  # noqa: PLC0415
    from phonehome.store.records import read_results  # noqa: PLC0415

    records, status = [], exits.PASS
    for given in args.results_dirs:
        folder = Path(given)
        try:
            found = read_results(folder, args.batch or os.environ.get(BATCH_ENV) or None, deep=args.deep)
        except ValueError as exc:
            print(f"phonehome store add: {exc}", file=sys.stderr)
            status = exits.BAD_INPUT
            continue
        refused = False
        for record in found:
            where = Path(record.folder)
            if args.no_verify or not record.artifacts or not where.is_dir():
                continue
            _, problems = verify(where)
            if problems:
                refused = True
                print(f"phonehome store add: {where}: not what the run sealed: {problems[0]} "
                      f"({len(problems)} problems; phonehome verify {where})", file=sys.stderr)  # fmt: skip
        if refused:
            status = exits.BAD_INPUT
            continue
        records += found
    try:
        url = _url(args)
        with Store.open(url) as store:
            added = store.add(records, replace=args.replace)
    except StoreError as exc:
        print(f"phonehome store add: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    batches = sorted({r.batch for r in records})
    print(f"phonehome store add: {added} runs in {shown(url)} (batch {', '.join(batches) or 'none'})")
    return status


def _batches(args: argparse.Namespace) -> int:
    from phonehome.store.db import Store, StoreError  # noqa: PLC0415

    try:
        with Store.open(_url(args)) as store:
            found = store.batches()
    except StoreError as exc:
        print(f"phonehome store batches: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    if args.format == "json":
        print(json.dumps([{"batch": b, "runs": n} for b, n in found], indent=1))
    else:
        for batch, count in found:
            print(f"{batch}\t{count} runs")
    return exits.PASS


def side(spec: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """``spec`` read: a results folder (a handset's or a batch's), ``batch:NAME`` or ``run:ID`` in the
    store. `BadSide` when it holds no run."""
    from phonehome.store.diff import Side  # noqa: PLC0415

    kind, sep, name = spec.partition(":")
    if sep and kind in QUERY_KINDS:
        from phonehome.store.db import Store, StoreError, shown  # noqa: PLC0415

        url = _url(args)
        if url.drivername == "sqlite" and url.database and not Path(url.database).is_file():
            raise BadSide(
                f"{spec}: no store at {url.database} (give --store, or index runs with phonehome store add)"
            )
        try:
            with Store.open(url) as store:
                runs = store.runs(batch=name) if kind == "batch" else store.runs(run_id=name)
        except StoreError as exc:
            raise BadSide(str(exc)) from exc
        if not runs:
            raise BadSide(f"{spec}: no such {kind} in {shown(url)}")
        return Side(spec, runs)
    from phonehome.store.records import read_results  # noqa: PLC0415

    try:
        return Side(spec, read_results(Path(spec), deep=args.deep))
    except (ValueError, OSError) as exc:
        raise BadSide(f"{spec}: {exc}") from exc


def _diff(args: argparse.Namespace) -> int:
    from phonehome.store.db import StoreError  # noqa: PLC0415
    from phonehome.store.diff import diff, render  # noqa: PLC0415

    try:
        old, new = side(args.old, args), side(args.new, args)
    except (BadSide, StoreError) as exc:
        print(f"phonehome diff: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    result = diff(old, new, gate=args.gate, by_phase=args.by_phase)
    status = exits.FAIL if result.regressed else exits.PASS
    if args.format == "json":
        print(json.dumps({"status": status, **result.to_json()}, indent=1))
    else:
        for line in render(result):
            print(line)
    return status


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``store`` and ``diff`` to the ``phonehome`` command."""
    store = sub.add_parser(
        "store",
        help="index results folders in the results store (SQLite or PostgreSQL)",
        description="The results store indexes each run's verdicts, findings, endpoints (per phase), the "
        "identifiers it sent and to whom (their kinds, never their values), and its files' SHA-256. "
        "`phonehome run` indexes every batch as it finishes; `store add` indexes archived folders.",
    )
    verbs = store.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser(
        "add",
        help="index results folders (a handset's or a `phonehome run` batch's)",
        epilog=f"exit status: {exits.PASS} every folder indexed; {exits.BAD_INPUT} a folder that is not "
        "results, or not what its run sealed (phonehome verify), or a store that cannot be used: the "
        "other folders are still indexed.",
    )
    add.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR")
    add.add_argument("--batch", metavar="NAME", help=f"the batch (default: ${BATCH_ENV}, else the folder's)")
    add.add_argument(
        "--no-verify", action="store_true", help="index folders without checking their evidence bundle"
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="let these folders rewrite runs of the same id stored from another folder or other files",
    )
    _deep_option(add)
    _store_option(add)
    add.set_defaults(func=_add)
    batches = verbs.add_parser("batches", help="list the store's batches and how many runs each holds")
    _store_option(batches)
    add_format(batches, "a list of {batch, runs}")
    batches.set_defaults(func=_batches)

    compare = sub.add_parser(
        "diff",
        help="what the newer run or batch reaches or sends that the older did not (a CI regression gate)",
        description="OLD and NEW are each a results folder (a handset's or a `phonehome run` batch's), or a "
        "store query: batch:NAME or run:ID. Prints, per phase, endpoints new and gone, identifiers newly "
        "sent and to whom, and verdicts that changed. The newer regresses when it sends an identifier to an "
        "endpoint that the older never sent it to, when a verdict gets worse (PASS "
        "to INCONCLUSIVE or FAIL, INCONCLUSIVE to FAIL), or when one of its runs has no verdict or a capture in doubt (it cannot show what it "
        "did not do). With --gate, reaching an endpoint (name, port, protocol) the older never reached is a "
        "regression too; with --by-phase, also one the older reached (or a send it made) only in other phases.",
        epilog=f"exit status: {exits.PASS} no regression; {exits.FAIL} the newer regressed (each reason is "
        f"printed); {exits.USAGE} usage; {exits.BAD_INPUT} a side that cannot be read (no such folder, batch "
        f"or run, a store that cannot be used); {exits.INTERNAL_ERROR} a crash.",
    )
    compare.add_argument("old", metavar="OLD", help="results folder, batch:NAME or run:ID")
    compare.add_argument("new", metavar="NEW", help="results folder, batch:NAME or run:ID")
    compare.add_argument(
        "--gate",
        action="store_true",
        help="the CI regression gate: the newer may not reach anything the older did not, or send any "
        "identifier it did not",
    )
    compare.add_argument(
        "--by-phase",
        action="store_true",
        help="an endpoint or identifier the older reached or sent only in other phases regresses too",
    )
    _deep_option(compare)
    _store_option(compare)
    add_format(compare, "the diff, the reasons and the status as one JSON document")
    compare.set_defaults(func=_diff)
