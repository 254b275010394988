"""The dashboard in a real browser: Debian's Chromium, headless, driven through chromedriver.

`simrec dashboard echo_chamber` runs as a user starts it (a subprocess on a free port);
the test opens the page, presses Step and sees the step counter and the metrics plot
change, then Reset and sees a fresh run. Chromium and chromedriver come from Debian's
packages (``apt-get install chromium chromium-driver``); Selenium is told where both are,
so it never tries to download a browser or a driver.

``python tests/dashboard/test_browser.py [PNG [SCENARIO [DAYS [options]]]]`` takes the
screenshot in docs/ (default: docs/dashboard.png, quickstart after 2 days).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from simrec.dashboard import assets
from simrec.dashboard.server import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Chromium as root on a closed network: no sandbox, no GPU, no calls home.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
)  # fmt: skip
#: Seconds for the server to start (it imports Solara, Mesa, simrec and builds a world first).
START_S = 150.0
#: Seconds for the page to render, or to show what a click did.
RENDER_S = 60.0


@contextmanager
def chromium(width: int = 1500, height: int = 1100) -> Iterator[WebDriver]:
    """Headless Debian Chromium with a fresh profile; quit and the profile deleted at the end."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            pytest.fail(f"{path} is missing: install Debian's {package} (apt-get install -y chromium chromium-driver).")
    profile = tempfile.mkdtemp(prefix="simrec-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def ensure_assets() -> None:
    """Put Solara's front-end files in its cache with npm if they are missing (a closed network
    reaches the npm registry but not the CDN); without npm, the Solara server tries the CDN."""
    missing = assets.missing()
    if missing and shutil.which("npm"):
        assets.fetch(missing)


@contextmanager
def dashboard(out: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """``simrec dashboard ARGS`` on a free port; yields its URL and its output so far.

    The server runs in a process group of its own, interrupted (as Ctrl-C would) and then
    killed at the end, whatever happened.
    """
    ensure_assets()
    port = free_port()
    command = [sys.executable, "-m", "simrec", "dashboard", *args, "--port", str(port), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        url = until(lambda: next((m.group(1) for line in lines if (m := re.match(r"dashboard: (\S+)", line))), None),
                    START_S, lambda: f"the dashboard did not start; its output:\n{''.join(lines)}")  # fmt: skip
        yield url, lines
    finally:
        for sig, wait in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    pass
        reader.join(5)


def until(probe: Callable[[], object], timeout: float, what: Callable[[], str]) -> object:
    """``probe()``'s first truthy value within ``timeout`` seconds, else the test fails with ``what()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := probe():
                return value
        except Exception:  # noqa: BLE001, S110 - a page mid-render: elements come and go
            pass
        time.sleep(0.2)
    pytest.fail(what())


def body(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def step_counter(driver: WebDriver) -> int | None:
    """SolaraViz's "Step: N" (None before it renders)."""
    found = re.search(r"Step: (\d+)", body(driver))
    return int(found.group(1)) if found else None


def press(driver: WebDriver, label: str) -> None:
    """Click the button labelled ``label`` (Vuetify shows labels upper case)."""
    button = next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == label.upper())
    button.click()


def card_image(driver: WebDriver, title: str) -> str:
    """A digest of the image bytes in the card titled ``title`` (an image's address changes
    with each render; its bytes change only with what it shows)."""
    card = driver.find_element(By.XPATH, f"//div[contains(@class, 'v-card')][.//*[text()='{title}']]")
    src = card.find_element(By.TAG_NAME, "img").get_attribute("src")
    data = driver.execute_async_script(
        """const [src, done] = arguments;
        fetch(src).then(r => r.arrayBuffer()).then(b => {
            let s = ''; new Uint8Array(b).forEach(x => s += String.fromCharCode(x)); done(btoa(s)); });""",
        src,
    )
    return hashlib.sha256(base64.b64decode(data)).hexdigest()


def open_page(driver: WebDriver, url: str, lines: list[str]) -> None:
    """Load the dashboard and wait until SolaraViz and the metrics plot are there."""
    driver.set_script_timeout(RENDER_S)
    driver.get(url)
    until(lambda: step_counter(driver) == 0 and card_image(driver, "Metrics over time"), RENDER_S,
          lambda: f"the page did not render; it shows:\n{body(driver)}\nserver output:\n{''.join(lines)}")  # fmt: skip


def test_step_and_reset_in_the_browser(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with dashboard(out, "echo_chamber", "--set", "run.report=false") as (url, lines), chromium() as driver:
        assert url.startswith("http://localhost:")
        open_page(driver, url, lines)
        page = body(driver)
        for panel in ("Metrics over time", "Social graph", "Exposure", "User", "RESET", "STEP"):
            assert panel in page, panel
        assert "no day played yet" in page
        before = card_image(driver, "Metrics over time")
        press(driver, "Step")
        until(lambda: step_counter(driver) == 1, RENDER_S, lambda: f"Step did not count:\n{body(driver)}")
        until(lambda: card_image(driver, "Metrics over time") != before, RENDER_S,
              lambda: "the metrics plot did not change after Step")  # fmt: skip
        until(lambda: "day 1:" in body(driver), RENDER_S, lambda: body(driver))
        run = out / "echo_chamber" / "random"
        assert pd.read_parquet(run / "metrics.parquet")["step"].tolist() == [1]  # the run folder got the day
        press(driver, "Reset")
        until(lambda: step_counter(driver) == 0 and "no day played yet" in body(driver), RENDER_S,
              lambda: f"Reset did not start a new run:\n{body(driver)}")  # fmt: skip
        assert (out / "echo_chamber" / "random-2" / "manifest.json").is_file()
        assert '"status": "stopped"' in (run / "manifest.json").read_text()


def screenshot(path: Path, scenario: str = "echo_chamber", days: int = 6, *args: str) -> None:
    """The picture in docs/: ``scenario`` after ``days`` days, the user panel on its first user
    (an LLM-driven one, where there are) or else on the first user by index with clicks lately."""
    with (
        tempfile.TemporaryDirectory() as out,
        dashboard(Path(out), scenario, *args) as (url, lines),
        chromium(1600, 1700) as driver,
    ):
        open_page(driver, url, lines)
        for day in range(1, days + 1):
            press(driver, "Step")
            until(lambda d=day: step_counter(driver) == d and f"day {d}:" in body(driver), 900, lambda: body(driver))
        card = "//div[contains(@class, 'v-card')][.//*[text()='User']]"
        for user in range(50):
            if "position" in driver.find_element(By.XPATH, card).text:  # the panel lists clicks
                break
            box = driver.find_element(By.XPATH, f"{card}//input")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(str(user), Keys.ENTER)
            until(lambda u=user: f"user {u}\n" in driver.find_element(By.XPATH, card).text, RENDER_S, lambda: body(driver))
        time.sleep(2)  # the last images settle
        driver.save_screenshot(str(path))


if __name__ == "__main__":
    # python tests/dashboard/test_browser.py [PNG [SCENARIO [DAYS [dashboard options...]]]]
    # (default: docs/dashboard.png, quickstart after 2 days)
    given = sys.argv[1:]
    png = Path(given[0]) if given else ROOT / "docs" / "dashboard.png"
    screenshot(png, given[1] if len(given) > 1 else "quickstart", int(given[2]) if len(given) > 2 else 2, *given[3:])
