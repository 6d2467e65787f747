"""The HTML report: everything a lab hands over in one file, no request out of it, and the traffic's strings as text."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from phonehome.report import assets
from phonehome.report.analysis_json import to_dict
from phonehome.report.escape import script_json, text, visible
from phonehome.report.html import render_run
from phonehome.report.rejudge import rejudge
from phonehome.report.view import REPORT, RunView
from tests.unit.report.runs import DHCP_NAME, HOST, SNI, handset_folder

URL_ATTRIBUTES = {"src", "href", "action", "formaction", "srcset", "poster", "data", "background", "ping"}


class Page(HTMLParser):
    """Every element with its attributes, the text of the document, and what each script holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None
        if tag == "script":
            self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        elif self._in is None:
            self.text.append(data)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return handset_folder(tmp_path_factory.mktemp("hostile"), hostile=True)


def _parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_hostile_sni_host_and_dhcp_host_name_stay_text(hostile: Path) -> None:
    page = _parse(hostile / REPORT)
    tags = {tag for tag, _ in page.tags}
    assert "img" not in tags
    assert not [(t, a) for t, a in page.tags for name in a if name.startswith("on")], (
        "an event handler attribute"
    )
    kinds = [attrs.get("type") for attrs, _ in page.scripts]
    assert sorted(kinds, key=str) == sorted(["application/json", None], key=str), (
        "only the report's own scripts"
    )
    (code,) = [body for attrs, body in page.scripts if attrs.get("type") is None]
    assert code == assets.JS
    shown = "".join(page.text)
    assert "<script>window.pwned=1</script>" in shown  # the SNI, as text
    assert '"><img src=x onerror="window.pwned=2">\\x1b]0;title\\x07' in shown  # the Host header, as text
    (data,) = [body for attrs, body in page.scripts if attrs.get("type") == "application/json"]
    assert "</script" not in data
    assert "<" not in data


def test_no_string_reaches_the_page_with_a_control_or_bidi_character(hostile: Path) -> None:
    page = (hostile / REPORT).read_text(encoding="utf-8")
    for char in ("\x1b", "\x07", "\u202e", "\u200b", "\u2028", "\x00"):
        assert char not in page, repr(char)
    assert "\\x1b[31m" in page


def test_the_page_asks_for_nothing_outside_itself(hostile: Path) -> None:
    page = _parse(hostile / REPORT)
    urls = [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name in URL_ATTRIBUTES
    ]
    assert urls == []
    (policy,) = [
        a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy is not None
    assert "default-src 'none'" in policy
    assert "connect-src 'none'" in policy
    for source in (assets.CSS, assets.JS):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert not re.search(r"\sstyle=", (hostile / REPORT).read_text()), (
        "an inline style the policy would block"
    )


def test_the_report_carries_verdicts_findings_timeline_flows_identity_build_and_bench(hostile: Path) -> None:
    page = (hostile / REPORT).read_text(encoding="utf-8")
    shown = "".join(_parse(hostile / REPORT).text)
    assert 'data-result="FAIL"' in page
    assert "overall" in page
    for clause in ("EN 18031 GEC-4", "Android CDD 9.8.5", "GDPR Art. 32"):
        assert clause in shown
    assert "http-body>base64>json:IMEI1" in shown  # a decode chain
    assert re.search(r"<mark>[^<]*352099001761481[^<]*</mark>", page), "the match marked in its excerpt"
    assert "frames" in shown
    assert "phase" in shown
    assert "setup-wizard" in shown
    assert '<svg class="timeline"' in page
    assert 'class="finding fail"' in page
    assert 'id="flow-data"' in page
    assert 'id="flow-filter"' in page
    assert "inventory" in shown
    assert "imsi" in shown
    capture = hostile / "bench" / "wlan.pcapng"
    assert hashlib.sha256(capture.read_bytes()).hexdigest() in shown
    assert "capture-phases.pcapng" in shown
    assert "isolated port" in shown
    assert "interface frames" in shown


def test_the_verdicts_judged_again_render_to_the_same_bytes(hostile: Path) -> None:
    judged = rejudge(hostile)
    assert judged.differences == []
    assert judged.analysis is not None
    again = render_run(RunView.load(hostile, judged.evaluation, to_dict(judged.analysis)))
    assert again == (hostile / REPORT).read_text(encoding="utf-8")


def test_a_folder_with_missing_or_mangled_files_still_renders_and_says_so(tmp_path: Path) -> None:
    folder = handset_folder(tmp_path)
    (folder / "analysis.json").write_text('{"flows": [{"id": "x", "first_ts": "soon"}, 7]}')
    (folder / "evaluation.json").write_text("[not json")
    (folder / "capture.json").write_text('{"markers": [{"ts": 1e400}], "files": "no"}')
    html = render_run(RunView.load(folder))
    assert "evaluation.json is missing or unreadable" in html
    assert "</html>" in html


def test_visible_spells_out_what_a_reader_cannot_see() -> None:
    assert visible("a\u202eb\x1b[31m\u200b\u2028c\x00") == "a\\u202eb\\x1b[31m\\u200b\\u2028c\\x00"
    assert visible("plain zzhc.vnet.cn") == "plain zzhc.vnet.cn"
    assert text('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert visible("x" * 5000).endswith("(3000 more characters)")


def test_script_json_cannot_close_its_script_element() -> None:
    raw = script_json({"k": ["</script><!--", "&amp;", "\u2028"]})
    assert "<" not in raw
    assert ">" not in raw
    assert "&" not in raw
    assert "\u2028" not in raw
    assert json.loads(raw) == {"k": ["</script><!--", "&amp;", "\u2028"]}


def test_the_dhcp_host_name_is_in_the_flow_table(hostile: Path) -> None:
    page = _parse(hostile / REPORT)
    (data,) = [body for attrs, body in page.scripts if attrs.get("type") == "application/json"]
    rows = json.loads(data)["rows"]
    claimed = [cell for row in rows for cell in row if "dhcp hostname" in cell]
    assert claimed == [f"{visible(DHCP_NAME)} (dhcp hostname)"]
    assert any(SNI.split("\x1b")[0] in cell for row in rows for cell in row)
    assert any(HOST.split("\x1b")[0] in cell for row in rows for cell in row)


def test_the_handsets_logcat_and_bug_report_are_listed_with_their_sha256(tmp_path: Path) -> None:
    folder = handset_folder(tmp_path, sealed=False)
    run = json.loads((folder / "run.json").read_text())
    run["handset_logs"] = {
        "logcat": {"path": "logcat.txt", "size": 12, "sha256": "ab" * 32, "lines": 1},
        "bugreport": {"path": None, "taken": False},
    }
    (folder / "run.json").write_text(json.dumps(run))
    html = render_run(RunView.load(folder))
    assert "logcat: all buffers, UTC" in html
    assert "ab" * 32 in html
    assert "bug report at the end" not in html  # not taken: not listed
