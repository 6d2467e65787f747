from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from phonehome import yamlconf
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


# Hostile files: every one is a ConfigError of one line per problem, fast, whatever it holds.


def _error(tmp_path: Path, content: str | bytes, model: type[StrictModel] = Bench) -> str:
    path = tmp_path / "bench.yaml"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_model(model, path)
    assert time.perf_counter() - started < 2.0
    for problem in info.value.problems:
        assert "\n" not in problem
        assert problem.startswith(str(path))
    return str(info.value)


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


def test_alias_bomb_stops_at_once_with_bounded_memory(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        message = _error(tmp_path, BILLION_LAUGHS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"more than {yamlconf.MAX_VALUES} values, aliases counted as what they stand for" in message
    assert peak < 16 << 20


def test_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    assert "bench.yaml:1: name.1: alias *x is inside its own anchor, a cycle" in _error(
        tmp_path, "name: &x [1, *x]\n"
    )


def test_nesting_deeper_than_the_limit_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    assert f"nested more than {yamlconf.MAX_DEPTH} levels deep" in _error(tmp_path, "[" * 5000 + "]" * 5000)


def test_aliases_cannot_nest_deeper_than_the_limit_together(tmp_path: Path) -> None:
    half = yamlconf.MAX_DEPTH // 2 + 2
    text = f"a: &a {'[' * half}1{']' * half}\nb: &b {'[' * half}*a{']' * half}\n"
    assert "bench.yaml:2: b.0.0" in _error(tmp_path, text)


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: " + "x" * yamlconf.MAX_BYTES)
    assert f"larger than {yamlconf.MAX_BYTES >> 10} KiB, the limit for a definition file" in message


def test_a_file_of_too_many_lines_is_refused_before_parsing(tmp_path: Path) -> None:
    assert f"more than {yamlconf.MAX_LINES} lines" in _error(tmp_path, "#\r" * (yamlconf.MAX_LINES + 1))


def test_too_many_values_are_refused(tmp_path: Path) -> None:
    text = "name: [" + "1," * yamlconf.MAX_VALUES + "1]"
    with pytest.raises(ConfigError, match=f"more than {yamlconf.MAX_VALUES} values"):
        yamlconf.parse_yaml(text)


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['true']",
        "!!python/name:os.system",
        "!custom x",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!str 10",
        "! 10",
    ],
)
def test_tags_are_refused(tmp_path: Path, value: str) -> None:
    message = _error(tmp_path, f"name: lab\nports:\n  - name: {value}\n")
    assert "bench.yaml:3: ports.0.name: tag " in message
    assert "is not allowed (definition files hold plain values: remove the tag, quote text)" in message


def test_an_integer_longer_than_the_limit_is_refused_with_its_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: lab\nports:\n  - name: a\n    vlan: " + "9" * 5000 + "\n")
    assert message == (
        f"{tmp_path / 'bench.yaml'}:4: ports.0.vlan: an integer of 5000 characters is longer than the "
        f"{yamlconf.MAX_INT_DIGITS} allowed (quote it if it is text)"
    )


def test_binary_integer_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    assert "longer than the" in _error(tmp_path, "name: 0b" + "1" * 50_000 + "\n")


def test_non_utf8_names_the_line_and_byte_offset(tmp_path: Path) -> None:
    message = _error(tmp_path, b"name: lab\nports: [\xff]\n")
    assert (
        message == f"{tmp_path / 'bench.yaml'}:2: not UTF-8: byte 0xff at offset 18 (save the file as UTF-8)"
    )


def test_a_raw_control_character_is_one_line_with_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: lab\nports: []\nx: a\x00b\n")
    assert message.startswith(f"{tmp_path / 'bench.yaml'}:3: unacceptable character #x0000")


def test_control_characters_in_keys_and_values_are_escaped_in_messages(tmp_path: Path) -> None:
    message = _error(tmp_path, 'name: lab\nports: []\n"\\e[2J\\u202e": "\\e]0;x\\a"\n')
    assert "bench.yaml:3: \\x1b[2J\\u202e: unknown key" in message
    assert "\x1b" not in message
    assert "\u202e" not in message


