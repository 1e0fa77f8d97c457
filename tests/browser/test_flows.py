"""The subscription flows in a real browser: change plan, pause and resume, cancel (pause offer, survey, undo),
cancel now and subscribe again, each configuration switch on and off, and the same flows without JavaScript.

The merchant's plans, the customer, its card and subscription are made through the API; the portal is opened from a
fresh API link; what the customer did is then checked on screen and through the API (the subscription, its invoice,
and the events it emitted with `request.source` "portal").
"""
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from babel.dates import format_date

from tests.browser.conftest import axe_check
from xtoportal import clock
from xtoportal.billing.money import format_money

pytestmark = pytest.mark.browser

RETURN_URL = "https://example.com/account"
PRICES = {"Basic": 3000, "Pro": 9000, "Premium": 15000}  # GHS minor units, monthly


# --- the merchant, its customer and what the API says -----------------------------------------------------------


def _ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


@dataclass
class Shop:
    """A merchant (its API client) with plans Basic/Pro/Premium, and a customer with a card subscribed to one."""

    api: object
    customer_id: str
    plans: dict  # name -> plan id
    subscription_id: str

    def portal_url(self) -> str:
        body = {"customer_id": self.customer_id, "return_url": RETURN_URL}
        return _ok(self.api.post("/v1/customer_portal/sessions", json=body))["url"]

    def configure(self, **features) -> None:
        _ok(self.api.post("/v1/customer_portal/configuration", json={"features": features}))

    def subscription(self, id: str | None = None) -> dict:
        return _ok(self.api.get(f"/v1/subscriptions/{id or self.subscription_id}"))

    def portal_events(self, type: str) -> list[dict]:
        """The events of `type` the portal caused, oldest first."""
        events = _ok(self.api.get(f"/v1/events?type={type}&limit=100"))["data"]
        return [event for event in reversed(events) if event["request"]["source"] == "portal"]

    def invoices(self, subscription_id: str) -> list[dict]:
        return _ok(self.api.get(f"/v1/invoices?subscription_id={subscription_id}&limit=100"))["data"]


