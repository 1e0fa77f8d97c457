"""Changing plan in the portal: only the visible plans, the exact amounts before confirming, the invoice that
matches them, downgrades now or at period end as the merchant configured, and the events with source portal.

The helpers at the top are shared by the other subscription-flow tests (test_cancel, test_pause, deep links).
"""
import datetime as dt
import re
import threading

import pytest

from tests.factories import make_card, make_customer, make_plan
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.billing.money import format_money
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import Event, Invoice, Subscription

from .conftest import link_path

NOW = int(dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC).timestamp())
DAY = 86_400
HTMX = {"HX-Request": "true"}
API = Origin("api")


# --- shared helpers --------------------------------------------------------------------------------------------


@pytest.fixture
def frozen():
    """The clock stands still at NOW (tests move it with clock.advance)."""
    with clock.frozen(NOW):
        yield


@pytest.fixture
def acme(merchant):
    return merchant[0]


@pytest.fixture
def portal(frozen, browser, create_session):
    """A browser inside the portal (a session opened at NOW); `portal.open(**session fields)` opens another."""
    class Portal:
        def __init__(self):
            self.browser = browser
            self.session = None

        def open(self, **fields):
            self.session = create_session(**fields)
            assert browser.get(link_path(self.session)).status_code == 303
            return self

    return Portal().open()


def subscribe(customer, plan, card=True, days_ago=0, **kwargs) -> Subscription:
    """A subscription started through the billing engine `days_ago` days before now (the portal session is
    opened now: it lasts 30 minutes, so a test moves the subscription back rather than the clock forward)."""
    if card and not customer.default_payment_method_id:
        make_card(customer)
    with clock.frozen(clock.now() - days_ago * DAY):
        subscription = billing.create_subscription(customer, plan, API, clock.now(), **kwargs)
        db.session.commit()
    return subscription


def csrf_token(page: str) -> str:
    """The CSRF token of a portal page: a form's hidden field, or the one the layout gives htmx requests."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def page_of(response) -> str:
    return response.get_data(as_text=True)


def post(browser, url: str, data: dict | None = None, htmx: bool = False):
    """POST a flow form the way a browser does: with the CSRF token of this browser's session."""
    token = csrf_token(page_of(browser.get("/portal/")))
    return browser.post(url, data={"csrf_token": token, **(data or {})}, headers=HTMX if htmx else {})


def events(type: str | None = None) -> list[Event]:
    query = db.select(Event).order_by(Event.sort_key)
    if type:
        query = query.filter_by(type=type)
    return list(db.session.scalars(query))


def invoices_of(subscription) -> list[Invoice]:
    return list(db.session.scalars(
        db.select(Invoice).filter_by(subscription_id=subscription.id).order_by(Invoice.sort_key)))


def money(amount: int, currency: str = "ghs") -> str:
    return format_money(amount, currency, "en")


def configure(api, **features):
    response = api.post("/v1/customer_portal/configuration", json={"features": features})
    assert response.status_code == 200, response.get_json()


