"""Every control is labelled and the views are reached with the keyboard alone."""

from __future__ import annotations

import httpx2
from playwright.async_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import TOKEN

UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.type !== "hidden" && !el.hidden && el.offsetParent !== null)
  .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
  .map((el) => el.outerHTML)"""


async def unlabelled(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(UNLABELLED)
    return found


async def test_every_control_of_every_view_has_a_label(
    signed_in: Page, api: httpx2.AsyncClient
) -> None:
    page = signed_in
    await steps.seed_clients(api, steps.unique_tag(), 1)
    created = await api.post(
        "/mailings",
        json={
            "text": "Labelled",
            "start_at": "2030-01-01T10:00:00+00:00",
            "end_at": "2030-01-01T11:00:00+00:00",
        },
    )
    mailing_id = created.json()["id"]
    assert await unlabelled(page) == []
    for hash_, heading in [
        ("#/clients", "Clients"),
        ("#/mailings", "Mailings"),
        ("#/mailings/new", "New mailing"),
        (f"#/mailings/{mailing_id}", f"Mailing #{mailing_id}"),
        (f"#/mailings/{mailing_id}/edit", f"Edit mailing {mailing_id}"),
    ]:
        await page.evaluate(f"location.hash = '{hash_}'")
        await expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert await unlabelled(page) == [], hash_
    await page.evaluate("location.hash = '#/clients'")
    await page.get_by_role("button", name="Add a client").click()
    await expect(page.get_by_role("dialog", name="Add a client")).to_be_visible()
    assert await unlabelled(page) == []
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog", name="Add a client")).to_be_hidden()
    await api.delete(f"/mailings/{mailing_id}")


async def test_the_keyboard_alone_signs_in_and_moves_between_views(page: Page) -> None:
    await page.goto("/")
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await page.keyboard.type(TOKEN)
    await page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Dashboard", level=1)
    await expect(heading).to_be_focused()
    await page.keyboard.press("Shift+Tab")  # back into the header: "Sign out"
    await expect(page.get_by_role("button", name="Sign out")).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("link", name="Mailings")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Mailings", level=1)).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="New mailing")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="New mailing", level=1)).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Text", exact=True)).to_be_focused()

    await page.get_by_role("link", name="Skip to content").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    assert page.url.endswith("#/mailings/new")  # the skip link is not taken for a route
