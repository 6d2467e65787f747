"""Every definition loader and the timeline loader on hostile files: a model or one clear error, fast and small.

The corpus (tests/unit/hostile.py) holds the classes a fuzzing review found
(alias bombs, deep nesting, huge integers, tags, merge keys, encodings,
control characters, oversize files) for each loader; hypothesis then mutates
each loader's seed file at random. Either the file loads or the loader's own
error says, in one line per problem, where and what: never another exception,
a hang, or a blow-up in memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonehome import yamlconf
from tests.unit.hostile import LOADERS, REPO, Loader, corpus

MEMORY_LIMIT = 256 << 20
"""Address space a child running the corpus may add to what it had after its imports (inputs: under 17 MiB)."""
REFERENCE = 0.08
"""Seconds ruamel takes for 1,000 values on an idle core: what the time limit is scaled against."""


def _slowness() -> float:
    """How many times slower than an idle core this machine parses right now (at least 1).

    The runners are shared: a limit in seconds must scale with the machine's speed, or a busy
    runner fails the test and an idle one hides a slow path. A hang or a quadratic blow-up is
    still many times over.
    """
    text = "[" + "1, " * 999 + "1]"
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        yamlconf.parse_yaml(text)
        best = min(best, time.perf_counter() - started)
    return max(1.0, best / REFERENCE)


TIME_LIMIT = 5.0 * _slowness()
"""Seconds one input may take: 5 s on an idle core. The calibration runs once, and the load of a shared
runner changes while the corpus runs: the margin keeps a slow moment from failing the test, while a
hang or a blow-up (the billion-laughs file took over 60 s) is still far over it."""


def _check_error(path: Path, exc: Exception) -> list[str]:
    """What is wrong with an error the loader raised, if anything."""
    lines = exc.problems if isinstance(exc, yamlconf.ConfigError) else [str(exc)]
    wrong = []
    for line in lines:
        if "\n" in line or not line.isprintable():
            wrong.append(f"not one printable line: {line[:200]!r}")
        if not line.startswith(str(path)):
            wrong.append(f"does not start with the file: {line[:200]!r}")
        if len(line) > 1000:
            wrong.append(f"{len(line)} characters long: {line[:200]!r}")
    return wrong


def _load(loader: Loader, path: Path) -> list[str]:
    try:
        loader.load(path)
    except loader.error as exc:
        return _check_error(path, exc)
    except Exception as exc:  # the point of the test: anything else is a traceback for the user
        return [f"raised {type(exc).__name__}: {str(exc)[:200]}"]
    return []


def run_corpus(name: str, folder: Path, time_limit: float) -> list[str]:
    """Loads every corpus input of loader ``name`` under a hard memory cap; what went wrong, per input.

    Runs in a child process (see the test below): the cap is on the whole address space, so it
    also holds pydantic's and the C library's allocations, which tracemalloc cannot see.
    """
    page = resource.getpagesize()
    with open("/proc/self/statm") as fh:
        size = int(fh.read().split()[0]) * page
    resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_LIMIT, size + MEMORY_LIMIT))
    loader = next(loader for loader in LOADERS if loader.name == name)
    path = folder / f"input{loader.suffix}"
    failures = []
    for label, content in corpus(loader):
        path.write_bytes(content)
        started = time.perf_counter()
        problems = _load(loader, path)
        elapsed = time.perf_counter() - started
        if elapsed > time_limit:
            problems.append(f"took {elapsed:.2f} s")
        failures += [f"{label}: {p}" for p in problems]
    return failures


@pytest.mark.parametrize("loader", LOADERS, ids=[loader.name for loader in LOADERS])
def test_every_hostile_input_loads_or_is_one_clear_error_fast_and_small(
    loader: Loader, tmp_path: Path
) -> None:
    assert sum(1 for _ in corpus(loader)) >= 60
    code = (
        "import json, sys; from pathlib import Path; from tests.unit.test_input_fuzz import run_corpus; "
        "print(json.dumps(run_corpus(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, loader.name, str(tmp_path), str(TIME_LIMIT)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.splitlines()[-1])
    assert not failures, "\n".join(failures)


MUTATIONS = [
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!python/object/apply:os.system ['true'] ",
    b"!x ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\n",
    b"\n    ",
    b"\t",
    b"'",
    b'"',
    b"#",
    b"? ",
    b"|\n",
    b">-\n",
    b"%YAML 1.1\n",
    b"---\n",
    b"\x00",
    b"\x1b[2J",
    b"\xff",
    b"\xc3",
    b"9" * 60,
    b"0x",
    b".nan",
    b"~",
    b",",
    b"\\u202e",
    b"\r",
    b"\xe2\x80\xa8",
    b'"ts": ',
    b'"phase": ',
    b"NaN",
    b"1e999",
]
mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(0, 1 << 16),
    st.integers(1, 40),
    st.one_of(st.sampled_from(MUTATIONS), st.binary(min_size=1, max_size=6)),
)


def _mutate(seed: bytes, mutations: list[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, position, length, payload in mutations:
        at = position % (len(data) + 1)
        if op == "insert":
            data[at:at] = payload
        elif op == "delete":
            del data[at : at + length]
        else:
            data[at : at + len(payload)] = payload
    return bytes(data)


@pytest.mark.parametrize("loader", LOADERS, ids=[loader.name for loader in LOADERS])
@settings(
    max_examples=150,
    deadline=int(TIME_LIMIT * 1000),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutations=st.lists(mutation, min_size=1, max_size=8))
def test_a_mutated_seed_loads_or_is_one_clear_error(loader: Loader, mutations: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{loader.suffix}"
        path.write_bytes(_mutate(loader.seed, mutations))
        assert _load(loader, path) == []


@pytest.mark.parametrize("loader", LOADERS, ids=[loader.name for loader in LOADERS])
def test_each_seed_loads(loader: Loader, tmp_path: Path) -> None:
    """The corpus splices into a file that loads, so what fails is the hostile part."""
    path = tmp_path / f"input{loader.suffix}"
    path.write_bytes(loader.seed)
    loader.load(path)
