"""The client directory: add, edit, delete (with the API's field errors), search, page, import."""

from __future__ import annotations

import httpx2
from playwright.async_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import Watch


async def test_add_shows_field_errors_then_edit_and_delete(
    signed_in: Page, watch: Watch, api: httpx2.AsyncClient
) -> None:
    watch.expect(422, "/api/v1/clients")
    watch.expect(409, "/api/v1/clients")
    page = signed_in
    [phone, taken] = steps.phones(2)
    await api.post("/clients", json={"phone": taken})
    await steps.go(page, "Clients", "Clients")

    await page.get_by_role("button", name="Add a client").click()
    dialog = page.get_by_role("dialog", name="Add a client")
    phone_box = dialog.get_by_label("Phone")
    await expect(phone_box).to_be_focused()
    await phone_box.fill("8900123")
    await dialog.get_by_label("Tag").fill("browser")
    await dialog.get_by_role("button", name="Add client").click()
    await expect(dialog.locator('[data-error-for="phone"]')).to_have_text(
        "must be 7 followed by 10 digits, e.g. 79001234567"
    )
    await expect(phone_box).to_have_attribute("aria-invalid", "true")
    await expect(phone_box).to_be_focused()
    await steps.screenshot(page, "client-field-error")

    await phone_box.fill(taken)
    await dialog.get_by_role("button", name="Add client").click()
    await expect(dialog.locator('[data-error-for="phone"]')).to_have_text(
        "a client with this phone already exists"
    )

    await phone_box.fill(phone)
    await dialog.get_by_label("Time zone").fill("Asia/Kolkata")
    await dialog.get_by_role("button", name="Add client").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_text(f"Client {phone} added.")).to_be_visible()

    await page.get_by_label("Phone or its beginning").fill(f"+{phone[:1]} {phone[1:4]} {phone[4:]}")
    await page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row").filter(has_text=phone)
    await expect(row).to_have_count(1)
    cells = row.get_by_role("cell")
    await expect(cells.nth(1)).to_have_text(phone[1:4])  # the operator code from the phone
    await expect(cells.nth(2)).to_have_text("browser")
    await expect(cells.nth(3)).to_have_text("Asia/Kolkata")

    await row.get_by_role("button", name=f"Edit client {phone}").click()
    edit = page.get_by_role("dialog", name=f"Edit client {phone}")
    await edit.get_by_label("Operator code").fill("12")
    await edit.get_by_role("button", name="Save").click()
    await expect(edit.locator('[data-error-for="operator_code"]')).to_have_text(
        "must be exactly 3 digits"
    )
    await edit.get_by_label("Operator code").fill("999")
    await edit.get_by_label("Tag").fill("edited")
    await edit.get_by_role("button", name="Save").click()
    await expect(edit).to_be_hidden()
    await expect(cells.nth(2)).to_have_text("edited")
    await expect(cells.nth(1)).to_have_text("999")

    await row.get_by_role("button", name=f"Delete client {phone}").click()
    confirm = page.get_by_role("dialog").filter(has_text=f"Delete client {phone}?")
    await confirm.get_by_role("button", name="Keep it").click()
    await expect(row).to_have_count(1)
    await row.get_by_role("button", name=f"Delete client {phone}").click()
    await confirm.get_by_role("button", name="Delete client").click()
    await expect(page.get_by_text(f"Client {phone} deleted.")).to_be_visible()
    await expect(row).to_have_count(0)
    assert (await api.get("/clients", params={"phone": phone})).json()["items"] == []


async def test_search_by_tag_and_operator_and_page_by_cursor(
    signed_in: Page, api: httpx2.AsyncClient
) -> None:
    page = signed_in
    tag = steps.unique_tag()
    numbers = await steps.seed_clients(api, tag, 130)
    await steps.go(page, "Clients", "Clients")

    await page.get_by_label("Tag").fill(tag)
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("table.clients tbody tr")
    await expect(rows).to_have_count(100)
    await expect(rows.first).to_contain_text(numbers[0])
    pager = page.get_by_role("navigation", name="Client pages")
    await expect(pager.get_by_role("button", name="← Previous")).to_be_disabled()
    await steps.screenshot(page, "clients")

    await pager.get_by_role("button", name="Next →").click()
    await expect(rows).to_have_count(30)
    await expect(rows.first).to_contain_text(numbers[100])
    await expect(pager).to_contain_text("Page 2")
    await expect(pager.get_by_role("button", name="Next →")).to_be_disabled()
    await pager.get_by_role("button", name="← Previous").click()
    await expect(rows).to_have_count(100)
    await expect(rows.first).to_contain_text(numbers[0])

    code = numbers[0][1:4]
    expected = sum(1 for n in numbers if n[1:4] == code)
    await page.get_by_label("Operator code").fill(code)
    await page.get_by_label("Per page").select_option("500")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(expected)

    await page.set_viewport_size({"width": 390, "height": 844})
    await steps.screenshot(page, "clients-phone")


async def test_import_reports_the_bad_line_and_keeps_the_good_ones(
    signed_in: Page, api: httpx2.AsyncClient
) -> None:
    page = signed_in
    tag = steps.unique_tag()
    good, other = steps.phones(2)
    csv = (
        "phone,operator_code,tag,timezone\n"
        f"{good},,{tag},Europe/Moscow\n"
        f"7900,,{tag},UTC\n"
        f"{other},901,{tag},\n"
    )
    await steps.go(page, "Clients", "Clients")
    await page.get_by_text("Import clients from a CSV file").click()
    await page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_text("2 added, 0 updated, 1 line(s) refused.")).to_be_visible()
    refused = page.get_by_role("table", name="Refused lines").locator("tbody tr")
    await expect(refused).to_have_count(1)
    await expect(refused.get_by_role("cell")).to_have_text(
        ["3", "phone", "must be 7 followed by 10 digits, e.g. 79001234567"]
    )
    await steps.screenshot(page, "clients-import-report")
    found = (await api.get("/clients", params={"tag": tag})).json()["items"]
    assert [(c["phone"], c["operator_code"]) for c in found] == [(good, good[1:4]), (other, "901")]
