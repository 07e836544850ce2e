"""Mailings from the browser: created, watched to 100 %, started by themselves, paused, resumed,
edited, cancelled and deleted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx2
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.browser import steps
from tests.browser.conftest import TIMEZONE, TOKEN, Watch, close_page, watch_page

DELIVERY_SECONDS = 30_000  # ms: a few hundred messages at the test server's rate limit


def dashboard_row(page: Page, mailing_id: int) -> Locator:
    return page.locator(f'table.mailings tr[data-id="{mailing_id}"]')


async def test_a_mailing_active_now_reaches_100_percent(
    signed_in: Page, context: BrowserContext, watch: Watch, api: httpx2.AsyncClient
) -> None:
    page = signed_in
    tag = steps.unique_tag()
    await steps.seed_clients(api, tag, 400)
    await steps.go(page, "Mailings", "Mailings")
    await page.get_by_role("link", name="New mailing").click()
    await expect(page.get_by_text(re.compile(r"^In your time zone, Asia/"))).to_be_visible()
    await page.get_by_label("Text", exact=True).fill("Our shop opens on Sunday")
    await expect(page.get_by_text("24 / 4096 characters")).to_be_visible()
    await page.get_by_label("Tags", exact=True).fill(tag)
    await expect(page.get_by_text("Reaches 400 client(s) now.")).to_be_visible()
    await steps.screenshot(page, "mailing-form")
    created_at = datetime.now(UTC)
    await page.get_by_role("button", name="Create mailing").click()
    await expect(page).to_have_url(re.compile(r"#/mailings/\d+$"))
    mailing_id = int(page.url.rsplit("/", 1)[1])

    dashboard = await context.new_page()
    watch_page(dashboard, watch)
    await steps.sign_in(dashboard, TOKEN)
    row = dashboard_row(dashboard, mailing_id)
    await expect(row.locator(".pct")).to_have_text("100 %", timeout=DELIVERY_SECONDS)
    await expect(row.locator(".summary")).to_have_text("400 sent of 400")
    await expect(row.locator(".badge")).to_have_text("finished")
    await expect(dashboard.get_by_text("Healthy")).to_be_visible()
    await expect(dashboard.locator("#rate")).to_have_text(re.compile(r"^\d[\d,.]* msg/s$"))
    await steps.screenshot(dashboard, "dashboard")
    await dashboard.set_viewport_size({"width": 390, "height": 844})
    await steps.screenshot(dashboard, "dashboard-phone")
    await close_page(dashboard, watch)

    await expect(page.get_by_role("heading", name=f"Mailing #{mailing_id}")).to_be_visible()
    await expect(page.locator(".pct")).to_have_text("100 %")
    await expect(page.locator('.counts dd[data-status="sent"]')).to_have_text("400")
    chart = page.get_by_role("img", name=f"Messages of mailing {mailing_id} sent over time")
    await expect(chart).to_have_attribute("data-sent", "400")
    assert int(await chart.get_attribute("data-samples") or 0) >= 2
    messages = page.locator("table.messages tbody tr")
    await expect(messages).to_have_count(50)
    await expect(messages.first.locator(".badge")).to_have_text("sent")
    await expect(messages.first.get_by_role("cell").nth(3)).to_have_text("1")  # attempts
    await steps.screenshot(page, "mailing-detail", full_page=True)
    pager = page.get_by_role("navigation", name="Message pages")
    await pager.get_by_role("button", name="Next →").click()
    await expect(pager).to_contain_text("Page 2")
    await page.get_by_label("Status", exact=True).select_option("failed")
    await expect(messages).to_have_text(["No message here yet."])
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.get_by_label("Status", exact=True).select_option("sent")
    await steps.screenshot(page, "mailing-detail-phone")

    # The form's local times went out with the browser's offset: the mailing starts now.
    mailing = (await api.get(f"/mailings/{mailing_id}")).json()
    start = datetime.fromisoformat(mailing["start_at"])
    end = datetime.fromisoformat(mailing["end_at"])
    assert timedelta(minutes=-2) < start - created_at <= timedelta(0)
    assert end - start == timedelta(days=1)


async def test_a_future_mailing_starts_by_itself_and_a_paused_one_waits(
    signed_in: Page, api: httpx2.AsyncClient
) -> None:
    page = signed_in
    tag = steps.unique_tag()
    await steps.seed_clients(api, tag, 100)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    start_value = steps.local_input(start, TIMEZONE)
    later = steps.local_input(start + timedelta(hours=1), TIMEZONE)
    first = await steps.new_mailing(
        page, "Starts by itself", tags=tag, start=start_value, end=later
    )
    await expect(page.locator(".head .badge")).to_have_text("scheduled")
    second = await steps.new_mailing(page, "Held back", tags=tag, start=start_value, end=later)
    await page.get_by_role("button", name=f"Pause mailing {second}").click()
    await expect(page.locator(".head .badge")).to_have_text("paused")
    resume = page.get_by_role("button", name=f"Resume mailing {second}")
    await expect(resume).to_be_focused()  # the focus follows the button that replaced Pause

    for mailing_id in (first, second):
        mailing = (await api.get(f"/mailings/{mailing_id}")).json()
        assert datetime.fromisoformat(mailing["start_at"]) == start  # sent with +05:30

    await steps.go(page, "Dashboard", "Dashboard")
    await expect(dashboard_row(page, first).locator(".badge")).to_have_text(
        re.compile("running|finished"), timeout=DELIVERY_SECONDS
    )
    assert datetime.now(UTC) >= start
    await expect(dashboard_row(page, first).locator(".pct")).to_have_text(
        "100 %", timeout=DELIVERY_SECONDS
    )
    held = dashboard_row(page, second)
    await expect(held.locator(".badge")).to_have_text("paused")
    await expect(held.locator(".summary")).to_have_text(re.compile(r"^0 sent\b"))

    await steps.go(page, "Mailings", "Mailings")
    listed = page.locator(f'table.mailing-list tr[data-id="{second}"]')
    await listed.get_by_role("button", name=f"Resume mailing {second}").click()
    await expect(listed.locator(".badge")).to_have_text(re.compile("running|finished"))
    await expect(page.get_by_text(f"Mailing {second} resumed.")).to_be_visible()
    await page.set_viewport_size({"width": 390, "height": 844})
    await steps.screenshot(page, "mailings-phone")
    await page.set_viewport_size({"width": 1280, "height": 860})
    await steps.go(page, "Dashboard", "Dashboard")
    await expect(held.locator(".pct")).to_have_text("100 %", timeout=DELIVERY_SECONDS)

    await steps.go(page, "Mailings", "Mailings")
    await listed.get_by_role("button", name=f"Delete mailing {second}").click()
    confirm = page.get_by_role("dialog").filter(has_text=f"Delete mailing {second}?")
    await confirm.get_by_role("button", name="Delete the mailing").click()
    await expect(listed).to_have_count(0)
    assert (await api.get(f"/mailings/{second}")).status_code == 404


async def test_edit_with_field_errors_then_cancel_and_delete(
    signed_in: Page, watch: Watch, api: httpx2.AsyncClient
) -> None:
    watch.expect(422, "/api/v1/mailings")
    page = signed_in
    tag = steps.unique_tag()
    await steps.seed_clients(api, tag, 3)
    await steps.go(page, "Mailings", "Mailings")
    await page.get_by_role("link", name="New mailing").click()
    form = page.locator("form.mailing-form")
    codes = page.get_by_label("Operator codes", exact=True)
    await codes.fill("12")
    await expect(form.locator('[data-error-for="filter.operator_codes"]')).to_have_text(
        "must be exactly 3 digits"
    )
    await codes.fill("")
    await page.get_by_label("Tags", exact=True).fill(tag)
    await expect(page.get_by_text("Reaches 3 client(s) now.")).to_be_visible()

    text = page.get_by_label("Text", exact=True)
    await text.fill("é" * 4097)
    await expect(page.get_by_text("4097 / 4096 characters")).to_be_visible()
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await page.get_by_label("Start", exact=True).fill(steps.local_input(tomorrow, TIMEZONE))
    await page.get_by_label("End", exact=True).fill(
        steps.local_input(tomorrow - timedelta(hours=1), TIMEZONE)
    )
    await page.get_by_role("button", name="Create mailing").click()
    await expect(form.locator('[data-error-for="text"]')).to_contain_text("4096")
    await expect(form.locator('[data-error-for="end_at"]')).to_have_text(
        "must be later than start_at"
    )
    await expect(text).to_be_focused()

    await text.fill("First words")
    await page.get_by_label("End", exact=True).fill(
        steps.local_input(tomorrow + timedelta(hours=2), TIMEZONE)
    )
    await page.get_by_role("button", name="Create mailing").click()
    await expect(page).to_have_url(re.compile(r"#/mailings/\d+$"))
    mailing_id = int(page.url.rsplit("/", 1)[1])
    about = page.get_by_label("About")
    await expect(about).to_contain_text("First words")

    await page.get_by_role("button", name=f"Edit mailing {mailing_id}").click()
    await expect(page.get_by_role("heading", name=f"Edit mailing {mailing_id}")).to_be_visible()
    await expect(page.get_by_label("Tags", exact=True)).to_have_value(tag)
    await page.get_by_label("Text", exact=True).fill("Better words")
    await page.get_by_label("Operator codes", exact=True).fill("900, 901")
    await page.get_by_role("button", name="Save changes").click()
    await expect(about).to_contain_text("Better words")
    await expect(about).to_contain_text(f"operators 900, 901; tags {tag}")
    mailing = (await api.get(f"/mailings/{mailing_id}")).json()
    assert mailing["text"] == "Better words"
    assert mailing["filter"] == {"operator_codes": ["900", "901"], "tags": [tag]}
    assert datetime.fromisoformat(mailing["start_at"]) == tomorrow

    await page.get_by_role("button", name=f"Cancel mailing {mailing_id}").click()
    confirm = page.get_by_role("dialog").filter(has_text=f"Cancel mailing {mailing_id}?")
    await page.keyboard.press("Escape")  # the keyboard way out keeps the mailing
    await expect(confirm).to_be_hidden()
    await expect(page.locator(".head .badge")).to_have_text("scheduled")
    await page.get_by_role("button", name=f"Cancel mailing {mailing_id}").click()
    await confirm.get_by_role("button", name="Cancel the mailing").click()
    await expect(page.locator(".head .badge")).to_have_text("cancelled")
    await expect(page.get_by_role("button", name=f"Pause mailing {mailing_id}")).to_be_hidden()
    await expect(page.get_by_role("button", name=f"Edit mailing {mailing_id}")).to_be_hidden()

    await page.get_by_role("button", name=f"Delete mailing {mailing_id}").click()
    await page.get_by_role("button", name="Delete the mailing").click()
    await expect(page.get_by_role("heading", name="Mailings", level=1)).to_be_visible()
    await expect(page.locator(f'table.mailing-list tr[data-id="{mailing_id}"]')).to_have_count(0)
