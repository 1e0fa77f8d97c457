"""The portal in a real browser: Debian's Chromium, driven by Playwright, against the app served on 127.0.0.1.

Each test opens a fresh link from the API as the customer would, does one task the way a person does it, and checks
the screen with axe-core (no serious or critical violation). Screenshots land in docs/screenshots/ with UPDATE_SCREENSHOTS=1.
"""
import io
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader

from tests.browser.conftest import DESKTOP, axe_check

pytestmark = pytest.mark.browser

# The README's pictures are refreshed on purpose (`UPDATE_SCREENSHOTS=1`); otherwise they go to a scratch folder.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS")
               else Path(tempfile.gettempdir()) / "xtoportal-screenshots")
APPROVAL_WAIT_MS = 12_000  # the simulated handset answers after ~3 s; the page polls every 2 s


def enter_portal(page, portal_customer, **session_fields):
    """Open a fresh portal link in `page`, as the customer does from the merchant's site."""
    page.goto(portal_customer.portal_url(**session_fields))
    page.wait_for_load_state("networkidle")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_link_from_the_api_opens_the_overview_without_the_token_in_the_address(page, portal_customer):
    url = portal_customer.portal_url()
    token = urlsplit(url).path.rsplit("/", 1)[1]

    page.goto(url)

    assert urlsplit(page.url).path == "/portal/"
    assert token not in page.url
    main = page.locator("#portal-main")
    assert main.locator("h1.customer-name").inner_text() == "Ama Mensah"
    subscription = main.locator("article.subscription")
    assert subscription.locator(".subscription-plan").inner_text() == "Pro"
    assert "150.00" in subscription.locator(".price").inner_text()
    assert subscription.locator(".badge").inner_text() == "Active"
    assert re.search(r"Renews on .+ for .*150\.00", subscription.inner_text())
    assert page.get_by_role("link", name="Back to Acme").get_attribute("href") == "https://example.com/account"
    axe_check(page, "overview (390)")
    screenshot(page, "portal-overview-390")


def test_overview_at_desktop_width(new_page, portal_customer):
    page = new_page(viewport=DESKTOP)
    enter_portal(page, portal_customer)

    assert page.locator("h1.customer-name").inner_text() == "Ama Mensah"
    axe_check(page, "overview (1280)")
    screenshot(page, "portal-overview-1280")


def test_history_shows_more_rows_and_downloads_a_pdf_with_the_invoice_number(page, portal_customer):
    numbers = [invoice["number"] for invoice in portal_customer.invoices]  # newest first, as the portal lists them
    assert len(numbers) > 10  # more than one page of history
    enter_portal(page, portal_customer)

    page.locator("nav.portal-nav").get_by_role("link", name="Billing history").click()
    page.wait_for_url("**/portal/invoices")
    rows = page.locator("#invoice-list li.invoice-row")
    assert rows.locator(".invoice-number").all_inner_texts() == numbers[:10]
    axe_check(page, "billing history")
    screenshot(page, "portal-history-390")

    page.get_by_role("link", name="Show more invoices").click()
    rows.nth(10).wait_for()
    assert rows.locator(".invoice-number").all_inner_texts() == numbers
    assert urlsplit(page.url).path == "/portal/invoices"  # appended in place, not a new page
    assert page.get_by_role("link", name="Show more invoices").count() == 0
    axe_check(page, "billing history, all rows")

    oldest = rows.last
    with page.expect_download() as download_info:
        oldest.locator("a.invoice-pdf").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-{numbers[-1]}.pdf"
    pdf = PdfReader(io.BytesIO(Path(download.path()).read_bytes()))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert numbers[-1] in text
    assert "Ama Mensah" in text


def test_history_at_desktop_width(new_page, portal_customer):
    page = new_page(viewport=DESKTOP)
    enter_portal(page, portal_customer)
    page.goto(page.url + "invoices")

    assert page.locator("#invoice-list li.invoice-row").count() == 10
    axe_check(page, "billing history (1280)")
    screenshot(page, "portal-history-1280")


def go_to_payment_methods(page):
    page.locator("nav.portal-nav").get_by_role("link", name="Payment methods").click()
    page.wait_for_url("**/portal/payment-methods")


def fill_card(page, number: str) -> None:
    form = page.locator("#add-card")
    form.get_by_label("Card number").fill(number)
    form.get_by_label("Expiry date").fill("12 / 34")
    form.get_by_label("Security code").fill("123")
    form.get_by_label("Name on card").fill("Ama Mensah")
    form.get_by_role("button", name="Save card").click()


