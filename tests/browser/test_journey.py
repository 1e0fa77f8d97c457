"""The whole story, end to end, in real Chromium against real servers on 127.0.0.1 that share one database (the
test's SQLite file, or DATABASE_URL's PostgreSQL), with a real `xtoportal worker` process beside them:

1. the merchant's backend (the Python client, over HTTP) creates plans, a customer with a card, a subscription;
2. the merchant signs in to the dashboard, registers a webhook endpoint pointing at the example shop's receiver
   (examples/merchant_app, served for real), reveals its secret, and configures the portal: brand colour, pause
   offer and cancellation survey on, Basic and Pro offered (not Premium);
3. the customer presses "Manage billing" in the shop, lands in the portal in the merchant's colour, adds mobile
   money (approved on the simulated handset), upgrades to Pro paying with it (the charge is settled by the worker),
   cancels through the pause offer and survey, undoes it, downloads the upgrade's invoice PDF, and goes back to
   the shop;
4. a `support` user previews that customer's portal: read-only banner, controls disabled, a forged POST refused;
5. the shop's receiver has verified every event those actions wrote, no more and no fewer, each delivered once by
   the worker; the dashboard lists the deliveries.

Screenshots of the key steps go to the test's tmp dir (kept by pytest, see `--basetemp`).
"""
import io
import json
import re
import time

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import DESKTOP, PHONE
from tests.client.conftest import load_example_app
from tests.webhooks.conftest import Workers
from xtoportal.client import Xtopay
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant, create_staff
from xtoportal.models import Event, WebhookDelivery

pytestmark = pytest.mark.browser

OWNER_EMAIL, SUPPORT_EMAIL, PASSWORD = "owner@acme.test", "support@acme.test", "correct horse battery"
PRICES = {"Basic": 3000, "Pro": 9000, "Premium": 15000}  # GHS minor units, monthly
BRAND = "#0b6e4f"
WALLET_PHONE = "+233240000000"  # a test phone ending 0000: the handset approves the link and each charge (~3 s)
HANDSET_WAIT_MS = 15_000


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def text(locator) -> str:
    return re.sub(r"\s+", " ", locator.inner_text()).strip()


def sign_in(page, server: str, email: str, then: str) -> None:
    """Open a dashboard page signed out, sign in on the page it sends us to, and land back on it."""
    page.goto(f"{server}{then}")
    page.wait_for_url("**/dashboard/sign-in**")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{then}")


@pytest.fixture
def worker(database_url):
    """`xtoportal worker` as its own process on the test's database: webhooks and due billing (mobile money)."""
    workers = Workers()
    workers.start(database_url, cli=True, interval=0.2)
    yield workers
    logs = workers.stop_all()
    assert not any("Traceback" in log for log in logs), logs


@pytest.fixture
def shots(tmp_path):
    """shots(page, name): a full-page screenshot in the test's tmp dir."""
    folder = tmp_path / "screenshots"
    folder.mkdir()

    def take(page, name: str) -> None:
        page.screenshot(path=str(folder / f"{len(list(folder.iterdir())):02d}-{name}.png"), full_page=True)
    take.folder = folder
    return take


