"""The issue's "done when", end to end with real processes: `watthub serve` prints the console
address and the first admin password; in Chromium the newcomer logs in with it, registers a
station and an id tag, starts `watthub simulate`, charges through it from the browser watching
power live, and stops."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import CHROMIUM, SCREENSHOTS, require_browser
from tests.support.processes import SERVE, free_port, stop

ROOT = Path(__file__).resolve().parents[2]


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    require_browser()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTHUB_")}
    ocpp_port, api_port = free_port(), free_port()
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        WATTHUB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'watthub.db'}",
        WATTHUB_DATA_DIR=str(tmp_path / "data"),
        WATTHUB_OCPP_PORT=str(ocpp_port),
        WATTHUB_API_PORT=str(api_port),
    )
    process = subprocess.Popen(
        [*SERVE, "--migrate"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines, banner = _lines(process), ""
        deadline = time.monotonic() + 30
        while "First login" not in banner:
            assert time.monotonic() < deadline, f"no login in the banner:\n{banner}"
            try:
                banner += lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, banner
        console = re.search(r"Console\s+: (\S+)", banner)
        password = re.search(r"First login\s+: user 'admin', password (\S+)", banner)
        assert console and password, banner
        yield {
            "env": env,
            "url": console.group(1),
            "password": password.group(1),
            "ocpp": ocpp_port,
        }
    finally:
        stop(process)


def test_newcomer_charges_from_the_browser(served: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    simulator = None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        errors: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served["url"])
            page.fill("#username", "admin")
            page.fill("#password", served["password"])
            page.click("button[type=submit]")
            page.click("#nav >> text=Stations")
            page.click("#add-station")
            page.fill("#f-id", "CP1")
            page.click("#station-form button[type=submit]")
            page.wait_for_url(re.compile(r"#/stations/CP1$"))
            page.click("#nav >> text=Id tags")
            page.click("#add-tag")
            page.fill("#tag-id", "TAG1")
            page.click("#tag-form button[type=submit]")
            expect(page.locator("#tags")).to_contain_text("TAG1")

            url = f"ws://127.0.0.1:{served['ocpp']}/ocpp/CP1"
            simulate = ["simulate", "CP1", "--url", url, "--meter-interval", "1"]
            simulator = subprocess.Popen(
                [sys.executable, "-m", "watthub", *simulate],
                env=served["env"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            page.goto(f"{served['url']}#/stations/CP1")
            card = page.locator("[data-connector='1']")
            expect(page.locator("#connection")).to_contain_text("online")
            expect(card).to_contain_text("Available")
            page.fill("#idtag-1", "TAG1")
            card.get_by_text("Start charging").click()
            expect(card).to_contain_text("Charging")
            expect(card.locator("[data-power]")).to_have_text(re.compile(r"^[67]\.\d\d kW$"))
            if SCREENSHOTS:
                page.screenshot(path=f"{SCREENSHOTS}/newcomer-station.png")
            card.get_by_text(re.compile(r"Transaction \d+")).click()
            expect(page.locator("#tx-charts svg path.line").first).to_be_visible()
            expect(page.locator("#tx-energy")).not_to_have_text("0.00 kWh", timeout=20_000)
            if SCREENSHOTS:
                page.screenshot(path=f"{SCREENSHOTS}/newcomer-transaction.png", full_page=True)
            page.click("#tx-stop")
            expect(page.locator("#tx-state")).to_have_text("finished")
            assert not errors, errors
        finally:
            browser.close()
            if simulator is not None:
                stop(simulator)