def text_of(page: str) -> str:
    """The page's text with tags dropped and spaces collapsed, to match sentences across markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace(" .", ".")


# --- the plan picker -------------------------------------------------------------------------------------------


@pytest.fixture
def plans(acme):
    """Basic 30, Pro 90, Team 150 (GHS, monthly), a KES plan and an archived one."""
    made = {
        "basic": make_plan(acme, amount=3000, name="Basic"),
        "pro": make_plan(acme, amount=9000, name="Pro", description="Five sites, daily backups."),
        "team": make_plan(acme, amount=15000, name="Team"),
        "kes": make_plan(acme, amount=90000, currency="kes", name="Pro Kenya"),
        "old": make_plan(acme, amount=1000, name="Legacy"),
    }
    made["old"].active = False
    db.session.commit()
    return made


def test_picker_lists_active_plans_in_the_subscriptions_currency_with_the_current_one_marked(portal, customer, plans):
    subscription = subscribe(customer, plans["pro"])
    response = portal.browser.get(f"/portal/subscriptions/{subscription.id}/plan")
    assert response.status_code == 200
    page = text_of(page_of(response))
    assert "Basic GH₵30.00 / month" in page and "Team GH₵150.00 / month" in page
    assert "Pro Current plan GH₵90.00 / month" in page
    assert "Pro Kenya" not in page and "Legacy" not in page
    assert page.index("Basic") < page.index("Team")  # cheapest first when the merchant lists none
    assert re.search(rf'value="{plans["pro"].id}" disabled', page_of(response))


def test_picker_shows_only_the_plans_the_merchant_lists_in_its_order(portal, api, customer, plans):
    configure(api, subscription_update={"plans": [plans["team"].id, plans["kes"].id, plans["pro"].id]})
    subscription = subscribe(customer, plans["pro"])
    page = text_of(page_of(portal.browser.get(f"/portal/subscriptions/{subscription.id}/plan")))
    assert "Team" in page and "Basic" not in page and "Pro Kenya" not in page
    assert page.index("Team") < page.index("Pro Current plan")


def test_current_plan_is_shown_even_when_the_merchant_no_longer_lists_it(portal, api, customer, plans):
    configure(api, subscription_update={"plans": [plans["team"].id]})
    subscription = subscribe(customer, plans["basic"])
    page = text_of(page_of(portal.browser.get(f"/portal/subscriptions/{subscription.id}/plan")))
    assert "Basic Current plan" in page and "Team" in page


def test_a_plan_that_is_not_visible_cannot_be_reviewed_or_chosen(portal, api, customer, plans):
    configure(api, subscription_update={"plans": [plans["team"].id]})
    subscription = subscribe(customer, plans["pro"])
    url = f"/portal/subscriptions/{subscription.id}/plan"
    for plan in (plans["basic"], plans["kes"], plans["old"]):
        assert portal.browser.get(f"{url}?plan_id={plan.id}").status_code == 422
        response = post(portal.browser, url, {"plan_id": plan.id})
        assert response.status_code == 422
        assert "Choose one of the plans listed." in page_of(response)
    assert subscription.plan_id == plans["pro"].id and events("subscription.updated") == []


def test_reviewing_without_choosing_asks_for_a_plan(portal, customer, plans):
    subscription = subscribe(customer, plans["pro"])
    response = portal.browser.get(f"/portal/subscriptions/{subscription.id}/plan?review=1", headers=HTMX)
    assert response.status_code == 422
    assert "Choose one of the plans listed." in page_of(response)
    assert "<html" not in page_of(response)  # the partial alone, for htmx to swap


# --- upgrade: the amounts shown are the invoice billed ---------------------------------------------------------


def test_upgrade_review_shows_the_exact_proration_and_the_next_invoice(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"], days_ago=10)
    preview = billing.preview_plan_change(subscription, plans["pro"], "create_prorations", clock.now())
    response = portal.browser.get(f"/portal/subscriptions/{subscription.id}/plan?plan_id={plans['pro'].id}")
    assert response.status_code == 200
    page = text_of(page_of(response))
    credit, charge = (line.amount for line in preview.lines)
    assert f"Credit for unused time on Basic {money(credit)}" in page
    assert f"Pro until Mar 28, 2027 {money(charge)}" in page
    assert f"Due now {money(charge + credit)}" in page
    assert f"Next invoice, Mar 28, 2027 {money(9000)}" in page
    assert f"Confirm and pay {money(charge + credit)}" in page


@pytest.mark.parametrize("htmx", [False, True])
def test_confirming_an_upgrade_bills_the_amount_shown_at_once_with_portal_events(portal, customer, plans, htmx):
    subscription = subscribe(customer, plans["basic"], days_ago=10)
    url = f"/portal/subscriptions/{subscription.id}/plan"
    review = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}")))
    shown = re.search(r"Due now (GH₵[\d,.]+)", review).group(1)
    response = post(portal.browser, url, {"plan_id": plans["pro"].id}, htmx=htmx)
    invoice = invoices_of(subscription)[-1]
    if htmx:
        assert response.status_code == 200 and "<html" not in page_of(response)
        page = text_of(page_of(response))
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"{url}?done=changed&invoice={invoice.id}"
        page = text_of(page_of(portal.browser.get(response.headers["Location"])))
    assert "You're now on Pro" in page
    assert f"Invoice {invoice.number} for {shown} is paid." in page
    assert money(invoice.total) == shown and invoice.status == "paid" and invoice.amount_paid == invoice.total
    db.session.refresh(subscription)
    assert subscription.plan_id == plans["pro"].id
    [updated] = events("subscription.updated")
    assert updated.request_source == "portal"
    assert updated.data["previous_attributes"]["plan"]["id"] == plans["basic"].id
    assert [e.request_source for e in events() if e.object_id == invoice.id] == ["portal", "portal"]
    assert [e.type for e in events() if e.object_id == invoice.id] == ["invoice.created", "invoice.paid"]


def test_confirming_minutes_after_the_review_bills_the_amount_the_review_showed(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"], days_ago=10)
    url = f"/portal/subscriptions/{subscription.id}/plan"
    review = page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}"))
    shown = re.search(r"Due now (GH₵[\d,.]+)", text_of(review)).group(1)
    quoted = re.search(r'name="quote" value="([^"]+)"', review).group(1)
    clock.advance(20 * 60)  # the customer read the page for twenty minutes
    later = billing.preview_plan_change(subscription, plans["pro"], "create_prorations", clock.now())
    assert money(later.amount_due_now) != shown  # time moved the proration on
    post(portal.browser, url, {"plan_id": plans["pro"].id, "quote": quoted})
    assert money(invoices_of(subscription)[-1].amount_paid) == shown


def test_a_forged_quote_is_ignored_and_the_change_is_billed_as_of_now(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"], days_ago=10)
    clock.advance(20 * 60)
    expected = billing.preview_plan_change(subscription, plans["pro"], "create_prorations", clock.now())
    post(portal.browser, f"/portal/subscriptions/{subscription.id}/plan",
         {"plan_id": plans["pro"].id, "quote": f"{NOW - 9 * DAY}.forged"})
    assert invoices_of(subscription)[-1].total == expected.bill.total


def test_customer_credit_is_shown_paying_part_of_the_upgrade_and_is_what_the_invoice_takes(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"], days_ago=10)
    customer.credit_balance = {"ghs": 1000}
    db.session.commit()
    url = f"/portal/subscriptions/{subscription.id}/plan"
    preview = billing.preview_plan_change(subscription, plans["pro"], "create_prorations", clock.now())
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}")))
    assert f"Paid from your account credit {money(-1000)}" in page
    assert f"Due now {money(preview.bill.total - 1000)}" in page
    post(portal.browser, url, {"plan_id": plans["pro"].id})
    invoice = invoices_of(subscription)[-1]
    assert invoice.total == preview.bill.total
    charged = db.session.scalar(db.select(db.func.sum(db.text("amount"))).select_from(db.text("payments"))
                                .where(db.text("invoice_id = :id")).params(id=invoice.id))
    assert charged == preview.bill.total - 1000
    db.session.refresh(customer)
    assert customer.credit_balance == {}


def test_upgrade_without_a_payment_method_warns_and_leaves_the_invoice_open(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"])
    customer.default_payment_method_id = None
    db.session.commit()
    url = f"/portal/subscriptions/{subscription.id}/plan"
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}")))
    assert "You have no payment method on file" in page
    page = text_of(page_of(post(portal.browser, url, {"plan_id": plans["pro"].id}, htmx=True)))
    assert "The payment of" in page and "failed" in page
    assert invoices_of(subscription)[-1].status == "open"


def test_confirming_twice_changes_once_with_one_invoice_and_one_event(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"])
    url = f"/portal/subscriptions/{subscription.id}/plan"
    token = csrf_token(page_of(portal.browser.get(url)))
    for _ in range(2):
        response = portal.browser.post(url, data={"csrf_token": token, "plan_id": plans["pro"].id}, headers=HTMX)
        assert response.status_code == 200 and "You're now on Pro" in page_of(response)
    assert len(invoices_of(subscription)) == 2  # the first period and one proration
    assert len(events("subscription.updated")) == 1


# --- downgrades, as the configuration says ---------------------------------------------------------------------


def test_downgrade_applies_now_with_a_credit_when_configured_immediately(portal, customer, plans):
    subscription = subscribe(customer, plans["team"], days_ago=5)
    url = f"/portal/subscriptions/{subscription.id}/plan"
    preview = billing.preview_plan_change(subscription, plans["basic"], "create_prorations", clock.now())
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['basic'].id}")))
    assert f"Due now {money(0)}" in page and f"Credited to your account {money(preview.credit)}" in page
    page = text_of(page_of(post(portal.browser, url, {"plan_id": plans["basic"].id}, htmx=True)))
    assert "You're now on Basic" in page
    assert f"{money(preview.credit)} has been credited to your account." in page
    db.session.refresh(customer)
    assert customer.credit_balance == {"ghs": preview.credit}


def test_downgrade_is_scheduled_for_period_end_when_configured_and_can_be_withdrawn(portal, api, customer, plans):
    configure(api, subscription_update={"downgrades": "at_period_end"})
    subscription = subscribe(customer, plans["team"])
    period_end = subscription.current_period_end
    url = f"/portal/subscriptions/{subscription.id}/plan"
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['basic'].id}")))
    assert "Your new plan starts Apr 10, 2027" in page and f"Due now {money(0)}" in page
    assert f"Next invoice, Apr 10, 2027 {money(3000)}" in page
    response = post(portal.browser, url, {"plan_id": plans["basic"].id})
    assert response.status_code == 303
    db.session.refresh(subscription)
    assert subscription.plan_id == plans["team"].id
    assert subscription.to_api()["pending_update"] == {"plan_id": plans["basic"].id, "effective_at": period_end}
    assert len(invoices_of(subscription)) == 1
    [scheduled] = events("subscription.updated")
    assert scheduled.request_source == "portal" and scheduled.data["previous_attributes"] == {"pending_update": None}

    page = text_of(page_of(portal.browser.get(url)))
    assert "Your plan changes to Basic (GH₵30.00 / month) on Apr 10, 2027." in page
    assert "Basic From Apr 10, 2027" in page
    response = post(portal.browser, f"{url}/withdraw", htmx=True)
    assert "You're staying on Team" in page_of(response)
    db.session.refresh(subscription)
    assert subscription.pending_plan_id is None
    withdrawn = events("subscription.updated")[-1]
    assert withdrawn.request_source == "portal"
    assert withdrawn.data["previous_attributes"]["pending_update"]["plan_id"] == plans["basic"].id
    assert post(portal.browser, f"{url}/withdraw").status_code == 200  # again: nothing left to withdraw
    assert len(events("subscription.updated")) == 2


def test_scheduled_downgrade_is_applied_by_the_billing_clock_at_period_end(portal, api, customer, plans):
    configure(api, subscription_update={"downgrades": "at_period_end"})
    subscription = subscribe(customer, plans["team"])
    post(portal.browser, f"/portal/subscriptions/{subscription.id}/plan", {"plan_id": plans["basic"].id})
    from xtoportal.billing.clock import run_due_billing
    clock.advance(31 * DAY)
    run_due_billing(120)
    db.session.refresh(subscription)
    assert subscription.plan_id == plans["basic"].id
    assert invoices_of(subscription)[-1].total == 3000


def test_upgrade_is_never_scheduled_even_when_downgrades_are(portal, api, customer, plans):
    configure(api, subscription_update={"downgrades": "at_period_end"})
    subscription = subscribe(customer, plans["basic"])
    post(portal.browser, f"/portal/subscriptions/{subscription.id}/plan", {"plan_id": plans["team"].id})
    db.session.refresh(subscription)
    assert subscription.plan_id == plans["team"].id and subscription.pending_plan_id is None


def test_without_proration_the_change_bills_nothing_now_and_the_new_price_next(portal, api, customer, plans):
    configure(api, subscription_update={"proration_behavior": "none"})
    subscription = subscribe(customer, plans["basic"])
    url = f"/portal/subscriptions/{subscription.id}/plan"
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}")))
    assert f"Due now {money(0)}" in page and f"Next invoice, Apr 10, 2027 {money(9000)}" in page
    post(portal.browser, url, {"plan_id": plans["pro"].id})
    assert len(invoices_of(subscription)) == 1


def test_switching_to_a_yearly_plan_starts_a_new_period_billed_as_shown(portal, customer, acme, plans):
    yearly = make_plan(acme, amount=90000, interval="year", name="Pro yearly")
    subscription = subscribe(customer, plans["basic"], days_ago=3)
    url = f"/portal/subscriptions/{subscription.id}/plan"
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={yearly.id}")))
    assert f"Pro yearly, Mar 10, 2027 to Mar 10, 2028 {money(90000)}" in page
    shown = re.search(r"Due now (GH₵[\d,.]+)", page).group(1)
    post(portal.browser, url, {"plan_id": yearly.id})
    assert money(invoices_of(subscription)[-1].amount_paid) == shown


# --- what is refused -------------------------------------------------------------------------------------------


def test_plan_change_disabled_is_refused_403(portal, api, customer, plans):
    subscription = subscribe(customer, plans["basic"])
    configure(api, subscription_update={"enabled": False})
    url = f"/portal/subscriptions/{subscription.id}/plan"
    assert portal.browser.get(url).status_code == 403
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    assert portal.browser.post(url, data={"csrf_token": token, "plan_id": plans["pro"].id}).status_code == 403
    assert portal.browser.post(f"{url}/withdraw", data={"csrf_token": token}).status_code == 403
    assert subscription.plan_id == plans["basic"].id and events("subscription.updated") == []


def test_another_customers_subscription_is_404(portal, acme, plans):
    other = make_customer(acme, name="Kofi", email="kofi@example.com")
    subscription = subscribe(other, plans["basic"])
    url = f"/portal/subscriptions/{subscription.id}/plan"
    assert portal.browser.get(url).status_code == 404
    assert portal.browser.get(f"{url}?plan_id={plans['pro'].id}").status_code == 404
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    assert portal.browser.post(url, data={"csrf_token": token, "plan_id": plans["pro"].id}).status_code == 404
    assert events("subscription.updated") == []


def test_a_post_without_the_csrf_token_changes_nothing(portal, customer, plans):
    subscription = subscribe(customer, plans["basic"])
    response = portal.browser.post(f"/portal/subscriptions/{subscription.id}/plan",
                                   data={"plan_id": plans["pro"].id})
    assert response.status_code == 400
    db.session.refresh(subscription)
    assert subscription.plan_id == plans["basic"].id and events("subscription.updated") == []


def test_support_preview_may_look_but_not_change(portal, app, customer, plans):
    subscription = subscribe(customer, plans["basic"])
    url = f"/portal/subscriptions/{subscription.id}/plan"
    token = csrf_token(page_of(portal.browser.get(url)))

    def in_preview():
        from flask import g
        g.portal_preview = True

    app.before_request_funcs.setdefault("portal", []).append(in_preview)
    assert portal.browser.get(url).status_code == 200
    response = portal.browser.post(url, data={"csrf_token": token, "plan_id": plans["pro"].id})
    assert response.status_code == 403
    assert subscription.plan_id == plans["basic"].id and events("subscription.updated") == []


def test_ended_or_paused_subscriptions_say_why_the_plan_cannot_change(portal, customer, plans):
    ended = subscribe(customer, plans["basic"])
    billing.cancel(ended, False, API, clock.now())
    paused = subscribe(customer, plans["basic"])
    billing.pause(paused, None, API, clock.now())
    db.session.commit()
    page = text_of(page_of(portal.browser.get(f"/portal/subscriptions/{ended.id}/plan")))
    assert "This subscription ended on Mar 10, 2027." in page and "Subscribe again" in page
    page = text_of(page_of(portal.browser.get(f"/portal/subscriptions/{paused.id}/plan")))
    assert "Resume it to change its plan" in page
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    response = portal.browser.post(f"/portal/subscriptions/{paused.id}/plan",
                                   data={"csrf_token": token, "plan_id": plans["pro"].id})
    assert response.status_code == 409


# --- concurrency on PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_tabs_confirming_the_same_upgrade_at_once_change_it_once(postgres_app):
    """Real parallel requests: the subscription row lock makes the second wait, then find the change made."""
    from xtoportal.merchants import create_merchant
    from xtoportal.portal.tokens import issue_portal_session

    merchant, _ = create_merchant("Acme", "owner@acme.test", "correct horse battery")
    db.session.commit()
    customer = make_customer(merchant)
    basic, pro = make_plan(merchant, amount=3000, name="Basic"), make_plan(merchant, amount=9000, name="Pro")
    subscription = subscribe(customer, basic)
    _, url = issue_portal_session(customer, "https://acme.example/account")
    db.session.commit()
    first = postgres_app.test_client()
    assert first.get(link_path({"url": url})).status_code == 303
    plan_url = f"/portal/subscriptions/{subscription.id}/plan"
    token = csrf_token(page_of(first.get(plan_url)))
    second = postgres_app.test_client()
    for cookie in first._cookies.values():
        second.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    start = threading.Barrier(2)
    statuses = []

    def confirm(browser):
        start.wait()
        response = browser.post(plan_url, data={"csrf_token": token, "plan_id": pro.id}, headers=HTMX)
        statuses.append((response.status_code, "You're now on Pro" in page_of(response)))

    threads = [threading.Thread(target=confirm, args=(browser,)) for browser in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    db.session.expire_all()
    assert statuses == [(200, True), (200, True)]
    assert len(invoices_of(subscription)) == 2
    assert len(events("subscription.updated")) == 1


# --- subscribing again after the end ---------------------------------------------------------------------------


@pytest.fixture
def ended(customer, plans):
    subscription = subscribe(customer, plans["basic"], days_ago=40)
    billing.cancel(subscription, False, API, clock.now() - 5 * DAY)
    db.session.commit()
    return subscription


def test_an_ended_subscription_offers_the_visible_plans_again(portal, api, ended, plans):
    configure(api, subscription_update={"plans": [plans["pro"].id, plans["basic"].id, plans["kes"].id]})
    response = portal.browser.get(f"/portal/subscriptions/{ended.id}/resubscribe")
    assert response.status_code == 200
    page = text_of(page_of(response))
    assert "Your subscription to Basic ended on Mar 5, 2027." in page
    assert "Pro GH₵90.00 / month" in page and "Basic Your previous plan" in page
    assert "Team" not in page and "Pro Kenya" not in page
    assert page.index("Pro GH₵90.00") < page.index("Basic Your previous plan")


@pytest.mark.parametrize("htmx", [False, True])
def test_resubscribing_starts_a_new_subscription_billed_as_shown(portal, customer, ended, plans, htmx):
    customer.credit_balance = {"ghs": 500}
    db.session.commit()
    url = f"/portal/subscriptions/{ended.id}/resubscribe"
    page = text_of(page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}")))
    assert f"Pro, Mar 10, 2027 to Apr 10, 2027 {money(9000)}" in page
    assert f"Paid from your account credit {money(-500)}" in page and f"Due now {money(8500)}" in page
    response = post(portal.browser, url, {"plan_id": plans["pro"].id}, htmx=htmx)
    started = db.session.scalars(db.select(Subscription).filter(Subscription.id != ended.id)).one()
    if htmx:
        page = text_of(page_of(response))
    else:
        assert response.status_code == 303 and response.headers["Location"] == f"{url}?started={started.id}"
        page = text_of(page_of(portal.browser.get(response.headers["Location"])))
    assert "Welcome back: you're on Pro" in page and "It renews on Apr 10, 2027." in page
    assert started.status == "active" and started.customer_id == customer.id
    [invoice] = invoices_of(started)
    assert (invoice.total, invoice.amount_paid, invoice.status) == (9000, 9000, "paid")
    created = events("subscription.created")[-1]
    assert created.request_source == "portal" and created.object_id == started.id
    response = post(portal.browser, url, {"plan_id": plans["pro"].id}, htmx=True)  # a second click
    assert "Welcome back" in page_of(response)
    assert db.session.scalar(db.select(db.func.count()).select_from(Subscription)) == 2


def test_resubscribing_without_a_payment_method_asks_for_the_first_payment(portal, customer, ended, plans):
    customer.default_payment_method_id = None
    db.session.commit()
    url = f"/portal/subscriptions/{ended.id}/resubscribe"
    assert "You have no payment method on file" in page_of(portal.browser.get(f"{url}?plan_id={plans['pro'].id}"))
    page = text_of(page_of(post(portal.browser, url, {"plan_id": plans["pro"].id}, htmx=True)))
    assert "Almost there: your first payment is needed" in page and "is waiting for payment" in page


def test_a_live_subscription_cannot_be_started_again_and_hidden_plans_cannot_be_chosen(portal, api, customer, ended,
                                                                                        plans):
    live = subscribe(customer, plans["basic"])
    response = post(portal.browser, f"/portal/subscriptions/{live.id}/resubscribe", {"plan_id": plans["pro"].id})
    assert response.status_code == 409
    configure(api, subscription_update={"plans": [plans["team"].id]})
    response = post(portal.browser, f"/portal/subscriptions/{ended.id}/resubscribe", {"plan_id": plans["pro"].id})
    assert response.status_code == 422
    assert events("subscription.created")[-1].object_id == live.id


def test_resubscribe_follows_the_plan_change_switch(portal, api, ended, plans):
    configure(api, subscription_update={"enabled": False})
    url = f"/portal/subscriptions/{ended.id}/resubscribe"
    assert portal.browser.get(url).status_code == 403
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    assert portal.browser.post(url, data={"csrf_token": token, "plan_id": plans["pro"].id}).status_code == 403
