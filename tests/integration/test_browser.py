"""A real browser on the served pages: headless Chromium (Debian's chromium + chromium-driver).

Outside CI a missing browser skips with the reason; in CI (CI=true) it fails.
Selenium is told to use /usr/bin/chromedriver and never to download one.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.publish_helpers import build_published, serving

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _require_browser() -> None:
    problems = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("the selenium package")
    if problems:
        reason = f"headless browser test needs {', '.join(problems)} (apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _require_browser()
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        driver.set_page_load_timeout(30)
        yield driver, downloads
    finally:
        driver.quit()


def test_browse_commit_list_manifest_and_download(
    browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    history, pub = build_published(tmp_path_factory)
    c3 = history.commits["c3"]
    with serving(pub) as base:
        driver.get(base + "/")
        driver.find_element(By.LINK_TEXT, "main").click()
        assert "Branch main" in driver.title
        driver.find_element(By.XPATH, f"//a[code[text()='{c3[:12]}']]").click()
        assert f"Commit {c3[:12]}" in driver.title
        driver.find_element(By.LINK_TEXT, "data/imgs").click()
        assert "data/imgs at" in driver.title
        rows = driver.find_elements(By.XPATH, "//tr[td]")
        row = next(r for r in rows if r.find_element(By.XPATH, "td[1]").text == "data/imgs/a.txt")
        row.find_element(By.LINK_TEXT, "download").click()
        target = downloads / "a.txt"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert target.exists(), f"nothing downloaded: {os.listdir(downloads)}"
        assert target.read_bytes() == history.files["a2"]
    shutil.rmtree(downloads)
