"""The pages (/docs, /console) in a real browser: Debian's chromium driven by its chromedriver
through Selenium, against a real `fragrancedb serve` with a slice of the bundled catalogue.
Screenshots go to $FRAGRANCEDB_SCREENSHOTS (default .build/screenshots) for a person to look at."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "clients" / "python" / "tests"))
from fdb_server import server  # noqa: E402,F401 (the fixture)

os.environ.setdefault("SE_OFFLINE", "true")   # Selenium Manager must not try to download a driver
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

SHOTS = Path(os.environ.get("FRAGRANCEDB_SCREENSHOTS", REPO / ".build" / "screenshots"))


@pytest.fixture(scope="session")
def browser():
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
                "--no-first-run", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def shot(browser):
    """shot("name") saves a PNG of the page as it stands."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    return take
