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


def shows_name(text: str, name: str) -> bool:
    """`name` is on the page, whole or as the asset graph shortens a long one: a line made of its
    start, "…" and its end (`mailchimp_…_status`)."""
    if name in text:
        return True
    for line in text.splitlines():
        start, sep, end = line.strip().partition("…")
        if sep and start and end and "…" not in end and name.startswith(start) and name.endswith(end):
            return True
    return False


def listed_check_statuses(text: str, names: list[str]) -> dict[str, str]:
    """The status under each check's name in the checks tab's list ("Succeeded", "Failed" — a
    failed WARN check shows a warning icon —, "Not Evaluated"; for a partitioned check, the worst
    over its partitions); "" when the name is not listed."""
    statuses = {}
    for name in names:
        found = re.search(rf"(?m)^{re.escape(name)}\n(?:{re.escape(name)}\n)?([A-Z][A-Za-z ]+)$", text)
        statuses[name] = found.group(1).strip() if found else ""
    return statuses


def click_shown(driver, tag: str, label: str, *, last: bool = False, timeout: float = 45.0) -> None:
    """Click the first (or `last`) visible `<tag>` whose text is `label`, waiting until one is shown."""
    from selenium.webdriver.common.by import By

    def shown() -> list:
        return [e for e in driver.find_elements(By.XPATH, f"//{tag}[normalize-space()='{label}']")
                if e.is_displayed()]

    wait_for(driver, lambda _text: bool(shown()), f"a {tag} {label!r} to click", timeout)
    found = shown()
    (found[-1] if last else found[0]).click()


def open_check_partition(driver, url: str, check: str, partition: str) -> str:
    """An asset check's *Partitions* tab with one partition selected: its latest execution for that
    partition (status, run, description). Returns the page text once the detail shows."""
    driver.get(f"{url}?view=checks&checkDetail={check}")
    click_shown(driver, "button", "Partitions")
    click_shown(driver, "span", partition, last=True)  # the partition list, after the selector's chip
    return wait_for(driver, lambda text: check_partition_status(text, partition) != "",
                    f"check {check}: the detail of partition {partition}")


def check_partition_status(text: str, partition: str) -> str:
    """The status in a check's partition detail ("Passed", "Failed", …): the partition's name (the
    UI measures names by rendering them twice), then the status, then "Latest execution"."""
    name = re.escape(partition)
    found = re.search(rf"(?m)^{name}\n(?:{name}\n)?([A-Z][A-Za-z ]+)\nLatest execution$", text)
    return found.group(1) if found else ""


#: name → state of its on/off switch, for every row of the Automation page (a switch is a
#: checkbox styled as a switch; the row's first line is the schedule's or sensor's name).
_AUTOMATION_SWITCHES_JS = """
const states = {};
for (const input of document.querySelectorAll("input[type=checkbox]")) {
  if (!/formatSwitch/.test(input.parentElement.className)) continue;
  let row = input.parentElement;
  while (row && !(row.innerText || "").trim().includes("\\n")) row = row.parentElement;
  if (row) states[row.innerText.trim().split("\\n")[0].trim()] = input.checked;
}
return states;
"""


def automation_switches(driver) -> dict[str, bool]:
    """The Automation page's switches: schedule or sensor name → switched on."""
    return driver.execute_script(_AUTOMATION_SWITCHES_JS) or {}


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