def test_merchant_configures_customer_upgrades_with_mobile_money_cancels_undoes_and_every_event_reaches_the_shop(
        app, server, live_server, worker, new_page, shots):
    # --- the merchant's account and its backend, over HTTP with the Python client --------------------------------
    merchant, secret_key = create_merchant("Acme", OWNER_EMAIL, PASSWORD)
    db.session.commit()
    create_staff(merchant.id, SUPPORT_EMAIL, PASSWORD, "support")
    db.session.commit()
    backend = Xtopay(secret_key, base_url=server)
    plans = {name: backend.plans.create(name=name, amount=amount, currency="ghs", interval="month").id
             for name, amount in PRICES.items()}
    customer = backend.customers.create(
        name="Ama Mensah", email="ama@example.com", phone="+233244123456",
        address={"line1": "12 Oxford Street", "city": "Accra", "country": "GH"})
    backend.payment_methods.attach(customer.id, type="card", card={
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
    subscription = backend.subscriptions.create(customer_id=customer.id, plan_id=plans["Basic"])
    assert subscription.status == "active"

    # --- the example shop, served for real --------------------------------------------------------------------------
    shop_app = load_example_app().create_app({
        "XTOPAY_API_KEY": secret_key, "XTOPAY_BASE_URL": server, "XTOPAY_CUSTOMER_ID": customer.id,
        "XTOPAY_WEBHOOK_SECRET": None, "SECRET_KEY": "shop-secret-for-tests"})
    try:
        shop = live_server(shop_app)
        shop_app.config["APP_URL"] = shop
        received = shop_app.extensions["webhook_events"]
        _journey(server, shop, shop_app, received, backend, merchant, customer.id, subscription.id, plans,
                 new_page, shots)
    finally:
        shop_app.extensions["xtopay"].close()
        backend.close()


def _journey(server, shop, shop_app, received, backend, merchant, customer_id, subscription_id, plans,
             new_page, shots):
    # --- the merchant: a webhook endpoint for the shop, then the portal's settings ---------------------------------
    owner = new_page(viewport=DESKTOP)
    sign_in(owner, server, OWNER_EMAIL, "/dashboard/developers")
    owner.get_by_label("Endpoint URL").fill(f"{shop}/webhooks")
    owner.locator("input[name=enabled_events][value='*']").check()
    before = _event_ids(merchant.id)  # what happened before anyone listened is not expected at the shop
    owner.get_by_role("button", name="Add endpoint").click()
    owner.wait_for_url("**/dashboard/developers/webhooks/we_*")
    endpoint_id = owner.url.rsplit("/", 1)[1]
    owner.get_by_role("button", name="Reveal secret").click()
    signing_secret = owner.locator("input.secret").input_value()
    assert signing_secret.startswith("whsec_")
    shop_app.config["XTOPAY_WEBHOOK_SECRET"] = signing_secret  # the shop's operator pastes it into its config
    shots(owner, "dashboard-endpoint")

    owner.get_by_role("link", name="Customer Portal").click()
    owner.wait_for_url("**/dashboard/settings/portal")
    owner.locator("#f-branding-primary_color").fill(BRAND)
    for toggle in ("features.subscription_cancel.enabled", "features.subscription_pause.enabled",
                   "features.subscription_cancel.pause_before_cancel.enabled",
                   "features.subscription_cancel.survey.enabled", "features.subscription_update.enabled"):
        owner.locator(f"input[name='{toggle}']").check()
    owner.locator(f"#plan-{plans['Basic']}").check()
    owner.locator(f"#plan-{plans['Pro']}").check()
    expect(owner.locator(f"#plan-{plans['Premium']}")).not_to_be_checked()
    wait_until(lambda: f"--brand: {BRAND};" in (owner.locator("iframe.preview-frame").get_attribute("srcdoc") or ""),
               10, "the live preview to take the brand colour")
    shots(owner, "dashboard-settings-preview")
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.locator(".flash")).to_contain_text("Customer Portal settings saved.")
    configuration = backend.customer_portal.configuration.retrieve()
    assert configuration.branding.primary_color == BRAND
    cancel = configuration.features.subscription_cancel
    assert cancel.survey.enabled and cancel.pause_before_cancel.enabled
    assert sorted(configuration.features.subscription_update.plans) == sorted([plans["Basic"], plans["Pro"]])

    # --- the customer: from the shop into the portal ---------------------------------------------------------------
    page = new_page(viewport=PHONE)
    page.goto(f"{shop}/account")
    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{server}/portal/")
    expect(page.locator("h1.customer-name")).to_have_text("Ama Mensah")
    assert page.get_by_role("link", name="Back to Acme").get_attribute("href") == f"{shop}/account"
    brand = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()")
    assert brand == BRAND
    shots(page, "portal-overview")

    # Mobile money, approved on the handset.
    page.locator("nav.portal-nav").get_by_role("link", name="Payment methods").click()
    page.wait_for_url("**/portal/payment-methods")
    page.locator("a.add-option", has_text="Mobile money").click()
    page.wait_for_url("**/portal/payment-methods/add-mobile-money")
    form = page.locator("#add-mobile-money")
    form.get_by_label("Provider").select_option("mtn_momo")
    form.get_by_label("Mobile money number").fill(WALLET_PHONE)
    form.get_by_role("button", name="Send the prompt").click()
    page.get_by_role("heading", name="Approve the prompt on your phone").wait_for()
    shots(page, "portal-mobile-money-waiting")
    page.get_by_role("heading", name="Mobile money added").wait_for(timeout=HANDSET_WAIT_MS)
    assert "It is now your default payment method." in text(page.locator("#wallet-step"))

    # Upgrade to Pro (Premium is not offered), paid with the wallet: the worker settles the charge.
    page.locator("nav.portal-nav").get_by_role("link", name="Overview").click()
    page.wait_for_url("**/portal/")
    card = page.locator(f'article.subscription[id="{subscription_id}"]')
    card.get_by_role("link", name="Change plan").click()
    expect(page.locator("h1.flow-title")).to_have_text("Change plan")
    offered = [text(option) for option in page.locator("label.plan-option").all()]
    assert any("Pro" in o for o in offered) and not any("Premium" in o for o in offered), offered
    page.locator("label.plan-option", has_text="Pro").click()
    page.get_by_role("button", name="Review the change").click()
    expect(page.locator("h1.flow-title")).to_have_text("Switch to Pro")
    due_now = text(page.locator(".flow-total dd"))
    shots(page, "portal-upgrade-review")
    page.get_by_role("button", name=f"Confirm and pay {due_now}").click()
    expect(page.locator("h1.flow-title")).to_have_text("You're now on Pro")
    [upgrade] = [i for i in backend.invoices.list(subscription_id=subscription_id, limit=100)
                 if any(line.proration for line in i.lines)]
    assert f"Invoice {upgrade.number} for {due_now} is waiting for payment." in text(page.locator(".flow-receipt"))
    shots(page, "portal-upgrade-waiting-for-phone")
    paid = wait_until(lambda: (i := backend.invoices.retrieve(upgrade.id)).status == "paid" and i,
                      HANDSET_WAIT_MS / 1000, "the worker to settle the mobile-money charge")
    assert paid.amount_paid == paid.total > 0
    assert backend.subscriptions.retrieve(subscription_id).plan.id == plans["Pro"]

    # Cancel through the pause offer and the survey, then undo.
    page.locator("nav.portal-nav").get_by_role("link", name="Overview").click()
    page.wait_for_url("**/portal/")
    card.get_by_role("link", name="Cancel subscription").click()
    expect(page.locator("h1.flow-title")).to_have_text("Pause instead of cancelling?")
    page.get_by_role("link", name="No thanks, continue cancelling").click()
    expect(page.locator("h1.flow-title")).to_have_text("Why are you cancelling?")
    page.get_by_label("It's too expensive").check()
    page.get_by_label("Anything else you'd like to tell us?").fill("Pro is more than we need right now.")
    shots(page, "portal-cancel-survey")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1.flow-title")).to_have_text("Cancel your subscription?")
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator("h1.flow-title")).to_have_text(re.compile("^Your subscription ends on "))
    assert backend.subscriptions.retrieve(subscription_id).cancel_at_period_end is True
    page.get_by_role("button", name="Undo: keep my subscription").click()
    expect(page.locator("h1.flow-title")).to_have_text("Your subscription continues")
    assert backend.subscriptions.retrieve(subscription_id).cancel_at_period_end is False

    # The upgrade's invoice as a PDF, from the billing history.
    page.locator("nav.portal-nav").get_by_role("link", name="Billing history").click()
    page.wait_for_url("**/portal/invoices")
    row = page.locator("#invoice-list li.invoice-row", has_text=upgrade.number)
    shots(page, "portal-history")
    with page.expect_download() as download_info:
        row.locator("a.invoice-pdf").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-{upgrade.number}.pdf"
    with open(download.path(), "rb") as file:
        pdf_bytes = file.read()
    assert pdf_bytes.startswith(b"%PDF-")
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_bytes)).pages)
    assert upgrade.number in pdf_text and "Ama Mensah" in pdf_text and "Pro" in pdf_text

    # Back to the shop.
    page.get_by_role("link", name="Back to Acme").click()
    page.wait_for_url(f"{shop}/account")

    # --- support previews the customer: read-only, nothing can change ----------------------------------------------
    counted = len(_event_ids(merchant.id))
    support = new_page(viewport=DESKTOP)
    sign_in(support, server, SUPPORT_EMAIL, f"/dashboard/customers/{customer_id}")
    support.get_by_role("button", name="Preview portal").click()
    support.wait_for_url(f"{server}/portal/")
    banner = text(support.locator(".preview-banner"))
    assert SUPPORT_EMAIL in banner and "read-only" in banner
    shots(support, "support-preview")
    support.locator(f'article.subscription[id="{subscription_id}"]').get_by_role(
        "link", name="Cancel subscription").click()
    expect(support.locator("h1.flow-title")).to_have_text("Pause instead of cancelling?")
    buttons = support.locator("#portal-main button")
    assert buttons.count() > 0 and buttons.evaluate_all("all => all.every(b => b.matches(':disabled'))")
    csrf = json.loads(support.locator(".portal").get_attribute("hx-headers"))["X-CSRFToken"]
    forged = support.request.post(f"{server}/portal/subscriptions/{subscription_id}/cancel",
                                  form={"csrf_token": csrf, "reason": "other"}, headers={"X-CSRFToken": csrf})
    assert forged.status == 403
    assert backend.subscriptions.retrieve(subscription_id).cancel_at_period_end is False
    assert len(_event_ids(merchant.id)) == counted

    # --- every event the actions wrote reached the shop, verified, once --------------------------------------------
    expected = {(id, type) for id, type in _events(merchant.id) if id not in before}
    assert {type for _, type in expected} >= {
        "customer.payment_method_updated", "subscription.updated", "invoice.created", "invoice.paid",
        "subscription.cancellation_scheduled"}
    wait_until(lambda: len(received.newest_first()) >= len(expected), 20, "the worker to deliver every event")
    assert {(event.id, event.type) for event in received.newest_first()} == expected
    paid_event = next(e for e in received.newest_first() if e.type == "invoice.paid")
    assert paid_event.data.object.id == upgrade.id and paid_event.request.source == "billing"  # settled by the worker
    wait_until(lambda: all(status == "succeeded" for _, status in _deliveries(endpoint_id)), 10,
               "every delivery to be recorded")
    assert sorted(event_id for event_id, _ in _deliveries(endpoint_id)) == sorted(id for id, _ in expected)

    # The merchant reads the shop's page and then the dashboard, in one browser: both stay signed in.
    owner.goto(f"{shop}/account")
    for event_id, _ in expected:
        expect(owner.locator("tbody")).to_contain_text(event_id)
    shots(owner, "shop-account-events")
    owner.goto(f"{server}/dashboard/developers/webhooks/{endpoint_id}")
    assert owner.locator("h1").inner_text() != "Sign in to your dashboard", "the shop's cookie signed the merchant out"
    expect(owner.locator("#deliveries-heading")).to_contain_text(f"latest {len(expected)}")
    shots(owner, "dashboard-deliveries")


def _events(merchant_id: str) -> list[tuple[str, str]]:
    """(id, type) of every event of the merchant, read in a transaction ended at once (SQLite: no lock held)."""
    try:
        return [tuple(row) for row in db.session.execute(
            db.select(Event.id, Event.type).where(Event.merchant_id == merchant_id)).all()]
    finally:
        db.session.rollback()


def _event_ids(merchant_id: str) -> set[str]:
    return {id for id, _ in _events(merchant_id)}


def _deliveries(endpoint_id: str) -> list[tuple[str, str]]:
    try:
        return [tuple(row) for row in db.session.execute(
            db.select(WebhookDelivery.event_id, WebhookDelivery.status)
            .where(WebhookDelivery.endpoint_id == endpoint_id)).all()]
    finally:
        db.session.rollback()
