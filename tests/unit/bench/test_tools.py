"""Where the bench looks for its host tools, and how a lab shows it another machine's."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonehome.bench.tools import SBIN_DIRS, TOOL_PATH_ENV, default_search_path, find_tool


def test_the_sbin_folders_are_searched_after_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOOL_PATH_ENV, raising=False)
    monkeypatch.setenv("PATH", "/opt/x/bin")
    assert default_search_path().split(":") == ["/opt/x/bin", *SBIN_DIRS]


def test_the_tool_path_variable_is_the_whole_search_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tcpdump").write_text("#!/bin/sh\n")
    (tmp_path / "tcpdump").chmod(0o755)
    monkeypatch.setenv(TOOL_PATH_ENV, str(tmp_path))
    assert default_search_path() == str(tmp_path)
    assert find_tool("tcpdump") == str(tmp_path / "tcpdump")
    assert find_tool("sh") is None  # /bin is not searched any more
