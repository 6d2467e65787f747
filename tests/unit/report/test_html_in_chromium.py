"""The HTML report in a real browser: Debian's headless Chromium, driven over chromedriver with Selenium.

Selenium because it is the browser project's own WebDriver binding, maintained with Chromium's
releases, and drives the system's chromedriver as it is (no browser or driver download, which this
machine could not do anyway), while passing DevTools commands through for what WebDriver lacks (taking
the network offline, the network log). Chromium starts as the probe of this machine kind starts it as
root: headless, no sandbox, no GPU, no QUIC, no background networking, a new profile folder.

The report must render, show a FAIL, run its script without an error, make no request of any kind
(the network is offline, and both the page's resource timing and DevTools' network log must show
nothing but the file itself), and show the handset's hostile SNI, Host and DHCP host name as text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phonehome import exits
from phonehome.report import folder as results
from phonehome.report.view import REPORT
from phonehome.run import DeviceResult, finish
from tests.unit.report.runs import handset_folder

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1300,1000",
)  # fmt: skip


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing:
        return
    reason = (
        f"{', '.join(missing)} not installed (phonehome doctor --install installs chromium, chromium-driver)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this test", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return handset_folder(tmp_path_factory.mktemp("hostile"), hostile=True)


def _open(driver: Any, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get_log("performance")  # start both logs afresh for this page
    driver.get(page.as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.documentElement.getAttribute('data-ready')") == "1"
    )


def _requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_report_renders_with_the_fail_visible(driver: Any, hostile: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, hostile / REPORT)
    badge = driver.find_element(By.CSS_SELECTOR, "header .badge.overall")
    assert badge.is_displayed()
    assert badge.text == "FAIL"
    assert badge.size["width"] > 40
    assert badge.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"
    failed = driver.find_element(By.CSS_SELECTOR, "#verdict-declared-endpoints .badge")
    assert failed.is_displayed()
    assert failed.text == "FAIL"
    assert driver.find_element(By.CSS_SELECTOR, "svg.timeline path.finding.fail").is_displayed()


def test_the_script_runs_without_an_error_and_fills_the_flow_table(driver: Any, hostile: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, hostile / REPORT)
    rows = driver.find_elements(By.CSS_SELECTOR, "#flow-rows tr")
    assert len(rows) > 5
    assert "matching flows" in driver.find_element(By.ID, "flow-count").text
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == [], errors  # a script error, a refused style or script (CSP), a failed load


def test_no_request_leaves_the_file(driver: Any, hostile: Path) -> None:
    _open(driver, hostile / REPORT)
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert _requests(driver) == [(hostile / REPORT).as_uri()]


def test_hostile_strings_stay_text(driver: Any, hostile: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, hostile / REPORT)
    assert driver.execute_script("return typeof window.pwned") == "undefined"
    assert driver.execute_script("return document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert driver.execute_script("return document.scripts.length") == 2
    box = driver.find_element(By.ID, "flow-filter")
    box.send_keys("pwned")
    cells = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#flow-rows tr")]
    shown = "\n".join(cells)
    assert "<script>window.pwned=1</script>" in shown  # SNI
    assert '"><img src=x onerror="window.pwned=2">\\x1b]0;title\\x07' in shown  # Host
    assert "</script><script>window.pwned=3</script>\\u202e\\u200bx (dhcp hostname)" in shown  # DHCP
    assert driver.execute_script("return typeof window.pwned") == "undefined"
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "\u202e" not in body
    assert "\x1b" not in body


def test_the_filter_narrows_the_flow_table(driver: Any, hostile: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, hostile / REPORT)
    everything = len(driver.find_elements(By.CSS_SELECTOR, "#flow-rows tr"))
    driver.find_element(By.ID, "flow-filter").send_keys("zzhc.vnet.cn")
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#flow-rows tr")]
    assert 0 < len(rows) < everything
    assert all("zzhc.vnet.cn" in r for r in rows)


def test_the_batch_page_shows_the_matrix_with_the_fail(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    nokia = handset_folder(run_dir, hostile=True)
    evaluation = json.loads((nokia / results.EVALUATION).read_text())
    finish(run_dir, [DeviceResult("virtual:nokia-7-plus-2019", exits.FAIL, nokia, evaluation)])
    _open(driver, run_dir / REPORT)
    cell = driver.find_element(By.CSS_SELECTOR, "table.matrix td.cell.FAIL")
    assert cell.is_displayed()
    assert cell.text == "FAIL"
    assert driver.find_element(By.CSS_SELECTOR, "header .badge.overall").text == "FAIL"
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
