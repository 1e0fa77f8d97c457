"""Pausing and resuming in the portal, with the dates spelled out: 1–3 billing periods, until a date or until
resumed; the unused, paid time is credited; resuming starts a new period and bills it as shown."""
import re

import pytest

from tests.factories import make_customer, make_plan
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.billing.clock import run_due_billing
from xtoportal.extensions import db
from xtoportal.models import Payment

from .test_plan_change import (  # noqa: F401  (fixtures)
    API, DAY, NOW, acme, configure, csrf_token, events, frozen, invoices_of, money, page_of, portal, post,
    subscribe, text_of,
)


@pytest.fixture
def pro(acme):
    return make_plan(acme, amount=5000, name="Pro")


@pytest.fixture
def subscription(customer, pro):
    return subscribe(customer, pro, days_ago=9)  # Mar 1 → Apr 1, 2027; today is Mar 10


def pause_url(subscription) -> str:
    return f"/portal/subscriptions/{subscription.id}/pause"


def test_pause_page_spells_out_each_choice_and_the_credit(portal, subscription):
    response = portal.browser.get(pause_url(subscription))
    assert response.status_code == 200
    page = text_of(page_of(response))
    assert "1 month resumes on Apr 10, 2027" in page
    assert "2 months resumes on May 10, 2027" in page
    assert "3 months resumes on Jun 10, 2027" in page
    assert "Until a date" in page and "Until I resume it" in page
    credit = billing.pause_credit(subscription, NOW)
    assert credit == 3548  # 22 of 31 days left of GH₵50.00, rounded half up
    assert f"The unused part of your current period, {money(credit)}, is credited to your account" in page
    assert 'min="2027-03-10" max="2028-03-09"' in page_of(response)


@pytest.mark.parametrize("duration, resumes", [("1", "Apr 10, 2027"), ("2", "May 10, 2027"), ("3", "Jun 10, 2027")])
def test_pausing_for_billing_periods_resumes_on_the_date_shown(portal, subscription, duration, resumes):
    response = post(portal.browser, pause_url(subscription), {"duration": duration})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{pause_url(subscription)}?done=paused&invoice=in_")
    page = text_of(page_of(portal.browser.get(location)))
    assert "Your subscription is paused" in page
    assert f"Paused since Mar 10, 2027 Resumes {resumes}" in page
    assert f"{money(3548)} has been credited to your account." in page
    db.session.refresh(subscription)
    assert subscription.status == "paused" and subscription.pause_resumes_at == billing.resumes_at_after_cycles(
        subscription, int(duration), NOW)
    [paused] = events("subscription.paused")
    assert paused.request_source == "portal"
    assert paused.data["object"]["pause_collection"] == {"resumes_at": subscription.pause_resumes_at}


def test_the_credit_shown_is_the_credit_given_even_when_confirmed_later(portal, subscription):
    page = page_of(portal.browser.get(pause_url(subscription)))
    quoted = re.search(r'name="quote" value="([^"]+)"', page).group(1)
    clock.advance(25 * 60)
    assert billing.pause_credit(subscription, clock.now()) < 3548
    post(portal.browser, pause_url(subscription), {"duration": "1", "quote": quoted})
    assert invoices_of(subscription)[-1].total == -3548
    db.session.refresh(subscription)
    assert subscription.pause_resumes_at == billing.resumes_at_after_cycles(subscription, 1, NOW)  # as shown


def test_pausing_until_a_date_resumes_at_the_start_of_that_day(portal, subscription):
    response = post(portal.browser, pause_url(subscription), {"duration": "date", "resumes_on": "2027-05-02"},
                    htmx=True)
    assert response.status_code == 200 and "<html" not in page_of(response)
    assert "Resumes May 2, 2027" in text_of(page_of(response))
    db.session.refresh(subscription)
    assert subscription.pause_resumes_at == NOW - 12 * 3600 + 53 * DAY  # 2027-05-02T00:00Z


@pytest.mark.parametrize("resumes_on, message", [
    ("", "Enter the date to resume on"),
    ("02/05/2027", "Enter the date to resume on"),
    ("2027-03-10", "Choose a date after today."),
    ("2020-01-01", "Choose a date after today."),
    ("2028-03-11", "Choose a date within a year from today."),
])
def test_a_bad_date_is_422_with_the_form_kept(portal, subscription, resumes_on, message):
    response = post(portal.browser, pause_url(subscription), {"duration": "date", "resumes_on": resumes_on},
                    htmx=True)
    assert response.status_code == 422
    page = page_of(response)
    assert message in page and 'value="date" checked' in page
    assert subscription.status == "active" and events("subscription.paused") == []


def test_choosing_no_duration_is_422(portal, subscription):
    response = post(portal.browser, pause_url(subscription), {"duration": "forever"})
    assert response.status_code == 422 and "Choose how long to pause for." in page_of(response)


