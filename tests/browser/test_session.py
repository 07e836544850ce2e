"""Signing in and out, an expired token, and an API that stops answering."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import TOKEN, Watch, close_page, watch_page


async def test_a_wrong_token_is_refused_and_the_right_one_signs_in(
    page: Page, watch: Watch
) -> None:
    watch.expect(401, "/api/v1/pipeline")
    await page.goto("/")
    token = page.get_by_label("Admin token")
    await expect(token).to_be_focused()
    await token.fill("not-the-token")
    await token.press("Enter")
    await expect(page.get_by_text("This token was refused")).to_be_visible()
    await expect(token).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("navigation", name="Main")).to_be_hidden()

    await token.fill(TOKEN)
    await token.press("Enter")
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    await expect(page.get_by_text("Healthy")).to_be_visible()  # the worker reports in
    assert await page.evaluate("sessionStorage.getItem('herald.token')") == TOKEN


async def test_the_token_is_kept_for_the_tab_only_and_sign_out_forgets_it(
    signed_in: Page, context: BrowserContext, watch: Watch
) -> None:
    other = await context.new_page()
    watch_page(other, watch)
    await other.goto("/")
    await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    await close_page(other, watch)

    await signed_in.get_by_role("button", name="Sign out").click()
    await expect(signed_in.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(signed_in.get_by_text("You have signed out.")).to_be_visible()
    assert await signed_in.evaluate("sessionStorage.getItem('herald.token')") is None


async def test_a_token_refused_later_leads_back_to_sign_in(signed_in: Page, watch: Watch) -> None:
    watch.expect(401, "/api/v1/")
    await signed_in.evaluate("sessionStorage.setItem('herald.token', 'rotated-away')")
    await expect(signed_in.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(signed_in.get_by_text("Your session has ended")).to_be_visible()
    assert await signed_in.evaluate("sessionStorage.getItem('herald.token')") is None


async def test_an_unreachable_api_is_announced_until_it_answers(
    signed_in: Page, context: BrowserContext, watch: Watch
) -> None:
    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    watch.offline_ok = True
    await context.route("**/api/v1/**", refuse)
    banner = signed_in.get_by_role("alert").filter(has_text="cannot be reached")
    await expect(banner).to_be_visible()
    await context.unroute("**/api/v1/**", refuse)
    await expect(banner).to_be_hidden()
    await expect(signed_in.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
