"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("MC_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MC_E2E_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage", "--window-size=1600,1000",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


def require_chromium() -> None:
    """Fail (never skip) with what to install when the browser or its driver is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"the e2e test needs Debian's Chromium and ChromeDriver; missing: {', '.join(missing)}. "
            "Install them with `apt-get install -y chromium chromium-driver` (.ci/run does this).",
            pytrace=False,
        )


def start_chromium(profile_dir: Path):
    """A headless Chromium session with a fresh profile; no Selenium Manager download."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def page_text(driver) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''") or ""


def wait_for(driver, predicate: Callable[[str], bool], what: str, timeout: float = 45.0) -> str:
    """Wait until `predicate(page text)` holds; returns the text. Fails with a screenshot."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page_text(driver)
        if predicate(text):
            return text
        time.sleep(0.25)
    shot = save_screenshot(driver, "failed-" + re.sub(r"[^A-Za-z0-9_-]+", "_", what)[:60])
    raise AssertionError(f"{what}: not shown after {timeout:.0f} s at {driver.current_url} "
                         f"(screenshot {shot}); page text:\n{text[:3000]}")


def dismiss_community_dialog(driver, timeout: float = 10.0) -> None:
    """Skip the "Join the Dagster community" dialog a fresh instance shows on first visit."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Join the Dagster community" in page_text(driver):
            for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
                button.click()
            if "Join the Dagster community" not in page_text(driver):
                return
        time.sleep(0.25)


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