def test_pausing_until_resumed_then_resuming_bills_a_new_period_as_shown(portal, subscription):
    post(portal.browser, pause_url(subscription), {"duration": "indefinite"})
    page = text_of(page_of(portal.browser.get(pause_url(subscription))))
    assert "This subscription is paused" in page and "Resumes When you resume it" in page
    assert f"Your account credit {money(3548)}" in page
    assert f"Pro, Mar 10, 2027 to Apr 10, 2027 {money(5000)}" in page
    assert f"Paid from your account credit {money(-3548)}" in page
    assert f"Due now {money(1452)}" in page and f"Resume and pay {money(1452)}" in page

    response = post(portal.browser, f"/portal/subscriptions/{subscription.id}/resume", htmx=True)
    assert response.status_code == 200
    page = text_of(page_of(response))
    invoice = invoices_of(subscription)[-1]
    assert "Your subscription is active again" in page
    assert f"Invoice {invoice.number} for {money(5000)} is paid." in page
    assert "Your current period runs from Mar 10, 2027 to Apr 10, 2027" in page
    charged = db.session.scalars(db.select(Payment).filter_by(invoice_id=invoice.id)).one()
    assert charged.amount == 1452
    db.session.refresh(subscription)
    assert (subscription.status, subscription.current_period_start) == ("active", NOW)
    [resumed] = events("subscription.resumed")
    assert resumed.request_source == "portal"
    assert resumed.data["previous_attributes"]["status"] == "paused"
    assert [e.request_source for e in events("invoice.paid") if e.object_id == invoice.id] == ["portal"]


def test_no_invoice_while_paused_and_the_clock_resumes_on_the_date(portal, subscription):
    post(portal.browser, pause_url(subscription), {"duration": "1"})
    before = len(invoices_of(subscription))
    resumes_at = billing.resumes_at_after_cycles(subscription, 1, NOW)
    with clock.frozen(resumes_at - 1):
        run_due_billing(120)
    assert len(invoices_of(subscription)) == before
    with clock.frozen(resumes_at):
        run_due_billing(120)
    db.session.refresh(subscription)
    assert subscription.status == "active" and subscription.current_period_start == resumes_at
    assert len(invoices_of(subscription)) == before + 1
    assert events("subscription.resumed")[0].request_source == "billing"


def test_resuming_twice_bills_once(portal, subscription):
    billing.pause(subscription, None, API, NOW)
    db.session.commit()
    for _ in range(2):
        response = post(portal.browser, f"/portal/subscriptions/{subscription.id}/resume", htmx=True)
        assert response.status_code == 200 and "active again" in page_of(response)
    assert len(events("subscription.resumed")) == 1


def test_pausing_twice_pauses_once(portal, subscription):
    for _ in range(2):
        response = post(portal.browser, pause_url(subscription), {"duration": "1"}, htmx=True)
        assert response.status_code == 200 and "is paused" in page_of(response)
    assert len(events("subscription.paused")) == 1 and len(invoices_of(subscription)) == 2


def test_a_subscription_set_to_cancel_says_to_keep_it_first(portal, subscription):
    billing.cancel(subscription, True, API, NOW)
    db.session.commit()
    page = text_of(page_of(portal.browser.get(pause_url(subscription))))
    assert "This subscription ends on Apr 1, 2027. Keep it to pause it instead." in page
    response = post(portal.browser, pause_url(subscription), {"duration": "1"})
    assert response.status_code == 409 and events("subscription.paused") == []


def test_pause_disabled_is_refused_403_and_so_is_resume(portal, api, subscription):
    billing.pause(subscription, None, API, NOW)
    db.session.commit()
    configure(api, subscription_pause={"enabled": False})
    assert portal.browser.get(pause_url(subscription)).status_code == 403
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    response = portal.browser.post(f"/portal/subscriptions/{subscription.id}/resume", data={"csrf_token": token})
    assert response.status_code == 403 and events("subscription.resumed") == []


def test_another_customers_subscription_cannot_be_paused_or_resumed(portal, acme, pro):
    other = subscribe(make_customer(acme, email="kofi@example.com"), pro)
    assert portal.browser.get(pause_url(other)).status_code == 404
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    assert portal.browser.post(pause_url(other), data={"csrf_token": token, "duration": "1"}).status_code == 404
    assert portal.browser.post(f"/portal/subscriptions/{other.id}/resume",
                               data={"csrf_token": token}).status_code == 404
    assert events("subscription.paused") == []


def test_pause_without_csrf_token_is_refused(portal, subscription):
    assert portal.browser.post(pause_url(subscription), data={"duration": "1"}).status_code == 400
    assert events("subscription.paused") == []
