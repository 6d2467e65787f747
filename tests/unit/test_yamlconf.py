from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.yamlconf import ConfigError, StrictModel, load_model


class Port(StrictModel):
    name: str
    vlan: int | None = None


class Bench(StrictModel):
    name: str
    ports: list[Port]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


def test_valid_file_gives_the_model(tmp_path: Path) -> None:
    bench = load_model(Bench, _write(tmp_path, "name: lab\nports:\n  - name: wifi\n    vlan: 10\n"))
    assert bench == Bench(name="lab", ports=[Port(name="wifi", vlan=10)])


def test_unknown_key_names_file_line_and_key_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: lab\nports:\n  - name: wifi\n    vlna: 10\n")
    with pytest.raises(ConfigError) as info:
        load_model(Bench, path)
    assert (
        str(info.value)
        == f"{path}:4: ports.0.vlna: unknown key (check the spelling; see the schema for the keys allowed here)"
    )


def test_duplicate_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: lab\nports: []\nname: other\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: found duplicate key \"name\""):
        load_model(Bench, path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "ports:\n  - vlan: ten\n")
    with pytest.raises(ConfigError) as info:
        load_model(Bench, path)
    problems = info.value.problems
    assert f"{path}:1: name: required key is missing" in problems
    assert any(p.startswith(f"{path}:2: ports.0.vlan:") for p in problems)
    assert any(p.startswith(f"{path}:2: ports.0.name: required key is missing") for p in problems)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(Bench, tmp_path / "missing.yaml")
