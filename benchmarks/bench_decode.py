"""Cost of decoding and matching ordinary HTTP bodies: this tree against a git revision, in one run.

    .venv/bin/python benchmarks/bench_decode.py                  # against HEAD
    .venv/bin/python benchmarks/bench_decode.py --baseline e2d5519 --rounds 7

Each side runs in its own process (the baseline's ``phonehome`` exported with
``git archive``), rounds interleaved, and times ``decode()`` plus a block scan
of every view it returns over a fixed corpus of handset request bodies (JSON,
forms, gzip, base64, protobuf, multipart, logs, opaque binary), in CPU time
per body. The machine is noisy, so compare the columns of one run, not numbers
across runs; the best round is the figure least disturbed by other processes
(as timeit reports it), the median is printed beside it.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDENTITY = {
    "imei": ["352099001761481", "352099001761499"],
    "imsi": "460031234567890",
    "iccid": "89860312345678901234",
    "msisdn": "+4791234567",
    "serial": "PNX7B1234567",
    "wifi_mac": ["AA:BB:CC:DD:EE:0F", "3a:11:22:33:44:55"],
    "bt_mac": "AC:37:43:01:02:03",
    "android_id": "3f2a9c1b7d4e5a60",
    "advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "gsf_id": "3c8b5e9a1f20d477",
    "ssid": "phonehome-bench-7",
    "bssid": "02:1a:11:f0:00:07",
    "location": {"lat": 59.913868, "lon": 10.752245},
    "cell": {"mcc": 242, "mnc": 1, "lac": 2301, "tac": 2301, "cid": 219769363},
}


def corpus(seed: int = 7) -> dict[str, bytes]:
    """Bodies as handsets send them, none carrying this identity (the common case)."""
    rng = random.Random(seed)

    def word(n: int = 8) -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))

    def event() -> dict[str, object]:
        return {
            "ts": 1_700_000_000_000 + rng.randrange(10**9),
            "name": word(),
            "session": rng.randbytes(16).hex(),
            "count": rng.randrange(1000),
            "ratio": round(rng.random(), 4),
            "ok": rng.random() < 0.9,
            "tags": [word(5) for _ in range(3)],
        }

    small = {
        "model": "TA-1062",
        "build": "00WW_1_13E",
        "locale": "en_US",
        "events": [event() for _ in range(3)],
    }
    large = [event() for _ in range(600)]
    proto = bytearray()  # a checkin-like message: strings, small and large varints, a nested message
    for number in range(1, 15):
        text = word(rng.randrange(4, 30)).encode()
        proto += bytes([number << 3 | 2, len(text)]) + text
        proto += bytes([number << 3 | 0x80 | 0, 1]) + bytes(
            [0x80 | rng.randrange(128), rng.randrange(1, 127)]
        )
        proto += bytes([(number + 1) << 3 | 1]) + rng.randbytes(8)
    nested = b"\x0a\x07TA-1062\x10\x96\x01\x1a\x0a00WW_1_13E"
    proto += bytes([15 << 3 | 2, len(nested)]) + nested
    log = "\n".join(
        f"2024-01-0{rng.randrange(1, 9)} 12:00:{rng.randrange(60):02d} I/{word(6)}: {word()} id={rng.randbytes(12).hex()}"
        for _ in range(120)
    )
    return {
        "json-small": json.dumps(small).encode(),
        "json-large": json.dumps(large).encode(),
        "form": "&".join(f"{word(5)}={word(rng.randrange(3, 20))}" for _ in range(20)).encode(),
        "gzip-json": gzip.compress(json.dumps(large[:150]).encode()),
        "base64-json": base64.b64encode(json.dumps(small).encode()),
        "protobuf": bytes(proto),
        "multipart": b'--q\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'
        + json.dumps(small).encode()
        + b'\r\n--q\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
        + rng.randbytes(2048)
        + b"\r\n--q--\r\n",
        "text-log": log.encode(),
        "binary": rng.randbytes(16 << 10),
    }


def worker(rounds: int) -> None:
    """Runs inside one tree: prints {body name: [CPU seconds per body, one per round]} as JSON."""
    # imported here: PYTHONPATH, set per worker, decides which tree's phonehome this is
    from phonehome.policy.decode import decode  # noqa: PLC0415
    from phonehome.policy.forms import expand  # noqa: PLC0415
    from phonehome.policy.identity import Identity  # noqa: PLC0415
    from phonehome.policy.matcher import Matcher  # noqa: PLC0415

    matcher = Matcher(expand(Identity.model_validate(IDENTITY)))
    bodies = corpus()
    content_type = {"multipart": "multipart/form-data; boundary=q"}
    out: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(rounds):
        for name, body in bodies.items():
            repeat = max(1, 200_000 // len(body))
            started = time.process_time()
            for _ in range(repeat):
                for view in decode(body, "http-body", content_type=content_type.get(name)).views:
                    if view.scan:
                        matcher.scan(view.data)
            out[name].append((time.process_time() - started) / repeat)
    print(json.dumps(out))


def export(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", revision, "phonehome"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side; medians are reported")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(1)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        trees = {args.baseline: export(args.baseline, Path(tmp)), "this tree": HERE.parent}
        results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for i in range(args.rounds):
            for name in list(trees)[i % 2 :] + list(trees)[: i % 2]:
                env = {**os.environ, "PYTHONPATH": str(trees[name])}
                run = subprocess.run(
                    [sys.executable, __file__, "--worker"],
                    env=env,
                    capture_output=True,
                    check=True,
                    text=True,
                )
                for body, times in json.loads(run.stdout).items():
                    results[name].setdefault(body, []).extend(times)
    sizes = {name: len(body) for name, body in corpus().items()}
    base, this = results[args.baseline], results["this tree"]
    name = args.baseline[:10]
    print(f"decode + block scan per body over {args.rounds} rounds, CPU µs: best round | median")
    print(
        f"{'body':<13}{'bytes':>7}{name:>11}{'this tree':>11}{'change':>8} |{name:>11}{'this tree':>11}{'change':>8}"
    )
    totals = {"best": [0.0, 0.0], "median": [0.0, 0.0]}
    for body, size in sizes.items():
        row = f"{body:<13}{size:>7}"
        for how, pick in (("best", min), ("median", statistics.median)):
            old, new = pick(base[body]), pick(this[body])
            totals[how][0] += old
            totals[how][1] += new
            row += f"{old * 1e6:>11.1f}{new * 1e6:>11.1f}{(new / old - 1) * 100:>+7.0f}%" + (
                " |" if how == "best" else ""
            )
        print(row)
    row = f"{'all, MB/s':<13}{sum(sizes.values()):>7}"
    mb = sum(sizes.values()) / 1e6
    for how, (old_total, new_total) in totals.items():
        row += f"{mb / old_total:>11.2f}{mb / new_total:>11.2f}{(old_total / new_total - 1) * 100:>+7.0f}%"
        row += " |" if how == "best" else ""
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
