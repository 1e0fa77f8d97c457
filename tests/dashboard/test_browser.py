"""The dashboard in a real Chromium against a real server on 127.0.0.1, at desktop width: signing in, the live
preview following what is typed, saving, and a support preview of a customer's portal.

Set DASHBOARD_SCREENSHOTS=<folder> to keep a screenshot of each screen."""
import os
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.factories import make_card, make_customer, make_plan
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import PortalConfiguration

from .browser import Chromium, chromium_available
from .conftest import PASSWORD
from .test_preview import needs_portal_hook

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available() and not IN_CI, reason="needs chromium and chromium-driver"),
]
SCREENSHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")


@pytest.fixture
def server(app, live_server):
    return live_server(app)


@pytest.fixture
def chromium():
    browser = Chromium(width=1280, height=1400)
    yield browser
    browser.close()


def screenshot(browser, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.screenshot(str(Path(SCREENSHOTS) / f"dashboard-{name}.png"))


def sign_in(browser, server, email):
    browser.open(f"{server}/dashboard/settings/portal")
    browser.wait_for(lambda: "/dashboard/sign-in" in browser.url, message="the sign-in page")
    screenshot(browser, "sign-in")
    browser.type("input[name=email]", email)
    browser.type("input[name=password]", PASSWORD)
    browser.click("button[type=submit]")
    browser.wait_for(lambda: browser.url.endswith("/dashboard/settings/portal"), message="back to settings")
    # The address changes before the new document is parsed: wait for the form itself.
    browser.wait_for(lambda: browser.count("#f-branding-accent_color") == 1, message="the settings form")


def srcdoc(browser) -> str:
    return browser.attribute("iframe.preview-frame", "srcdoc") or ""


def test_settings_follow_what_is_typed_in_the_live_preview_and_save(server, chromium, owner, acme):
    make_plan(acme, name="Starter", amount=5000)
    make_plan(acme, name="Pro", amount=15000)
    sign_in(chromium, server, owner.email)
    assert "--brand: #1a56db;" in srcdoc(chromium)
    assert chromium.attribute("#contrast-primary", "hidden") is True

    chromium.type("#f-branding-primary_color", "#ffd400")
    chromium.type("#f-branding-business_name", "Acme Cloud")
    chromium.wait_for(lambda: "--brand: #ffd400;" in srcdoc(chromium) and "Acme Cloud" in srcdoc(chromium),
                      message="the preview to show the typed colour and name")
    chromium.wait_for(lambda: chromium.attribute("#contrast-primary", "hidden") is False,
                      message="the contrast warning")
    assert "Low contrast" in chromium.text("#contrast-primary")
    chromium.click("input[name='features.subscription_pause.enabled']")
    chromium.wait_for(lambda: "Pause\nOff" in chromium.text(".flows"), message="the flows to follow")
    screenshot(chromium, "settings-live-preview")
    db.session.expire_all()
    assert db.session.get(PortalConfiguration, acme.id).settings == {}  # nothing saved while previewing

    chromium.click(".save-bar button.button-primary")
    chromium.wait_for(lambda: "Customer Portal settings saved." in chromium.page_source, message="the saved flash")
    db.session.expire_all()
    document = db.session.get(PortalConfiguration, acme.id).document
    assert document["branding"]["primary_color"] == "#ffd400" and document["branding"]["business_name"] == "Acme Cloud"
    assert document["features"]["subscription_pause"]["enabled"] is False


def test_a_wrong_colour_is_shown_beside_its_field_after_saving(server, chromium, owner, acme):
    sign_in(chromium, server, owner.email)
    chromium.type("#f-branding-accent_color", "red;}body{display:none}")
    chromium.click(".save-bar button.button-primary")
    chromium.wait_for(lambda: chromium.count("#error-branding-accent_color") == 1, message="the field's error")
    assert chromium.text("#error-branding-accent_color") == "Use a colour written #rrggbb, e.g. #1a56db."
    assert chromium.run("return getComputedStyle(document.body).display") != "none"


def pages_for_screenshots(server, chromium, acme):
    customer = make_customer(acme, name="Ama Mensah", email="ama@example.com", phone="+233244123456")
    make_card(customer)
    billing.create_subscription(customer, make_plan(acme, name="Pro", amount=15000), Origin("api"), clock.now())
    db.session.commit()
    return customer


def test_customers_customer_and_developers_pages(server, chromium, owner, acme):
    customer = pages_for_screenshots(server, chromium, acme)
    sign_in(chromium, server, owner.email)
    chromium.open(f"{server}/dashboard/customers")
    chromium.type("#q", "mensah")
    chromium.wait_for(lambda: "q=mensah" in chromium.url, message="the search to run")
    assert "Ama Mensah" in chromium.text("#customer-rows")
    screenshot(chromium, "customers")
    chromium.click("#customer-rows a.row-link")
    chromium.wait_for(lambda: customer.id in chromium.url, message="the customer page")
    assert "Visa •••• 4242" in chromium.page_source and "subscription.created" in chromium.page_source
    screenshot(chromium, "customer")
    chromium.open(f"{server}/dashboard/developers")
    chromium.click("form[action$='/api-keys'] button")
    chromium.wait_for(lambda: chromium.count("input.secret") == 1, message="the new key")
    assert chromium.attribute("input.secret", "value").startswith("sk_test_")
    screenshot(chromium, "developers")


@needs_portal_hook
def test_support_previews_a_customers_portal_read_only(server, chromium, make_staff, acme):
    customer = pages_for_screenshots(server, chromium, acme)
    support = make_staff("support")
    sign_in(chromium, server, support.email)
    chromium.open(f"{server}/dashboard/customers/{customer.id}")
    chromium.click("form[action$='/preview'] button")
    chromium.wait_for(lambda: chromium.url.endswith("/portal/"), message="the portal")
    banner = chromium.text(".preview-banner")
    assert support.email in banner and "read-only" in banner
    assert "Ama Mensah" in chromium.page_source
    screenshot(chromium, "support-preview")
    chromium.open(f"{server}/portal/details")
    # Buttons in a disabled fieldset keep `.disabled === false`: `:disabled` is what the browser honours.
    controls = chromium.run("return [...document.querySelectorAll('.portal-main button, .portal-main input')]"
                            ".map(c => c.matches(':disabled'))")
    assert controls and all(controls)
    chromium.open(f"{server}/portal/")
    chromium.click(".preview-banner button")
    chromium.wait_for(lambda: chromium.url.endswith(f"/dashboard/customers/{customer.id}"), message="back")
