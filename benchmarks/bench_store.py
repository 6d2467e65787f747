"""The results store: indexing a batch of 100 runs and diffing two batches, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_store.py                  # 100 runs a batch, 3 rounds
    .venv/bin/python benchmarks/bench_store.py --runs 300 --rounds 5

Builds two batches of ``--runs`` runs each, shaped like a busy first boot (``--endpoints`` peers
over four phases, identifiers sent to a few of them, every assertion's verdict, findings, the
results folder's artifacts), the newer batch reaching one endpoint more on one handset. For each
store (a SQLite file; a throwaway PostgreSQL cluster from Debian's package, as the tests start
it) it times, as medians of ``--rounds`` in one process: opening and migrating a fresh store,
indexing the older batch in one call, then the newer, reading a batch back, and the whole
``batch:OLD`` against ``batch:NEW`` diff (both reads and the comparison); then the same diff
computed from the records in memory, the floor any store adds to. The run fails unless every
diff finds the one new endpoint. The machine is noisy: compare the stores within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from phonehome.store.db import Store
from phonehome.store.diff import Side, diff
from phonehome.store.records import Artifact, Endpoint, RunRecord, Sent
from phonehome.store.throwaway import Unavailable, throwaway_postgresql

PHASES = ("boot", "setup-wizard", "consent", "idle")
ASSERTIONS = ("declared-endpoints", "no-cleartext-identifiers", "identifier-recipients", "transport",
              "consent", "regions", "visible-dns", "certificate-validation")  # fmt: skip


def batch(name: str, runs: int, endpoints: int, extra: bool) -> list[RunRecord]:
    """``runs`` runs of one build; with ``extra`` its first handset reaches one endpoint more."""
    out = []
    for i in range(runs):
        peers = [
            Endpoint(PHASES[e % 4], f"svc{e}.example.com", 443, "tcp", "sni", f"198.51.100.{e % 250}", "tls")
            for e in range(endpoints)
        ]
        if extra and i == 0:
            peers.append(
                Endpoint("setup-wizard", "zzhc.vnet.cn", 9999, "tcp", "http-host", "203.0.113.5", "cleartext")
            )
        sent = [Sent(PHASES[e % 4], kind, f"svc{e}.example.com", 443, "tcp", kind, "tls>http-body>json", "undeclared-recipient")
                for e in range(0, endpoints, 8) for kind in ("imei", "wifi_mac")]  # fmt: skip
        findings = [
            {"rule": s.rule, "assertion": "identifier-recipients", "identifier": s.identifier, "form": s.form,
             "decode": s.decode, "phase": s.phase, "name": s.name, "port": s.port, "proto": s.proto}
            for s in sent
        ]  # fmt: skip
        out.append(
            RunRecord(
                f"{name}-{i:04d}", name, device=f"virtual:handset-{i}", folder=f"/results/{name}/h{i}",
                result="FAIL", verdicts=dict.fromkeys(ASSERTIONS, "PASS") | {"identifier-recipients": "FAIL"},
                findings=findings, endpoints=peers, sent=sent,
                artifacts=[Artifact(f"file-{a}.json", f"{a:064x}", 4096 * a) for a in range(25)],
            )
        )  # fmt: skip
    return out


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


@contextmanager
def sqlite_url() -> Iterator[Callable[[int], str]]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        yield lambda n: str(Path(folder) / f"store-{n}.sqlite")


@contextmanager
def postgresql_url() -> Iterator[Callable[[int], str]]:
    with throwaway_postgresql() as url:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")

        def fresh(n: int) -> str:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE bench_{n}"))
            return url.replace("/postgres?", f"/bench_{n}?")

        try:
            yield fresh
        finally:
            admin.dispose()


def measure(
    name: str, urls: Callable[[int], str], old: list[RunRecord], new: list[RunRecord], rounds: int
) -> dict[str, float]:
    times: dict[str, list[float]] = {
        "open": [],
        "index old": [],
        "index new": [],
        "read batch": [],
        "diff": [],
    }
    for n in range(rounds):
        url = urls(n)
        t, store = timed(lambda u=url: Store.open(u))  # type: ignore[misc]
        assert isinstance(store, Store)
        times["open"].append(t)
        times["index old"].append(timed(lambda s=store: s.add(old))[0])  # type: ignore[misc]
        times["index new"].append(timed(lambda s=store: s.add(new))[0])  # type: ignore[misc]
        times["read batch"].append(timed(lambda s=store: s.runs(batch="old"))[0])  # type: ignore[misc]

        def stored_diff(store: Store = store) -> object:
            return diff(
                Side("batch:old", store.runs(batch="old")),
                Side("batch:new", store.runs(batch="new")),
                gate=True,
            )

        t, result = timed(stored_diff)
        times["diff"].append(t)
        check(result)
        store.close()
    return {k: statistics.median(v) for k, v in times.items()}


def check(result: object) -> None:
    new = [e["name"] for p in result.phases.values() for e in p["endpoints_new"]]  # type: ignore[attr-defined]
    if new != ["zzhc.vnet.cn"]:
        raise SystemExit(f"the diff did not find exactly the one new endpoint: {new}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100, help="runs per batch (default 100)")
    parser.add_argument("--endpoints", type=int, default=40, help="endpoints per run (default 40)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per store; medians reported")
    args = parser.parse_args()
    old, new = batch("old", args.runs, args.endpoints, False), batch("new", args.runs, args.endpoints, True)
    rows = [
        sum(
            len(r.endpoints) + len(r.sent) + len(r.findings) + len(r.artifacts) + len(r.verdicts) + 1
            for r in old
        )
    ]
    print(f"{args.runs} runs a batch, {rows[0]} rows each; medians of {args.rounds} rounds")
    memory = [timed(lambda: diff(Side("old", old), Side("new", new), gate=True)) for _ in range(args.rounds)]
    for _, result in memory:
        check(result)
    results = {}
    with sqlite_url() as urls:
        results["SQLite (file, WAL)"] = measure("sqlite", urls, old, new, args.rounds)
    try:
        with postgresql_url() as urls:
            results["PostgreSQL (local socket)"] = measure("postgresql", urls, old, new, args.rounds)
    except Unavailable as exc:
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
    print(
        f"| store | open+migrate s | index {args.runs} runs s | runs/s | read a batch s | diff two batches s |"
    )
    print("|---|---|---|---|---|---|")
    for name, t in results.items():
        print(f"| {name} | {t['open']:.3f} | {t['index old']:.3f} | {args.runs / t['index old']:.0f} | "
              f"{t['read batch']:.3f} | {t['diff']:.3f} |")  # fmt: skip
    print(f"| in memory (no store) | | | | | {statistics.median(t for t, _ in memory):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
