"""Cancelling in the portal: the pause offer first, then the survey, then a confirmation that says exactly when
access ends, then the result with Undo — each step only when the merchant enables it."""
import pytest

from tests.factories import make_customer, make_plan
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.extensions import db

from .test_plan_change import (  # noqa: F401  (fixtures)
    API, HTMX, acme, configure, csrf_token, events, frozen, invoices_of, page_of, portal, post, subscribe,
    text_of,
)


@pytest.fixture
def subscription(customer, acme):
    return subscribe(customer, make_plan(acme, amount=5000, name="Pro"), days_ago=9)  # Mar 1 → Apr 1, 2027


def cancel_url(subscription) -> str:
    return f"/portal/subscriptions/{subscription.id}/cancel"


# --- the steps, as configured ----------------------------------------------------------------------------------


def test_first_step_offers_a_pause_of_one_two_or_three_months_with_dates(portal, subscription):
    response = portal.browser.get(cancel_url(subscription))
    assert response.status_code == 200
    page = text_of(page_of(response))
    assert "Pause instead of cancelling?" in page
    assert "Pause for 1 month Resumes on Apr 10, 2027" in page
    assert "Pause for 2 months Resumes on May 10, 2027" in page
    assert "Pause for 3 months Resumes on Jun 10, 2027" in page
    credit = billing.pause_credit(subscription, clock.now())
    assert f"The unused part of your current period, GH₵{credit / 100:,.2f}, is credited" in page
    assert "Step 1 of 3: Pause instead?" in page
    assert "No thanks, continue cancelling" in page


def test_taking_the_pause_offer_pauses_instead_of_cancelling(portal, subscription):
    response = post(portal.browser, f"/portal/subscriptions/{subscription.id}/pause", {"duration": "2"}, htmx=True)
    assert response.status_code == 200
    page = text_of(page_of(response))
    assert "Your subscription is paused" in page and "Resumes May 10, 2027" in page
    db.session.refresh(subscription)
    assert subscription.status == "paused" and not subscription.cancel_at_period_end
    assert [e.request_source for e in events("subscription.paused")] == ["portal"]
    assert events("subscription.cancellation_scheduled") == []


def test_declining_the_offer_leads_to_the_survey_with_the_configured_reasons(portal, api, subscription):
    configure(api, subscription_cancel={"survey": {"options": ["too_expensive", "unused", "other"]}})
    page = text_of(page_of(portal.browser.get(f"{cancel_url(subscription)}?step=survey", headers=HTMX)))
    assert "Why are you cancelling?" in page and "Step 2 of 3: Your feedback" in page
    assert "It's too expensive" in page and "I don't use it enough" in page and "Another reason" in page
    assert "Some features are missing" not in page


def test_without_pause_the_offer_is_skipped_and_without_survey_the_confirmation_comes_first(portal, api, subscription):
    configure(api, subscription_pause={"enabled": False})
    page = text_of(page_of(portal.browser.get(cancel_url(subscription))))
    assert "Why are you cancelling?" in page and "Pause instead" not in page
    configure(api, subscription_pause={"enabled": True},
              subscription_cancel={"pause_before_cancel": {"enabled": False}, "survey": {"enabled": False}})
    page = text_of(page_of(portal.browser.get(cancel_url(subscription))))
    assert "Cancel your subscription?" in page and "Step" not in page


def test_survey_answer_is_required_unless_skipped_and_must_be_a_listed_reason(portal, subscription):
    url = f"{cancel_url(subscription)}/survey"
    response = post(portal.browser, url, {}, htmx=True)
    assert response.status_code == 422 and "Choose a reason, or skip this question." in page_of(response)
    response = post(portal.browser, url, {"reason": "hates_us"})
    assert response.status_code == 422 and "Choose one of the reasons listed." in page_of(response)
    assert "<html" in page_of(response)  # a plain browser gets the whole page back, with the error
    response = post(portal.browser, url, {"reason": "other", "comment": "x" * 501}, htmx=True)
    assert response.status_code == 422 and "under 500 characters" in page_of(response)
    assert 'value="other" checked' in page_of(response)  # what was chosen is kept
    response = post(portal.browser, url, {"skip": "1"}, htmx=True)
    assert response.status_code == 200 and "Cancel your subscription?" in page_of(response)


def test_confirmation_says_access_ends_at_period_end_and_carries_the_answer(portal, subscription):
    response = post(portal.browser, f"{cancel_url(subscription)}/survey",
                    {"reason": "too_expensive", "comment": "  A bit dear <for> me  "}, htmx=True)
    page = page_of(response)
    assert "Your subscription to Pro will end on Apr 1, 2027." in text_of(page)
    assert "You keep access until then and won't be charged again." in text_of(page)
    assert 'name="reason" value="too_expensive"' in page
    assert 'name="comment" value="A bit dear &lt;for&gt; me"' in page
    assert subscription.cancel_at_period_end is False  # nothing changes before the confirmation


