"""The cache of what every process would rebuild: hits only for the same input and code, never a stale
or a planted entry, never an error kept."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from phonehome import cache, yamlconf
from phonehome.policy.matcher import _database
from phonehome.yamlconf import ConfigError, StrictModel, load_model


class Box(StrictModel):
    name: str
    size: int = 0


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parsed: list[Path] = []
    real = yamlconf._parse_bytes

    def parse(data: bytes, path: Path) -> object:
        parsed.append(path)
        return real(data, path)

    monkeypatch.setattr(yamlconf, "_parse_bytes", parse)
    return parsed


def test_a_definition_read_again_is_not_parsed_again_and_is_equal(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting(monkeypatch)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("name: box\nsize: 3\n")
    second.write_text("name: box\nsize: 3\n")
    assert load_model(Box, first) == Box(name="box", size=3)
    assert load_model(Box, second) == Box(name="box", size=3)  # same bytes elsewhere: the same entry
    assert parsed == [first]
    first.write_text("name: box\nsize: 4\n")
    assert load_model(Box, first).size == 4
    assert parsed == [first, first]


def test_an_invalid_file_is_never_kept_and_says_where_each_time(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting(monkeypatch)
    path = tmp_path / "bad.yaml"
    path.write_text("name: box\nsize: many\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"bad.yaml:2: size"):
            load_model(Box, path)
    assert len(parsed) == 2
    assert not list(folder.rglob("*.pickle"))


def test_other_code_does_not_read_an_entry_of_the_old(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting(monkeypatch)
    path = tmp_path / "a.yaml"
    path.write_text("name: box\n")
    load_model(Box, path)
    (old,) = folder.glob("*/*/*.pickle")
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "an edited validator")
    load_model(Box, path)
    assert len(parsed) == 2
    assert not old.exists()  # what the old code kept goes when the new code writes
    assert [p.parent.name for p in folder.glob("*/*/*.pickle")] == ["an edited validator"]


def test_a_folder_others_can_write_to_is_not_used(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o777)
    built = []
    assert cache.cached("kind", b"key", lambda: built.append(1) or 1) == 1
    assert cache.cached("kind", b"key", lambda: built.append(1) or 1) == 1
    assert len(built) == 2
    assert not list(folder.rglob("*.pickle"))


def test_off_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.folder() is None


def test_a_damaged_entry_is_rebuilt(folder: Path) -> None:
    assert cache.cached("kind", b"key", lambda: {"v": 1}) == {"v": 1}
    (entry,) = folder.rglob("*.pickle")
    entry.write_bytes(pickle.dumps({"v": 1})[:5])
    assert cache.cached("kind", b"key", lambda: {"v": 2}) == {"v": 2}
    assert cache.cached("kind", b"key", lambda: {"v": 3}) == {"v": 2}


def test_pruning_keeps_the_newest(folder: Path) -> None:
    for i in range(5):
        cache.cached("kind", str(i).encode(), lambda i=i: i)
    (kind,) = [p for p in folder.glob("*/*") if p.is_dir()]
    for age, entry in enumerate(sorted(kind.glob("*.pickle"))):
        os.utime(entry, ns=(age * 10**9, age * 10**9))
    newest = sorted(kind.glob("*.pickle"))[-2:]
    cache.prune(kind, keep=2)
    assert sorted(kind.glob("*.pickle")) == newest


def test_a_cached_hyperscan_database_finds_what_a_compiled_one_does(folder: Path) -> None:
    expressions, flags = [b"353867098060762", b"a[0-9]+b"], [0, 0]
    import hyperscan

    found: list[list[int]] = []
    for _ in range(2):  # compiled, then loaded
        db = _database(hyperscan.HS_MODE_BLOCK, expressions, flags)
        found.append([])
        db.scan(b"x353867098060762 a12b", match_event_handler=lambda i, _s, _e, _f, _c: found[-1].append(i))
    assert found[0] == found[1] == [0, 1]
    assert len(list(folder.rglob("*.pickle"))) == 1
