"""Every portal and dashboard screen, and each step of every flow, in real Chromium with the pages' real
Content-Security-Policy: not one violation.

A violation is whatever the browser reports: the `securitypolicyviolation` event (listened to from an init script,
reported through a Playwright binding, both of which the page's CSP cannot block) and the console's "Refused to …"
messages, which also cover frames where no script runs (the dashboard's sandboxed live preview). The first test
shows the recorder catches a real violation, so the sweeps' "none" means something.
"""
import re
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from xtoportal.extensions import db
from xtoportal.models import StaffUser

pytestmark = pytest.mark.browser

LISTEN = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation({directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
                         line: e.lineNumber, column: e.columnNumber, sample: e.sample, url: document.location.href});
}, true);
"""
PASSWORD = "correct horse battery"  # the `merchant` fixture's owner (tests/conftest.py make_merchant)
WAIT_MS = 15_000  # a simulated handset answers after ~3 s; the pages poll every 2 s


@dataclass
class CspRecorder:
    """Collects the violations of every page of a browser context, each labelled with the screen being looked at."""

    screen: str = "(start)"
    screens: list = field(default_factory=list)
    violations: list = field(default_factory=list)

    def watch(self, page) -> None:
        page.context.expose_binding("__cspViolation", lambda _source, report: self._add("event", report))
        page.context.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.text.startswith("Refused to") or "Content Security Policy" in message.text:
            self._add("console", {"message": message.text, "url": message.location.get("url")})

    def _add(self, kind: str, report: dict) -> None:
        self.violations.append((self.screen, kind, report))

    def at(self, screen: str) -> None:
        """What follows happens on `screen` (a page, or a step of a flow)."""
        self.screen = screen
        self.screens.append(screen)

    def report(self) -> str:
        return "\n".join(f"{screen} [{kind}]: {report}" for screen, kind, report in self.violations)


@pytest.fixture
def csp(new_page):
    """csp(viewport) -> (page, recorder): a page in a fresh context whose CSP violations are recorded."""
    def open_page(viewport=PHONE):
        page = new_page(viewport=viewport)
        recorder = CspRecorder()
        recorder.watch(page)
        return page, recorder
    return open_page


def settle(page) -> None:
    """Let the last swap finish and any report of it arrive before moving on."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise(requestAnimationFrame)")


def assert_clean(page, recorder) -> None:
    settle(page)
    page.wait_for_timeout(200)  # reports are delivered asynchronously
    assert not recorder.violations, (
        f"{len(recorder.violations)} CSP violation(s) on {len(recorder.screens)} screens:\n{recorder.report()}")


def heading(page, text) -> None:
    expect(page.locator("h1.flow-title")).to_have_text(text)


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


# --- the recorder itself -------------------------------------------------------------------------------------------


def test_the_recorder_reports_an_injected_inline_style_and_script_with_their_directives(csp, portal_customer):
    page, recorder = csp()
    page.goto(portal_customer.portal_url())
    page.evaluate("""() => {
        const style = document.createElement("style"); style.textContent = "body { color: red }";
        document.head.append(style);
        const script = document.createElement("script"); script.textContent = "window.injected = 1";
        document.head.append(script);
    }""")
    settle(page)
    page.wait_for_timeout(200)
    directives = {report.get("directive") for _, kind, report in recorder.violations if kind == "event"}
    assert {"style-src-elem", "script-src-elem"} <= directives, recorder.report()
    assert any(kind == "console" for _, kind, _ in recorder.violations), recorder.report()
    assert page.evaluate("() => window.injected") is None  # and the policy really blocked the script


# --- the portal ----------------------------------------------------------------------------------------------------