@pytest.mark.parametrize("htmx", [False, True])
def test_confirming_schedules_the_cancellation_keeps_the_answer_and_offers_undo(portal, subscription, htmx):
    response = post(portal.browser, cancel_url(subscription),
                    {"reason": "too_expensive", "comment": "A bit dear"}, htmx=htmx)
    if htmx:
        assert response.status_code == 200
        page = text_of(page_of(response))
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"{cancel_url(subscription)}?done=canceled"
        page = text_of(page_of(portal.browser.get(response.headers["Location"])))
    assert "Your subscription ends on Apr 1, 2027" in page and "Undo: keep my subscription" in page
    db.session.refresh(subscription)
    assert subscription.cancel_at_period_end and subscription.status == "active"
    assert subscription.to_api()["cancellation_details"] == {"reason": "too_expensive", "comment": "A bit dear"}
    [scheduled] = events("subscription.cancellation_scheduled")
    assert scheduled.request_source == "portal"
    assert scheduled.data["previous_attributes"]["cancel_at_period_end"] is False


def test_undo_keeps_the_subscription_renewing(portal, subscription):
    post(portal.browser, cancel_url(subscription), {"reason": "unused"})
    response = post(portal.browser, f"{cancel_url(subscription)}/undo", htmx=True)
    assert response.status_code == 200
    assert "Nothing changes: Pro renews on Apr 1, 2027 at GH₵50.00." in text_of(page_of(response))
    db.session.refresh(subscription)
    assert not subscription.cancel_at_period_end and subscription.cancellation_reason is None
    [undone] = events("subscription.updated")
    assert undone.request_source == "portal"
    assert undone.data["previous_attributes"]["cancel_at_period_end"] is True
    response = post(portal.browser, f"{cancel_url(subscription)}/undo")  # again: nothing to undo, no event
    assert response.status_code == 200 and len(events("subscription.updated")) == 1


def test_plain_browser_undo_redirects_to_the_result(portal, subscription):
    post(portal.browser, cancel_url(subscription), {})
    response = post(portal.browser, f"{cancel_url(subscription)}/undo")
    assert response.status_code == 303 and response.headers["Location"].endswith("/cancel?done=kept")
    assert "Your subscription continues" in page_of(portal.browser.get(response.headers["Location"]))


def test_confirming_twice_schedules_once(portal, subscription):
    for _ in range(2):
        response = post(portal.browser, cancel_url(subscription), {"reason": "unused"}, htmx=True)
        assert response.status_code == 200 and "Undo" in page_of(response)
    assert len(events("subscription.cancellation_scheduled")) == 1


def test_immediate_mode_says_access_ends_now_and_ends_it(portal, api, subscription):
    configure(api, subscription_cancel={"mode": "immediately", "survey": {"enabled": False},
                                        "pause_before_cancel": {"enabled": False}})
    page = text_of(page_of(portal.browser.get(cancel_url(subscription))))
    assert "Your subscription to Pro will end immediately." in page
    assert "The rest of the current period, until Apr 1, 2027, is not refunded." in page
    page = text_of(page_of(post(portal.browser, cancel_url(subscription), {}, htmx=True)))
    assert "Your subscription has ended" in page and "ended on Mar 10, 2027" in page
    assert "Undo" not in page and "Subscribe again" in page
    db.session.refresh(subscription)
    assert subscription.status == "canceled" and subscription.ended_at == clock.now()
    [canceled] = events("subscription.canceled")
    assert canceled.request_source == "portal"
    assert len(invoices_of(subscription)) == 1


def test_a_paused_subscription_is_told_it_ends_now(portal, api, subscription):
    billing.pause(subscription, None, API, clock.now())
    db.session.commit()
    configure(api, subscription_cancel={"survey": {"enabled": False}})
    page = text_of(page_of(portal.browser.get(cancel_url(subscription))))
    assert "Pause instead" not in page  # it is paused already
    assert "will end immediately" in page


# --- what is refused -------------------------------------------------------------------------------------------


def test_cancel_disabled_is_refused_403_on_every_step(portal, api, subscription):
    configure(api, subscription_cancel={"enabled": False})
    assert portal.browser.get(cancel_url(subscription)).status_code == 403
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    for path in ("", "/survey", "/undo"):
        response = portal.browser.post(cancel_url(subscription) + path, data={"csrf_token": token})
        assert response.status_code == 403, path
    assert events("subscription.cancellation_scheduled") == []


def test_pause_offer_is_refused_when_pausing_is_disabled_even_if_posted(portal, api, subscription):
    configure(api, subscription_pause={"enabled": False})
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    response = portal.browser.post(f"/portal/subscriptions/{subscription.id}/pause",
                                   data={"csrf_token": token, "duration": "1"})
    assert response.status_code == 403 and subscription.status == "active"


def test_another_customers_subscription_cannot_be_cancelled(portal, acme):
    other = subscribe(make_customer(acme, email="kofi@example.com"), make_plan(acme))
    assert portal.browser.get(cancel_url(other)).status_code == 404
    token = csrf_token(page_of(portal.browser.get("/portal/")))
    assert portal.browser.post(cancel_url(other), data={"csrf_token": token}).status_code == 404
    assert portal.browser.post(f"{cancel_url(other)}/undo", data={"csrf_token": token}).status_code == 404
    assert events("subscription.cancellation_scheduled") == []


def test_cancel_without_csrf_token_is_refused(portal, subscription):
    assert portal.browser.post(cancel_url(subscription), data={}).status_code == 400
    assert portal.browser.post(f"{cancel_url(subscription)}/undo", data={"csrf_token": "forged"}).status_code == 400
    assert events("subscription.cancellation_scheduled") == []
