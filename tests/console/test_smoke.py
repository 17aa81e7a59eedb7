"""Temporary smoke test while building."""

from tests.console.conftest import Console


async def test_pages_render(console: Console) -> None:
    page = await console.page()
    await page.wait_for_selector("#tile-total")
    for route in [
        "#/stations",
        "#/transactions",
        "#/id-tags",
        "#/reservations",
        "#/local-lists",
        "#/firmware",
        "#/smart-charging",
        "#/security",
        "#/users",
        "#/stations/new",
    ]:
        await page.goto("/" + route)
        await page.wait_for_selector("main h1")
        await page.wait_for_timeout(300)
        text = await page.inner_text("main")
        print(route, "->", text[:200].replace("\n", " | "))
