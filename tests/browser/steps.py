"""What the browser tests do again and again: sign in, seed clients, fill the mailing form."""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx2
from playwright.async_api import Page, expect

from herald.config import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


async def sign_in(page: Page, token: str) -> None:
    await page.goto("/")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


async def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)


def unique_tag() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def phones(n: int) -> list[str]:
    """n distinct phones unlikely to be used by another test of the session."""
    first = random.randrange(10**9, 9 * 10**9)
    return [f"7{first + i:010d}" for i in range(n)]


async def seed_clients(api: httpx2.AsyncClient, tag: str, n: int) -> list[str]:
    """Imports n clients with ``tag``; returns their phones."""
    numbers = phones(n)
    lines = ["phone,operator_code,tag,timezone", *(f"{p},,{tag},Europe/Moscow" for p in numbers)]
    answer = await api.post(
        "/clients/import", content="\n".join(lines), headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"created": n, "updated": 0, "errors": []}
    return numbers


def local_input(moment: datetime, zone: str) -> str:
    """The value a datetime-local input (step 1) shows for ``moment`` in ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")


async def go(page: Page, link: str, heading: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
    await expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()


async def new_mailing(
    page: Page, text: str, *, tags: str = "", start: str | None = None, end: str | None = None
) -> int:
    """Fills and submits the new mailing form; returns the id of the mailing it shows."""
    await go(page, "Mailings", "Mailings")
    await page.get_by_role("link", name="New mailing").click()
    await page.get_by_label("Text", exact=True).fill(text)
    await page.get_by_label("Tags", exact=True).fill(tags)
    if start is not None:
        await page.get_by_label("Start", exact=True).fill(start)
    if end is not None:
        await page.get_by_label("End", exact=True).fill(end)
    await page.get_by_role("button", name="Create mailing").click()
    await expect(page).to_have_url(re.compile(r"#/mailings/\d+$"))
    mailing_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.get_by_role("heading", name=f"Mailing #{mailing_id}")).to_be_visible()
    return mailing_id