def test_long_keys_are_cut_short_in_messages(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: lab\nports: []\n? " + "k" * 100_000 + "\n: 1\n")
    assert len(message) < 400
    assert "k…: unknown key" in message


def test_keys_must_be_plain_values(tmp_path: Path) -> None:
    assert "a key must be a plain value, not a list or mapping" in _error(tmp_path, "? [a, b]\n: c\n")
    assert "a key must be a plain value" in _error(tmp_path, "a: &a {x: 1}\n*a : c\n")


def test_an_anchor_defined_twice_is_an_error(tmp_path: Path) -> None:
    assert "bench.yaml:2: b: anchor &x is defined twice" in _error(tmp_path, "a: &x 1\nb: &x 2\nname: *x\n")


def test_merge_keys_and_aliases_still_load(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: &n lab\nbase: &p {name: a, vlan: 3}\n")
    path.write_text("x: &p {name: a, vlan: 3}\nname: lab\nports:\n  - <<: *p\n    vlan: 4\n  - *p\n")
    with pytest.raises(ConfigError, match=r"bench.yaml:1: x: unknown key"):
        load_model(Bench, path)
    data = yamlconf.parse_yaml("p: &p {name: a, vlan: 3}\nports:\n  - <<: *p\n    vlan: 4\n  - *p\n")
    bench = yamlconf.validate(Bench, {"name": "lab", "ports": data["ports"]})
    assert bench.ports == [Port(name="a", vlan=4), Port(name="a", vlan=3)]


def test_a_typo_merged_in_with_a_merge_key_names_the_merging_line(tmp_path: Path) -> None:
    text = "name: lab\nports:\n  - &p\n    name: a\n    vlna: 3\n  - <<: *p\n    name: b\n"
    message = _error(tmp_path, text)
    assert "bench.yaml:5: ports.0.vlna: unknown key" in message
    assert "bench.yaml:6: ports.1.vlna: unknown key" in message


def test_problems_are_capped_and_counted(tmp_path: Path) -> None:
    text = "name: lab\nports: []\n" + "".join(f"k{i}: 1\n" for i in range(100))
    _error(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_model(Bench, tmp_path / "bench.yaml")
    assert len(info.value.problems) == yamlconf.MAX_PROBLEMS + 1
    assert info.value.problems[-1].endswith(f"and {100 - yamlconf.MAX_PROBLEMS} more")
    assert "\n" not in info.value.one_line()
    assert info.value.one_line().endswith(f"(and {len(info.value.problems) - 3} more)")


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(Bench, tmp_path)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x" * 1000, "'" + "x" * 60 + "'…"),
        ("\x1b[2J", "'\\x1b[2J'"),
        (10**5000, "an integer of 16610 bits"),
        (12345, "12345"),
        ([[1]] * 10**6, "a list of 1000000 items"),
        ({"a": 1}, "a mapping of 1 keys"),
        (None, "None"),
        (b"x", "a bytes"),
    ],
    ids=["long-text", "escape", "huge-int", "int", "long-list", "mapping", "none", "bytes"],
)
def test_shown_is_bounded_and_escaped(value: object, text: str) -> None:
    assert yamlconf.shown(value) == text


def test_a_line_of_brackets_is_refused_at_the_depth_limit_without_quadratic_scanning(tmp_path: Path) -> None:
    started = time.perf_counter()
    message = _error(tmp_path, "[" * (yamlconf.MAX_BYTES - 1))
    assert time.perf_counter() - started < 0.5
    assert f"bench.yaml:1: (top level): nested more than {yamlconf.MAX_DEPTH} levels deep" in message


def test_aliases_of_a_long_text_are_bounded_by_what_they_expand_to(tmp_path: Path) -> None:
    text = "a: &a " + "x" * 60_000 + "\nb: [" + ", ".join(["*a"] * 9_000) + "]\n"
    message = _error(tmp_path, text)
    assert f"bench.yaml:2: b.7: aliases expand to more than {yamlconf.MAX_BYTES >> 10} KiB of text" in message


def test_dates_are_text_so_an_impossible_date_is_not_a_traceback() -> None:
    assert yamlconf.parse_yaml("patch: 2019-02-30\nwhen: 2019-01-01\n") == {
        "patch": "2019-02-30",
        "when": "2019-01-01",
    }


def test_a_lone_surrogate_escape_is_refused(tmp_path: Path) -> None:
    assert "bench.yaml:1: name: a lone surrogate escape" in _error(tmp_path, 'name: "\\ud800"\n')