def test_every_portal_screen_and_flow_step_has_no_csp_violation(csp, portal_customer, api):
    """The customer of `portal_customer` (Pro, a card, 13 paid invoices) plus: an ended subscription (resubscribe),
    an open invoice its declining card could not pay (pay), and plans to switch to."""
    customer_id, pro_id = portal_customer.customer["id"], portal_customer.subscription["id"]
    basic = ok(api.post("/v1/plans", json={"name": "Basic", "amount": 5000, "currency": "ghs", "interval": "month"}))
    premium = ok(api.post("/v1/plans", json={"name": "Premium", "amount": 30000, "currency": "ghs",
                                             "interval": "month"}))
    ended = ok(api.post("/v1/subscriptions", json={"customer_id": customer_id, "plan_id": basic["id"]}))
    ok(api.post(f"/v1/subscriptions/{ended['id']}/cancel", json={"at_period_end": False}))
    card = ok(api.post(f"/v1/customers/{customer_id}/payment_methods", json={
        "type": "card", "set_default": True,
        "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}))
    unpaid = ok(api.post("/v1/subscriptions", json={"customer_id": customer_id, "plan_id": premium["id"]}))
    [open_invoice] = ok(api.get(f"/v1/invoices?subscription_id={unpaid['id']}"))["data"]
    assert open_invoice["status"] == "open"

    page, recorder = csp(PHONE)
    portal = portal_customer.portal_url().split("/portal/")[0] + "/portal"
    nav = page.locator("nav.portal-nav")

    recorder.at("overview")
    page.goto(portal_customer.portal_url())
    page.wait_for_url(f"{portal}/")
    settle(page)

    recorder.at("billing history")
    nav.get_by_role("link", name="Billing history").click()
    page.wait_for_url(f"{portal}/invoices")
    recorder.at("billing history: show more")
    page.get_by_role("link", name="Show more invoices").click()
    page.locator("#invoice-list li.invoice-row").nth(10).wait_for()

    recorder.at("payment methods")
    nav.get_by_role("link", name="Payment methods").click()
    page.wait_for_url(f"{portal}/payment-methods")
    recorder.at("payment method")
    page.goto(f"{portal}/payment-methods/{card['id']}")
    recorder.at("remove a payment method: confirm")
    page.goto(f"{portal}/payment-methods/{card['id']}/remove")
    settle(page)

    recorder.at("add a card")
    page.goto(f"{portal}/payment-methods/add-card")
    recorder.at("add a card: error beside the field")
    form = page.locator("#add-card")
    form.get_by_label("Card number").fill("4242 4242 4242 4241")
    form.get_by_label("Expiry date").fill("12 / 34")
    form.get_by_label("Security code").fill("123")
    form.get_by_label("Name on card").fill("Ama Mensah")
    form.get_by_role("button", name="Save card").click()
    page.locator("#number-error").wait_for()

    recorder.at("add mobile money")
    page.goto(f"{portal}/payment-methods/add-mobile-money")
    form = page.locator("#add-mobile-money")
    form.get_by_label("Provider").select_option("mtn_momo")
    form.get_by_label("Mobile money number").fill("+233240000000")  # ends 0000: the handset approves
    form.get_by_label(re.compile("default", re.IGNORECASE)).uncheck()  # keep the declining card the default
    recorder.at("add mobile money: waiting for the phone")
    form.get_by_role("button", name="Send the prompt").click()
    page.get_by_role("heading", name="Approve the prompt on your phone").wait_for()
    recorder.at("add mobile money: approved")
    page.get_by_role("heading", name="Mobile money added").wait_for(timeout=WAIT_MS)

    recorder.at("pay an invoice")
    page.goto(f"{portal}/invoices/{open_invoice['id']}/pay")
    page.locator("label.choice", has_text="0000").click()
    recorder.at("pay an invoice: mobile money waiting step")
    page.locator("form.pay-form button[type=submit]").click()
    page.get_by_role("heading", name="Approve the prompt on your phone").wait_for()
    recorder.at("pay an invoice: paid")
    page.get_by_role("heading", name="Payment received").wait_for(timeout=WAIT_MS)

    recorder.at("billing details")
    page.goto(f"{portal}/details")
    recorder.at("billing details: error beside the field")
    page.locator("#details-form").get_by_label("City or town").fill("")
    page.locator("#details-form").get_by_role("button", name="Save details").click()
    page.locator("#address-city-error").wait_for()

    subscription = page.locator(f'article.subscription[id="{pro_id}"]')
    recorder.at("change plan")
    page.goto(f"{portal}/")
    subscription.get_by_role("link", name="Change plan").click()
    heading(page, "Change plan")
    recorder.at("change plan: review")
    page.locator("label.plan-option", has_text="Basic").click()
    page.get_by_role("button", name="Review the change").click()
    heading(page, "Switch to Basic")
    recorder.at("change plan: done")
    page.locator("form.flow-actions button[type=submit]").click()
    heading(page, "You're now on Basic")

    recorder.at("pause")
    page.goto(f"{portal}/")
    subscription.get_by_role("link", name="Pause", exact=True).click()
    heading(page, "Pause your subscription")
    recorder.at("pause: paused")
    page.locator("label.flow-radio", has_text="1 month").click()
    page.get_by_role("button", name="Pause subscription").click()
    heading(page, "Your subscription is paused")
    recorder.at("resume")
    page.locator("form.flow-actions button[type=submit]").click()
    heading(page, "Your subscription is active again")

    recorder.at("cancel: pause offer")
    page.goto(f"{portal}/")
    subscription.get_by_role("link", name="Cancel subscription").click()
    heading(page, "Pause instead of cancelling?")
    recorder.at("cancel: survey")
    page.get_by_role("link", name="No thanks, continue cancelling").click()
    heading(page, "Why are you cancelling?")
    page.get_by_label("It's too expensive").check()
    recorder.at("cancel: confirm")
    page.get_by_role("button", name="Continue").click()
    heading(page, "Cancel your subscription?")
    recorder.at("cancel: scheduled")
    page.get_by_role("button", name="Cancel subscription").click()
    heading(page, re.compile("^Your subscription ends on "))
    recorder.at("cancel: undone")
    page.get_by_role("button", name="Undo: keep my subscription").click()
    heading(page, "Your subscription continues")

    recorder.at("subscribe again")
    page.goto(f"{portal}/subscriptions/{ended['id']}/resubscribe")
    heading(page, "Subscribe again")
    recorder.at("subscribe again: review")
    page.locator("label.plan-option", has_text="Premium").click()
    page.get_by_role("button", name="Review").click()
    heading(page, "Start Premium")

    recorder.at("not found")
    assert page.goto(f"{portal}/subscriptions/sub_doesnotexist/plan").status == 404
    recorder.at("deep link: payment method update")
    page.goto(portal_customer.portal_url(flow={"type": "payment_method_update"}))
    settle(page)
    recorder.at("deep link: subscription cancel")
    page.goto(portal_customer.portal_url(flow={"type": "subscription_cancel", "subscription_id": pro_id}))
    heading(page, "Pause instead of cancelling?")
    recorder.at("overview in French")
    page.goto(portal_customer.portal_url(locale="fr"))
    settle(page)
    recorder.at("expired link")
    assert page.goto(f"{portal}/sess_notavalidtoken").status in (403, 404, 410)

    assert_clean(page, recorder)


# --- the dashboard -------------------------------------------------------------------------------------------------


def test_every_dashboard_screen_and_the_support_preview_have_no_csp_violation(csp, portal_customer, api, app):
    customer_id = portal_customer.customer["id"]
    owner = db.session.scalars(db.select(StaffUser).filter_by(role="owner")).one()
    server = portal_customer.portal_url().split("/portal/")[0]
    event_id = ok(api.get("/v1/events?limit=1"))["data"][0]["id"]

    page, recorder = csp(DESKTOP)
    recorder.at("sign in")
    page.goto(f"{server}/dashboard/customers")
    page.wait_for_url("**/dashboard/sign-in**")
    recorder.at("sign in: wrong password")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.locator("#sign-in-error").wait_for()
    recorder.at("customers")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/customers")
    recorder.at("customers: search")
    page.locator("#q").fill("mensah")
    page.wait_for_url("**q=mensah**")
    recorder.at("customer")
    page.locator("#customer-rows a.row-link").first.click()
    page.wait_for_url(f"**/dashboard/customers/{customer_id}")
    settle(page)

    recorder.at("settings")
    page.goto(f"{server}/dashboard/settings/portal")
    recorder.at("settings: live preview")
    page.locator("#f-branding-primary_color").fill("#ffd400")
    expect(page.locator("#contrast-primary")).to_be_visible()
    page.locator("input[name='features.subscription_pause.enabled']").uncheck()
    page.locator("#preview-locale").select_option("fr")
    page.wait_for_function("() => (document.querySelector('iframe.preview-frame').srcdoc || '').includes('#ffd400')")
    recorder.at("settings: error beside the field")
    page.locator("#f-branding-accent_color").fill("red;}body{display:none}")
    page.locator(".save-bar button.button-primary").click()
    page.locator("#error-branding-accent_color").wait_for()
    recorder.at("settings: saved")
    page.locator("#f-branding-accent_color").fill("#0e9f6e")
    page.locator("#f-branding-primary_color").fill("#0b6e4f")
    page.locator(".save-bar button.button-primary").click()
    expect(page.locator(".flash")).to_contain_text("settings saved")

    recorder.at("developers")
    page.goto(f"{server}/dashboard/developers")
    recorder.at("developers: new API key")
    page.locator("form[action$='/api-keys'] button").click()
    page.locator("input.secret").wait_for()
    recorder.at("developers: endpoint error")
    page.get_by_label("Endpoint URL").fill("http://10.0.0.1/hook")
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#endpoint-url-error").wait_for()
    recorder.at("webhook endpoint")
    page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url("**/dashboard/developers/webhooks/we_*")
    recorder.at("webhook endpoint: secret revealed")
    page.get_by_role("button", name="Reveal secret").click()
    page.locator("input.secret").wait_for()

    recorder.at("events")
    page.goto(f"{server}/dashboard/developers/events")
    recorder.at("event")
    page.goto(f"{server}/dashboard/developers/events/{event_id}")
    recorder.at("audit log")
    page.goto(f"{server}/dashboard/audit-log")
    recorder.at("not found")
    assert page.goto(f"{server}/dashboard/customers/cus_doesnotexist").status == 404

    recorder.at("preview: overview")
    page.goto(f"{server}/dashboard/customers/{customer_id}")
    page.get_by_role("button", name="Preview portal").click()
    page.wait_for_url(f"{server}/portal/")
    expect(page.locator(".preview-banner")).to_contain_text("read-only")
    recorder.at("preview: billing history")
    page.locator("nav.portal-nav").get_by_role("link", name="Billing history").click()
    page.wait_for_url("**/portal/invoices")
    recorder.at("preview: cancel flow")
    page.goto(f"{server}/portal/subscriptions/{portal_customer.subscription['id']}/cancel")
    recorder.at("preview: a change refused")
    with page.expect_navigation() as refused:  # a tampered page: the lock taken off, the form sent anyway
        page.evaluate("""() => {
            document.querySelector("fieldset.preview-lock").disabled = false;
            document.querySelector("#portal-main form[method=post]").submit();
        }""")
    assert refused.value.status == 403 and "read-only" in page.content()
    recorder.at("preview ended")
    page.goto(f"{server}/portal/")
    page.locator(".preview-banner button").click()
    page.wait_for_url(f"**/dashboard/customers/{customer_id}")

    assert_clean(page, recorder)
