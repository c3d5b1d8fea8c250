"""Headless Chromium from the system's packages (Debian: `chromium`, `chromium-driver`), driven by Selenium, to look at
a report page as a browser shows it: the page's tests, its benchmark and the screenshot in the docs use it."""

from __future__ import annotations

import shutil

from finetune_toolkit.core.errors import UserError

MISSING = "apt-get install -y chromium chromium-driver (Debian) and pip install selenium"


def browser_paths() -> tuple[str | None, str | None]:
    """The Chromium binary and its driver on PATH (None where missing)."""
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def headless_chromium(width: int = 1400, height: int = 1000):
    """A Selenium WebDriver on headless Chromium that logs the console and the network (`get_log`). Nothing is
    downloaded: the binary and driver must be installed."""
    binary, driver = browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise UserError(f"selenium is not installed; {MISSING}") from None
    if not binary or not driver:
        raise UserError(f"no chromium and chromedriver on PATH; {MISSING}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def open_page(browser, path, timeout: float = 60.0) -> dict:
    """Load a report page and wait for its first render; its timings (`window.reportTimings`, milliseconds)."""
    import time

    browser.get(path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        timings = browser.execute_script("return window.reportTimings || null")
        if timings and (timings.get("firstRenderMs") or not timings.get("rows")):
            return timings
        time.sleep(0.02)
    raise TimeoutError(f"{path} did not render in {timeout:.0f} s")
