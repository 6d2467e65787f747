"""``phonehome bench up|status|down|clean``: the bench from the command line (thin over ``Bench``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pyroute2 import NetlinkError

from phonehome.bench.bench import Bench
from phonehome.bench.cleanup import clean_stale
from phonehome.bench.netops import BenchError
from phonehome.bench.runtime import read_states
from phonehome.yamlconf import ConfigError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_BAD_INPUT = 4
"""The definition cannot be used (one line on stderr names file, line and key); nothing was created."""


def run(args: argparse.Namespace) -> int:
    try:
        if args.verb == "up":
            return _up(args)
        if args.verb == "status":
            return _status(args.name)
        if args.verb == "down":
            return _down(args.name)
        for line in clean_stale(everything=args.all):
            print(line)
        return EXIT_OK
    except ConfigError as exc:
        print(f"phonehome bench {args.verb}: {exc.one_line()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BenchError as exc:
        print(f"phonehome bench {args.verb}: {exc}")
        return EXIT_FAIL
    except (NetlinkError, OSError) as exc:  # a step outside the builder's own translation: still one line
        print(f"phonehome bench {args.verb}: the system refused it: {exc} (phonehome doctor checks the host)")
        return EXIT_FAIL


def networks(topology: dict[str, Any]) -> str:
    """The subnets a bench chose (they avoid the host's routes and addresses), as one line."""
    lans = {p["group"]: p["subnet"] for p in topology.get("ports", [])}
    shown = [f"{group} {subnet}" for group, subnet in lans.items()]
    if topology.get("transfer"):
        shown.append(f"nat transfer {topology['transfer']} (host .1, router .2)")
    return "networks: " + ", ".join(shown)


def _up(args: argparse.Namespace) -> int:
    bench = Bench.from_file(args.definition, workdir=args.workdir, detached=True).up(log_fn=print)
    print(f"bench {bench.name} is up: run id {bench.run_id}, folder {bench.workdir}")
    print(f"  router namespace {bench.router_ns}")
    if bench.topology is not None:
        print(f"  {networks(bench.topology.to_dict())}")
    for port in bench.ports.values():
        where = (
            f"handset namespace {port.netns} ({port.handset_ifname})" if port.netns else port.host_interface
        )
        print(f"  port {port.name}: {where}, gateway {port.router_ip}, subnet {port.subnet}")
    print(f"bring it down with: phonehome bench down {bench.run_id}")
    return EXIT_OK


def _status(name: str | None) -> int:
    states = [s for s in read_states(everywhere=False) if name in (None, s.run_id, s.name)]
    if not states:
        print("no bench is running" if name is None else f"no running bench is called {name!r}")
        return EXIT_OK if name is None else EXIT_FAIL
    worst = EXIT_OK
    for state in states:
        owner = state.owner
        who = (
            "detached"
            if owner is None
            else f"owned by pid {owner.pid}" + ("" if owner.alive() else " (dead: stale)")
        )
        age = time.time() - (state.created or time.time())
        print(f"{state.run_id}  {state.name}  {who}  up {age:.0f} s  {state.workdir or ''}")
        print(f"  {networks(state.topology.to_dict() if state.topology else {})}")
        try:
            problems = Bench.attach(state.run_id).status()
        except (BenchError, KeyError) as exc:
            problems = [f"cannot read its state: {exc}"]
        for problem in problems:
            print(f"  problem: {problem}")
            worst = EXIT_FAIL
    return worst


def _down(name: str) -> int:
    bench = Bench.attach(name)
    captures = bench.down(log_fn=print)
    status = EXIT_OK
    for capture in captures.values():
        for f in capture.files:
            print(f"{f.path}  sha256 {f.sha256}  {f.size} bytes")
        for d in capture.drops:
            print(
                f"  {d.tool} on {d.interface}: captured {d.captured}, received {d.received}, dropped {d.dropped}"
            )
        for problem in capture.problems:
            print(f"  problem: {problem}")
            status = EXIT_FAIL
    print(f"bench {bench.name} ({bench.state.run_id if bench.state else name}) is down")
    return status
