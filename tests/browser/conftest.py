"""Browser fixtures: the app served for real on 127.0.0.1, Debian's Chromium driven by Playwright, a customer with a
billing history opened in the portal through the real API, and axe-core checks.

Without Chromium or the `playwright` package the browser tests skip, except in CI (CI=true), where they fail.
"""
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_SOURCE = functools.cache(AXE_JS.read_text)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
RETURN_URL = "https://example.com/account"


def _missing_browser() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def _need_browser() -> None:
    """Skip without a browser on a laptop; in CI a missing browser is a failure, not a skip."""
    missing = _missing_browser()
    if missing:
        if IN_CI:
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def playwright_driver():
    _need_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """One Chromium for the whole run."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def server(app, live_server):
    """The test app served by a threaded werkzeug server; portal links point at it."""
    base = live_server(app)
    app.config["PUBLIC_URL"] = base
    return base


@pytest.fixture
def new_page(browser):
    """new_page(viewport=PHONE, **context_options) -> a page in a fresh browser context (its own cookies)."""
    contexts = []

    def open_page(viewport=PHONE, **options):
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A phone-sized page (390×844) in a fresh browser context."""
    return new_page()


@dataclass
class PortalCustomer:
    """What the API made: the customer, its plan and subscription, and a way to get fresh portal links."""

    customer: dict
    plan: dict
    subscription: dict
    invoices: list
    api: object

    def portal_url(self, **fields) -> str:
        """A new portal session's one-time URL (return_url https://example.com/account)."""
        body = {"customer_id": self.customer["id"], "return_url": RETURN_URL, **fields}
        response = self.api.post("/v1/customer_portal/sessions", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["url"]


def _ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def portal_customer(server, api):
    """A customer with a Visa card on a monthly plan renewed for a year: 13 paid invoices, more than a page."""
    return make_portal_customer(api)


def make_portal_customer(api, months: int = 12, name: str = "Ama Mensah") -> PortalCustomer:
    """Customer + card + plan + subscription started `months` ago, renewed by the billing clock up to now."""
    from xtoportal import clock
    from xtoportal.billing.clock import run_due_billing
    today = clock.now()
    with clock.frozen(today - months * 31 * 86400 + 3 * 86400):
        customer = _ok(api.post("/v1/customers", json={
            "name": name, "email": "ama@example.com", "phone": "+233244123456",
            "address": {"line1": "12 Oxford Street", "city": "Accra", "country": "GH"},
        }))
        _ok(api.post(f"/v1/customers/{customer['id']}/payment_methods", json={
            "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }))
        plan = _ok(api.post("/v1/plans", json={"name": "Pro", "amount": 15000, "currency": "ghs", "interval": "month"}))
        subscription = _ok(api.post("/v1/subscriptions", json={"customer_id": customer["id"], "plan_id": plan["id"]}))
        # The billing clock renews it at each period's end, so every invoice is dated the day it was billed.
        while (period_end := _ok(api.get(f"/v1/subscriptions/{subscription['id']}"))["current_period_end"]) <= today:
            clock.advance(period_end - clock.now())
            run_due_billing(mobile_money_timeout=120)
    invoices = _ok(api.get(f"/v1/invoices?customer_id={customer['id']}&limit=100"))["data"]
    return PortalCustomer(customer, plan, subscription, invoices, api)


def axe_check(page, screen: str) -> None:
    """Run axe-core on the page as it is; fail on any violation of impact serious or critical."""
    # Evaluated, not added as a <script>: the portal's CSP (script-src 'self', rightly) refuses an injected tag,
    # and turning CSP off for the test browser would hide the very violations these tests should see.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE())
    result = page.evaluate("async () => await axe.run(document)")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {screen}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in bad
    )
