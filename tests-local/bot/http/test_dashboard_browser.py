"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, against a real quipbot HTTP server in front of the fake
LLM. One browser and one server for the module; a screenshot of each view goes to
``tests-local/artefacts/``.

Skipped when Chromium is not installed (``.ci/run`` installs it). Nothing is downloaded: the
driver's path is given, so Selenium Manager never runs."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.http import KEY, ServedInThread, make_settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts"
WAIT_S = 15

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    pytest.skip(
        "headless Chromium is not installed: apt-get install chromium chromium-driver "
        "(.ci/run does it)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev extra")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Live(ServedInThread):
    """The dashboard's server, with the fake LLM, for the Selenium calls of the tests."""

    def __init__(self, data: Path) -> None:
        super().__init__(lambda fake: make_settings(data, fake), fake_llm=True)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A request with the API key, as a script would send it."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            json_body = response.headers["Content-Type"].startswith("application/json")
            return json.loads(raw) if json_body else raw  # /chat streams events


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    with Live(tmp_path_factory.mktemp("dashboard")) as server:
        for _ in range(3):  # asked three times: a learned answer
            server.call("POST", "/chat", {"prompt": "Capital of Peru?"})
        server.call("POST", "/chat", {"prompt": "Capital of Chile?"})
        server.call("POST", "/api/commands/joke", {})
        yield server


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1100,1400")
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.get(live.url + "/dashboard")
    driver.find_element(By.ID, "key").send_keys(KEY)
    driver.find_element(By.ID, "name").send_keys("selenium")
    driver.find_element(By.ID, "login").click()
    yield driver
    driver.quit()


def view(driver: Any, name: str) -> None:
    """Open a view and wait until its data is shown."""
    driver.execute_script(
        "document.body.dataset.loaded = '';"
        "if (location.hash !== '#' + arguments[0]) location.hash = arguments[0];"
        "else dispatchEvent(new HashChangeEvent('hashchange'));",  # the same view, reloaded
        name,
    )
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == name


def wait_for(driver: Any, condition: Any) -> Any:
    return WebDriverWait(driver, WAIT_S).until(condition)


def screenshot(driver: Any, name: str) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / f"dashboard-{name}.png"))


def rows(driver: Any, table: str) -> list[str]:
    """The rows' text, read in one go: the page may redraw the table meanwhile."""
    script = "return [...document.querySelectorAll(arguments[0])].map((row) => row.innerText)"
    return list(driver.execute_script(script, f"#{table} tbody tr"))


def test_the_figures_are_those_of_the_api(live, browser):
    view(browser, "figures")
    shown = {
        element.get_attribute("data-figure"): element.text
        for element in browser.find_elements(By.CSS_SELECTOR, "[data-figure]")
    }
    stats = live.call("GET", "/api/stats")
    assert shown["answers"] == str(sum(stats["answers"].values()))
    assert shown["llm_calls"] == str(sum(stats["llm"]["calls"].values()))
    assert shown["saved_calls"] == str(stats["saved"]["calls"])
    assert shown["saved_tokens"] == str(stats["saved"]["tokens"])
    assert shown["llm_errors"] == "0" and shown["blocked"] == "0"
    tiers = stats["cache"]["tiers"]
    lookups = tiers["l1"]["hits"] + tiers["l1"]["misses"]
    rate = round(100 * sum(t["hits"] for t in tiers.values()) / lookups)
    assert shown["hit_rate"] == f"{rate} %"
    assert shown["pool"] == str(live.call("GET", "/dashboard/api/stats")["pool"])
    assert "primary:lmstudio" in browser.find_element(By.ID, "breakers").text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".chart canvas")) == 2  # uPlot drew
    screenshot(browser, "figures")


def test_a_phone_screen_needs_no_sideways_scrolling(browser):
    browser.set_window_size(390, 844)
    try:
        for name in ("figures", "chat"):
            view(browser, name)
            wide = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert wide <= 0, f"{name}: {wide} px too wide"
            screenshot(browser, f"{name}-phone")
    finally:
        browser.set_window_size(1100, 1400)


def test_the_chat_log_shows_what_the_bot_said(browser):
    view(browser, "chat")
    wait_for(browser, lambda d: any("Capital of Peru?" in row for row in rows(d, "log")))
    tiers = [row.split("\t")[2] for row in rows(browser, "log") if "Capital" in row]
    assert tiers == ["llm", "l1", "l1", "llm"]  # newest first: Chile, then Peru's three
    screenshot(browser, "chat")


def test_a_served_joke_is_retired(live, browser):
    view(browser, "jokes")
    [served] = live.call("GET", "/dashboard/api/jokes")["recent"]
    assert any(served["text"] in row for row in rows(browser, "jokes-recent"))
    screenshot(browser, "jokes")
    browser.find_element(By.CSS_SELECTOR, "#jokes-recent tbody button").click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#jokes-recent button"))
    assert live.call("GET", "/dashboard/api/jokes")["recent"][0]["retired"]


def test_a_banphrase_is_added_then_removed(live, browser):
    view(browser, "banphrases")
    browser.find_element(By.ID, "ban-phrase").send_keys("pineapple pizza")
    browser.find_element(By.CSS_SELECTOR, "#ban-add button").click()
    wait_for(browser, lambda d: any("pineapple pizza" in row for row in rows(d, "ban-list")))
    [row] = live.call("GET", "/dashboard/api/banphrases")
    assert row["phrase"] == "pineapple pizza" and "selenium" in row["added_by"]
    screenshot(browser, "banphrases")
    browser.find_element(By.CSS_SELECTOR, "#ban-list tbody button").click()
    wait_for(browser, lambda d: not any("pineapple" in row for row in rows(d, "ban-list")))
    assert live.call("GET", "/dashboard/api/banphrases") == []


def test_a_learned_answer_is_forgotten(live, browser):
    view(browser, "learned")
    [learned] = live.call("GET", "/dashboard/api/learned")
    assert learned["prompt"] == "Capital of Peru?"
    assert any("Capital of Peru?" in row for row in rows(browser, "learned-list"))
    screenshot(browser, "learned")
    browser.find_element(By.CSS_SELECTOR, "#learned-list tbody button").click()
    wait_for(browser, lambda d: not any("Peru" in row for row in rows(d, "learned-list")))
    assert live.call("GET", "/dashboard/api/learned") == []
