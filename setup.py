"""Builds the analyzer's packet path as C extensions with mypyc, from the same typed sources.

Everything else about the package is in pyproject.toml. A capture of a first boot is hundreds of
thousands of small packets, and each costs a few dozen Python-level steps (link, IP, flow lookup,
session, DNS/TLS/HTTP parsing): interpreted, that made `phonehome analyze` slower than tshark on such
captures. mypyc compiles those modules unchanged (they are checked with mypy --strict already), with
the same semantics and the same bounds checks, so hostile input meets the same code either way.

PHONEHOME_PURE=1 builds nothing (no compiler needed; the plain modules are slower, and extensions an
earlier build left in a checkout stay in use). Without it, a build that cannot compile (no C
compiler or Python headers) stops with the reason: a lab must not get a slower analyzer without
knowing. `phonehome doctor` says which one is in use.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from setuptools import setup

HERE = Path(__file__).resolve().parent


def _compiled_module() -> (
    ModuleType
):  # phonehome/traffic/_compiled.py, by path: the package's dependencies are not installed yet
    spec = importlib.util.spec_from_file_location(
        "_phonehome_compiled", HERE / "phonehome/traffic/_compiled.py"
    )
    if spec is None or spec.loader is None:
        sys.exit("phonehome: phonehome/traffic/_compiled.py is missing from this source tree")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPILED = _compiled_module()


def extensions() -> list[Any]:
    if os.environ.get("PHONEHOME_PURE", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 (only a compiling build needs it)
    except ImportError:
        sys.exit("phonehome: building needs mypyc (pip install 'mypy>=2.4,<3'), or PHONEHOME_PURE=1")
    (HERE / COMPILED.DIGEST_FILE).write_text(f"{COMPILED.sources_digest(HERE)}\n", encoding="ascii")
    # The isolated build environment has none of phonehome's dependencies, so their types are Any
    # here, and --strict (the project's own mypy run, pyproject.toml) would reject code that is fine
    # with them installed: the build type-checks without the project's configuration, only to compile.
    extensions = mypycify(
        ["--config-file=", "--ignore-missing-imports", *COMPILED.MODULES],
        opt_level="3",
        group_name="phonehome_native",  # one shared library, named the same whatever the module list
    )
    return _with_runtime_fixes(extensions)


# mypyc's bytes slice passes a negative length to PyBytes_FromStringAndSize when the start lies past
# the stop (data[9:4]), which raises SystemError where Python gives b"": a crafted length field in
# a packet reaches exactly that. Until mypyc fixes it, the build compiles a corrected copy of that
# runtime file, found before mypyc's own through the include path (the generated code #includes it).
_BYTES_SLICE_BUG = "Py_ssize_t slice_len = endn - startn;"
_BYTES_SLICE_FIX = "Py_ssize_t slice_len = endn > startn ? endn - startn : 0;"


def _with_runtime_fixes(extensions: list[Any]) -> list[Any]:
    import mypyc  # noqa: PLC0415

    runtime = Path(mypyc.__file__).parent / "lib-rt" / "bytes_ops.c"
    source = runtime.read_text(encoding="utf-8")
    if _BYTES_SLICE_BUG not in source:
        return extensions  # fixed (or rewritten) upstream; tests/unit/traffic/test_compiled.py checks it
    fixes = HERE / "build" / "mypyc-runtime-fixes"
    fixes.mkdir(parents=True, exist_ok=True)
    (fixes / "bytes_ops.c").write_text(source.replace(_BYTES_SLICE_BUG, _BYTES_SLICE_FIX), encoding="utf-8")
    for extension in extensions:
        extension.include_dirs.insert(0, str(fixes))
    return extensions


setup(ext_modules=extensions())