@pytest.fixture
def make_shop(server, api):
    """make_shop(plan_name) -> a Shop whose customer has a Visa card and a monthly subscription to `plan_name`."""
    def make(plan_name: str = "Basic") -> Shop:
        plans = {name: _ok(api.post("/v1/plans", json={"name": name, "amount": amount, "currency": "ghs",
                                                       "interval": "month"}))["id"]
                 for name, amount in PRICES.items()}
        customer = _ok(api.post("/v1/customers", json={"name": "Ama Mensah", "email": "ama@example.com"}))
        _ok(api.post(f"/v1/customers/{customer['id']}/payment_methods", json={
            "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }))
        subscription = _ok(api.post("/v1/subscriptions", json={"customer_id": customer["id"],
                                                               "plan_id": plans[plan_name]}))
        assert subscription["status"] == "active"
        return Shop(api, customer["id"], plans, subscription["id"])
    return make


# --- what the customer sees -------------------------------------------------------------------------------------


def money(amount: int) -> str:
    return format_money(amount, "ghs", "en")


def day(timestamp: int) -> str:
    """A date as the portal writes it in English, e.g. "Mar 5, 2027"."""
    return format_date(datetime.fromtimestamp(timestamp, UTC), "medium", locale="en")


def expect_heading(page, text: str) -> None:
    """Wait for the flow's (or page's) heading to say `text`: htmx swaps the flow in place."""
    from playwright.sync_api import expect
    expect(page.locator("h1.flow-title")).to_have_text(text)


def enter(page, shop: Shop) -> None:
    page.goto(shop.portal_url())
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/portal/")


def card_of(page, subscription_id: str):
    return page.locator(f'article.subscription[id="{subscription_id}"]')


def actions_of(page, subscription_id: str) -> list[str]:
    """The labels of a subscription card's buttons on the overview."""
    links = card_of(page, subscription_id).locator(".subscription-actions a")
    return [label.strip() for label in links.all_inner_texts()]


def text(locator) -> str:
    return re.sub(r"\s+", " ", locator.inner_text()).strip()


def back_to_overview(page) -> None:
    page.get_by_role("link", name="Back to your subscriptions").first.click()
    page.wait_for_url("**/portal/")


# --- change plan ------------------------------------------------------------------------------------------------


def test_upgrade_reviews_the_amount_due_now_bills_it_with_prorations_and_shows_the_new_plan(page, make_shop):
    shop = make_shop("Basic")
    enter(page, shop)
    assert actions_of(page, shop.subscription_id) == ["Change plan", "Pause", "Cancel subscription"]

    card_of(page, shop.subscription_id).get_by_role("link", name="Change plan").click()
    expect_heading(page, "Change plan")
    axe_check(page, "plan picker")
    page.locator("label.plan-option", has_text="Pro").click()
    page.get_by_role("button", name="Review the change").click()

    expect_heading(page, "Switch to Pro")
    due_now = text(page.locator(".flow-total dd"))
    assert due_now != money(0) and "Credit for unused time on Basic" in text(page.locator(".flow-summary"))
    axe_check(page, "plan change review")
    page.get_by_role("button", name=f"Confirm and pay {due_now}").click()

    expect_heading(page, "You're now on Pro")
    [invoice] = [i for i in shop.invoices(shop.subscription_id) if any(line["proration"] for line in i["lines"])]
    assert invoice["status"] == "paid" and money(invoice["total"]) == due_now
    assert sorted(line["amount"] < 0 for line in invoice["lines"]) == [False, True]  # credit for Basic, charge for Pro
    assert f"Invoice {invoice['number']} for {due_now} is paid." in text(page.locator(".flow-receipt"))
    back_to_overview(page)
    assert text(card_of(page, shop.subscription_id).locator(".subscription-plan")) == "Pro"
    assert money(PRICES["Pro"]) in text(card_of(page, shop.subscription_id).locator(".price"))

    [updated] = shop.portal_events("subscription.updated")
    assert updated["data"]["object"]["plan"]["id"] == shop.plans["Pro"]
    assert updated["data"]["previous_attributes"]["plan"]["id"] == shop.plans["Basic"]
    for type in ("invoice.created", "invoice.paid"):
        assert [e["data"]["object"]["id"] for e in shop.portal_events(type)] == [invoice["id"]]


def test_downgrade_is_scheduled_for_period_end_with_its_date_and_can_be_withdrawn(page, make_shop):
    shop = make_shop("Premium")
    shop.configure(subscription_update={"downgrades": "at_period_end"})
    period_end = day(shop.subscription()["current_period_end"])
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Change plan").click()
    page.locator("label.plan-option", has_text="Basic").click()
    page.get_by_role("button", name="Review the change").click()
    expect_heading(page, "Switch to Basic")
    assert f"Your new plan starts {period_end}" in text(page.locator(".flow-summary"))
    assert text(page.locator(".flow-total dd")) == money(0)
    page.get_by_role("button", name=f"Switch on {period_end}").click()

    expect_heading(page, f"Your plan changes on {period_end}")
    assert shop.subscription()["plan"]["id"] == shop.plans["Premium"]
    assert shop.subscription()["pending_update"]["plan_id"] == shop.plans["Basic"]
    back_to_overview(page)
    card = card_of(page, shop.subscription_id)
    assert text(card.locator(".subscription-plan")) == "Premium"
    assert f"Switches to Basic ({money(PRICES['Basic'])} / month) on {period_end}." in text(card)

    card.get_by_role("link", name="Change plan").click()
    assert "Your plan changes to Basic" in text(page.locator(".flow-notice"))
    page.get_by_role("button", name="Keep Premium instead").click()
    expect_heading(page, "You're staying on Premium")
    assert shop.subscription()["pending_update"] is None

    scheduled, withdrawn = shop.portal_events("subscription.updated")
    assert scheduled["data"]["object"]["pending_update"]["plan_id"] == shop.plans["Basic"]
    assert withdrawn["data"]["object"]["pending_update"] is None
    assert shop.portal_events("invoice.created") == []


# --- pause and resume -------------------------------------------------------------------------------------------


def test_pause_for_one_month_spells_out_the_dates_then_resume_bills_a_new_period(page, make_shop):
    shop = make_shop("Pro")
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Pause", exact=True).click()
    expect_heading(page, "Pause your subscription")
    one_month = page.locator("label.flow-radio", has_text="1 month")
    offered = re.search(r"resumes on (\w{3} \d{1,2}, \d{4})", text(one_month), re.IGNORECASE)
    assert offered, text(one_month)
    axe_check(page, "pause choice")
    one_month.click()
    page.get_by_role("button", name="Pause subscription").click()

    expect_heading(page, "Your subscription is paused")
    axe_check(page, "paused")
    subscription = shop.subscription()
    assert subscription["status"] == "paused"
    assert day(subscription["pause_collection"]["resumes_at"]) == offered.group(1)
    summary = text(page.locator(".flow-summary").first)
    assert f"Paused since {day(clock.now())}" in summary and f"Resumes {offered.group(1)}" in summary
    [paused] = shop.portal_events("subscription.paused")
    assert paused["data"]["object"]["id"] == shop.subscription_id

    back_to_overview(page)
    card = card_of(page, shop.subscription_id)
    assert text(card.locator(".badge")) == "Paused" and f"Resumes on {offered.group(1)}" in text(card)
    card.get_by_role("link", name="Resume subscription").click()
    expect_heading(page, "This subscription is paused")
    page.locator("form.flow-actions button[type=submit]").click()  # "Resume now" or "Resume and pay …"

    expect_heading(page, "Your subscription is active again")
    assert shop.subscription()["status"] == "active"
    [resumed] = shop.portal_events("subscription.resumed")
    assert resumed["data"]["object"]["status"] == "active"


# --- cancel -----------------------------------------------------------------------------------------------------


def test_cancel_declines_the_pause_offer_answers_the_survey_and_is_undone(page, make_shop):
    shop = make_shop("Pro")
    period_end = day(shop.subscription()["current_period_end"])
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    expect_heading(page, "Pause instead of cancelling?")
    assert page.locator(".flow-steps li").all_inner_texts()[0].endswith("Pause instead?")
    assert page.locator("button.flow-choice").count() == 3
    axe_check(page, "pause offer")
    page.get_by_role("link", name="No thanks, continue cancelling").click()

    expect_heading(page, "Why are you cancelling?")
    axe_check(page, "cancel survey")
    page.get_by_label("It's too expensive").check()
    page.get_by_label("Anything else you'd like to tell us?").fill("Prices went up twice this year.")
    page.get_by_role("button", name="Continue").click()

    expect_heading(page, "Cancel your subscription?")
    assert f"Your subscription to Pro will end on {period_end}." in text(page.locator(".flow-lead"))
    axe_check(page, "cancel confirmation")
    page.get_by_role("button", name="Cancel subscription").click()

    expect_heading(page, f"Your subscription ends on {period_end}")
    axe_check(page, "cancellation scheduled")
    assert shop.subscription()["cancel_at_period_end"] is True
    [scheduled] = shop.portal_events("subscription.cancellation_scheduled")
    assert scheduled["data"]["object"]["cancellation_details"] == {
        "reason": "too_expensive", "comment": "Prices went up twice this year."}
    assert shop.portal_events("subscription.paused") == []

    page.get_by_role("button", name="Undo: keep my subscription").click()
    expect_heading(page, "Your subscription continues")
    assert shop.subscription()["cancel_at_period_end"] is False
    [kept] = shop.portal_events("subscription.updated")
    assert kept["data"]["object"]["cancel_at_period_end"] is False
    back_to_overview(page)
    assert f"Renews on {period_end}" in text(card_of(page, shop.subscription_id))


def test_cancel_immediately_ends_it_and_subscribe_again_starts_a_new_one(page, make_shop):
    shop = make_shop("Pro")
    shop.configure(subscription_cancel={"mode": "immediately"})
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    page.get_by_role("link", name="No thanks, continue cancelling").click()
    expect_heading(page, "Why are you cancelling?")
    page.get_by_role("button", name="Skip this question").click()
    expect_heading(page, "Cancel your subscription?")
    assert "Your subscription to Pro will end immediately." in text(page.locator(".flow-lead"))
    page.get_by_role("button", name="Cancel subscription").click()

    expect_heading(page, "Your subscription has ended")
    assert shop.subscription()["status"] == "canceled"
    [canceled] = shop.portal_events("subscription.canceled")
    assert canceled["data"]["object"]["id"] == shop.subscription_id
    page.get_by_role("link", name="Subscribe again").click()

    expect_heading(page, "Subscribe again")
    assert "Your previous plan" in text(page.locator("label.plan-option", has_text="Pro"))
    page.locator("label.plan-option", has_text="Premium").click()
    page.get_by_role("button", name="Review").click()
    expect_heading(page, "Start Premium")
    axe_check(page, "resubscribe review")
    assert text(page.locator(".flow-total dd")) == money(PRICES["Premium"])
    page.get_by_role("button", name=f"Subscribe and pay {money(PRICES['Premium'])}").click()

    expect_heading(page, "Welcome back: you're on Premium")
    [created] = shop.portal_events("subscription.created")
    started = created["data"]["object"]
    assert started["plan"]["id"] == shop.plans["Premium"] and started["status"] == "active"
    assert [i["status"] for i in shop.invoices(started["id"])] == ["paid"]
    back_to_overview(page)
    assert text(card_of(page, started["id"]).locator(".badge")) == "Active"
    assert text(card_of(page, shop.subscription_id).locator(".badge")) == "Canceled"


# --- configuration switches ---------------------------------------------------------------------------------------


def test_plan_change_switched_off_hides_the_button_and_refuses_the_flow(page, make_shop):
    shop = make_shop("Basic")
    shop.configure(subscription_update={"enabled": False})
    enter(page, shop)

    assert actions_of(page, shop.subscription_id) == ["Pause", "Cancel subscription"]
    response = page.goto(page.url.replace("/portal/", f"/portal/subscriptions/{shop.subscription_id}/plan"))
    assert response.status == 403
    assert "This isn't available for this account." in page.content()
    assert shop.portal_events("subscription.updated") == []


def test_cancel_switched_off_hides_the_button_and_refuses_the_flow(page, make_shop):
    shop = make_shop("Basic")
    shop.configure(subscription_cancel={"enabled": False})
    enter(page, shop)

    assert actions_of(page, shop.subscription_id) == ["Change plan", "Pause"]
    response = page.goto(page.url.replace("/portal/", f"/portal/subscriptions/{shop.subscription_id}/cancel"))
    assert response.status == 403


def test_survey_switched_off_goes_from_the_pause_offer_to_the_confirmation(page, make_shop):
    shop = make_shop("Pro")
    shop.configure(subscription_cancel={"survey": {"enabled": False}})
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    expect_heading(page, "Pause instead of cancelling?")
    assert [t.split(":")[-1].strip() for t in page.locator(".flow-steps li").all_inner_texts()] == [
        "Pause instead?", "Confirm"]
    page.get_by_role("link", name="No thanks, continue cancelling").click()
    expect_heading(page, "Cancel your subscription?")
    page.get_by_role("button", name="Cancel subscription").click()

    expect_heading(page, re.compile("^Your subscription ends on "))
    [scheduled] = shop.portal_events("subscription.cancellation_scheduled")
    assert scheduled["data"]["object"]["cancellation_details"] == {"reason": None, "comment": None}


def test_pause_offer_switched_off_starts_cancelling_at_the_survey(page, make_shop):
    shop = make_shop("Pro")
    shop.configure(subscription_cancel={"pause_before_cancel": {"enabled": False}})
    enter(page, shop)

    assert "Pause" in actions_of(page, shop.subscription_id)  # pausing itself stays available
    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    expect_heading(page, "Why are you cancelling?")
    assert page.locator("button.flow-choice").count() == 0


def test_pause_switched_off_hides_the_pause_button_and_the_pause_offer(page, make_shop):
    shop = make_shop("Pro")
    shop.configure(subscription_pause={"enabled": False})
    enter(page, shop)

    assert actions_of(page, shop.subscription_id) == ["Change plan", "Cancel subscription"]
    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    expect_heading(page, "Why are you cancelling?")
    assert page.locator("button.flow-choice").count() == 0
    response = page.goto(page.url.split("/portal/")[0] + f"/portal/subscriptions/{shop.subscription_id}/pause")
    assert response.status == 403
    assert shop.portal_events("subscription.paused") == []


# --- without JavaScript -------------------------------------------------------------------------------------------


def test_without_javascript_upgrade_and_cancel_work_as_plain_forms(new_page, make_shop):
    page = new_page(java_script_enabled=False)
    shop = make_shop("Basic")
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Change plan").click()
    page.locator("label.plan-option", has_text="Premium").click()
    page.get_by_role("button", name="Review the change").click()
    assert "review=1" in page.url and "plan_id=" in page.url  # a plain GET form, not htmx
    due_now = text(page.locator(".flow-total dd"))
    page.get_by_role("button", name=f"Confirm and pay {due_now}").click()
    assert "done=changed" in page.url  # Post/Redirect/Get
    expect_heading(page, "You're now on Premium")
    [updated] = shop.portal_events("subscription.updated")
    assert updated["data"]["object"]["plan"]["id"] == shop.plans["Premium"]

    back_to_overview(page)
    card_of(page, shop.subscription_id).get_by_role("link", name="Cancel subscription").click()
    page.get_by_role("link", name="No thanks, continue cancelling").click()
    assert "step=survey" in page.url
    page.get_by_label("I don't use it enough").check()
    page.get_by_role("button", name="Continue").click()
    expect_heading(page, "Cancel your subscription?")
    page.get_by_role("button", name="Cancel subscription").click()
    assert "done=canceled" in page.url
    expect_heading(page, re.compile("^Your subscription ends on "))
    [scheduled] = shop.portal_events("subscription.cancellation_scheduled")
    assert scheduled["data"]["object"]["cancellation_details"]["reason"] == "unused"

    page.get_by_role("button", name="Undo: keep my subscription").click()
    assert "done=kept" in page.url
    expect_heading(page, "Your subscription continues")
    assert shop.subscription()["cancel_at_period_end"] is False


def test_without_javascript_pause_and_resume_work_as_plain_forms(new_page, make_shop):
    page = new_page(java_script_enabled=False)
    shop = make_shop("Pro")
    enter(page, shop)

    card_of(page, shop.subscription_id).get_by_role("link", name="Pause", exact=True).click()
    page.locator("label.flow-radio", has_text="1 month").click()
    page.get_by_role("button", name="Pause subscription").click()
    assert "done=paused" in page.url
    expect_heading(page, "Your subscription is paused")
    resumes_at = shop.subscription()["pause_collection"]["resumes_at"]
    assert f"Resumes {day(resumes_at)}" in text(page.locator(".flow-summary").first)
    [paused] = shop.portal_events("subscription.paused")
    assert paused["data"]["object"]["status"] == "paused"

    page.locator("form.flow-actions button[type=submit]").click()
    assert "done=resumed" in page.url
    expect_heading(page, "Your subscription is active again")
    [resumed] = shop.portal_events("subscription.resumed")
    assert resumed["data"]["object"]["status"] == "active"
