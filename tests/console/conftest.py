"""Browser tests of the console: a real WattHub (SQLite), a real Chromium driven by Playwright,
and the `watthub simulate` charge point (the `ocpp` package) in-process.

Chromium is Debian's package at /usr/bin/chromium (Playwright's own browser downloads are not
used). Without it, or without the `playwright` package, these tests skip with the reason
locally and fail under CI=true. Screenshots of the main pages go to $WATTHUB_SCREENSHOTS (e.g.
docs/ui) when it is set, never otherwise, so CI leaves the tree clean."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import CI, Csms, start_csms

CHROMIUM = os.environ.get("WATTHUB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("WATTHUB_SCREENSHOTS")
PASSWORD = "console-test-pw"


def require_browser() -> None:
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if CI:
            pytest.fail(f"{problem}, and under CI=true browser tests must not skip")
        pytest.skip(problem)


@dataclass
class Console:
    csms: Csms
    base: str
    browser: Any
    pages: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    simulators: list[asyncio.Task[None]] = field(default_factory=list)

    async def page(
        self, username: str | None = "ada", viewport: dict[str, int] | None = None
    ) -> Any:
        """A fresh browser context (own cookies), logged in as ``username`` unless None."""
        context = await self.browser.new_context(
            base_url=self.base, viewport=viewport or {"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and "status of 4" not in msg.text  # refused requests the test provokes
                and self.errors.append(f"console: {msg.text}")
            ),
        )
        self.pages.append(page)
        await page.goto("/")
        if username is not None:
            await login(page, username)
        return page

    def simulate(self, station_id: str, meter_interval: float = 1.0) -> None:
        """`watthub simulate` in-process: boots, reports its connector, charges on remote start."""
        from watthub.simulator import run_simulator

        url = f"{self.csms.ocpp_base}/{station_id}"
        self.simulators.append(
            asyncio.create_task(run_simulator(url, station_id, None, 1, meter_interval, None))
        )

    async def shot(self, page: Any, name: str) -> None:
        if SCREENSHOTS:
            await asyncio.to_thread(Path(SCREENSHOTS).mkdir, parents=True, exist_ok=True)
            await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


async def login(page: Any, username: str, password: str = PASSWORD) -> None:
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("header.top:not([hidden])")


@pytest_asyncio.fixture
async def console(tmp_path: Path, tmp_path_factory: Any) -> AsyncIterator[Console]:
    require_browser()
    from playwright.async_api import async_playwright

    hub, csms = await start_csms("sqlite", tmp_path, tmp_path_factory)
    playwright = await async_playwright().start()
    browser = None
    try:
        for username, role in (("ada", "admin"), ("olivia", "operator"), ("victor", "viewer")):
            response = await csms.api.post(
                "/users", json={"username": username, "password": PASSWORD, "role": role}
            )
            assert response.status_code == 201, response.text
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        handle = Console(csms, f"http://127.0.0.1:{hub.api_port}", browser)
        yield handle
        assert not handle.errors, handle.errors
    finally:
        if browser is not None:
            await browser.close()
        await playwright.stop()
        for task in handle.simulators if browser is not None else []:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await csms.close_stations()
        await csms.api.aclose()
        await hub.stop()