def test_adding_a_card_shows_each_refusal_then_saves_it(page, portal_customer):
    enter_portal(page, portal_customer)
    go_to_payment_methods(page)
    axe_check(page, "payment methods")
    page.locator("a.add-option", has_text="Card").click()
    page.wait_for_url("**/portal/payment-methods/add-card")
    axe_check(page, "add a card")

    fill_card(page, "4242 4242 4242 4241")  # fails Luhn: the processor names the number
    number_error = page.locator("#number-error")
    number_error.wait_for()
    assert "card number is incorrect" in number_error.inner_text()
    assert page.get_by_label("Card number").input_value() == ""
    assert page.get_by_label("Card number").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Name on card").input_value() == "Ama Mensah"  # what was typed is kept
    axe_check(page, "add a card, number refused")

    fill_card(page, "4000 0000 0000 0002")  # declined when attached: not a field's fault, said above the form
    alert = page.locator("#add-card .form-alert")
    alert.filter(has_text="Your card was declined").wait_for()
    assert page.locator("#number-error").count() == 0
    assert page.get_by_label("Card number").input_value() == ""
    assert page.get_by_label("Security code").input_value() == ""
    axe_check(page, "add a card, declined")
    screenshot(page, "portal-card-declined-390")

    fill_card(page, "5555 5555 5555 4444")
    page.wait_for_url("**/portal/payment-methods")
    page.locator("#portal-status").filter(has_text="Mastercard ending in 4444 was added.").wait_for()
    saved = page.locator(".pm-list").inner_text()
    assert "4444" in saved and "4242" in saved
    axe_check(page, "payment methods after adding a card")
    methods = portal_customer.api.get(f"/v1/customers/{portal_customer.customer['id']}/payment_methods").get_json()
    assert sorted(m["card"]["last4"] for m in methods["data"]) == ["4242", "4444"]


def add_mobile_money(page, portal_customer, phone: str) -> None:
    enter_portal(page, portal_customer)
    go_to_payment_methods(page)
    page.locator("a.add-option", has_text="Mobile money").click()
    page.wait_for_url("**/portal/payment-methods/add-mobile-money")
    axe_check(page, "add mobile money")
    form = page.locator("#add-mobile-money")
    form.get_by_label("Provider").select_option("mtn_momo")
    form.get_by_label("Mobile money number").fill(phone)
    form.get_by_role("button", name="Send the prompt").click()
    page.get_by_role("heading", name="Approve the prompt on your phone").wait_for()
    axe_check(page, "waiting for the handset")


def test_mobile_money_waits_for_the_phone_then_is_approved(page, portal_customer):
    add_mobile_money(page, portal_customer, "024 000 0000")  # a test phone ending 0000: the handset approves
    assert "MTN MoMo ending in 0000" in page.locator("#wallet-step").inner_text()
    screenshot(page, "portal-mobile-money-waiting-390")

    page.get_by_role("heading", name="Mobile money added").wait_for(timeout=APPROVAL_WAIT_MS)
    assert "It is now your default payment method." in page.locator("#wallet-step").inner_text()
    axe_check(page, "mobile money approved")
    page.get_by_role("link", name="Back to payment methods").first.click()
    page.wait_for_url("**/portal/payment-methods")
    assert "0000" in page.locator(".pm-list").inner_text()


def test_mobile_money_declined_on_the_phone_offers_to_try_again(page, portal_customer):
    add_mobile_money(page, portal_customer, "+233241111111")  # ending 1111: the handset declines

    page.get_by_role("heading", name="The request was declined").wait_for(timeout=APPROVAL_WAIT_MS)
    assert page.get_by_role("link", name="Try again").is_visible()
    axe_check(page, "mobile money declined")
    go_to_payment_methods(page)
    assert "1111" not in page.locator(".pm-list").inner_text()


def test_address_error_is_shown_beside_the_field_then_fixed(page, portal_customer):
    enter_portal(page, portal_customer)
    page.locator("nav.portal-nav").get_by_role("link", name="Billing details").click()
    page.wait_for_url("**/portal/details")
    axe_check(page, "billing details")
    form = page.locator("#details-form")
    form.get_by_label("Address", exact=True).fill("4 Liberation Road")
    form.get_by_label("City or town").fill("")
    form.get_by_role("button", name="Save details").click()

    city_error = page.locator("#address-city-error")
    city_error.wait_for()
    assert "Enter your city or town." in city_error.inner_text()
    assert form.get_by_label("Address", exact=True).input_value() == "4 Liberation Road"  # kept
    axe_check(page, "billing details with an error")
    screenshot(page, "portal-details-error-390")

    form.get_by_label("City or town").fill("Kumasi")
    form.get_by_role("button", name="Save details").click()
    page.locator("#portal-status").filter(has_text="Your billing details are saved.").wait_for()
    assert page.locator("#address-city-error").count() == 0
    customer = portal_customer.api.get(f"/v1/customers/{portal_customer.customer['id']}").get_json()
    assert customer["address"]["line1"] == "4 Liberation Road"
    assert customer["address"]["city"] == "Kumasi"


def test_a_french_session_shows_the_portal_in_french(page, portal_customer):
    enter_portal(page, portal_customer, locale="fr")

    nav = page.locator("nav.portal-nav")
    assert nav.get_by_role("link", name="Historique de facturation").is_visible()
    assert page.get_by_role("link", name="Retour à Acme").is_visible()
    assert re.search(r"Se renouvelle le .+ pour 150,00", page.locator("article.subscription").inner_text())
    assert page.locator("html").get_attribute("lang") == "fr"
    axe_check(page, "overview in French")
    nav.get_by_role("link", name="Historique de facturation").click()
    page.wait_for_url("**/portal/invoices")
    assert page.get_by_role("link", name="Afficher plus de factures").is_visible()
    axe_check(page, "history in French")


def test_auto_locale_follows_the_browsers_language(new_page, portal_customer):
    page = new_page(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    enter_portal(page, portal_customer, locale="auto")

    assert page.locator(".eyebrow").first.inner_text().lower() == "compte de facturation"
    assert page.locator("nav.portal-nav").get_by_role("link", name="Historique de facturation").is_visible()
