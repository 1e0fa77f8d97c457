"""Deep links (API.md `flow`): a portal link for `subscription_update` or `subscription_cancel` lands in that flow
for the named subscription, and the flow ends with the way back to the merchant's return_url."""
import pytest

from tests.factories import make_plan
from xtoportal.extensions import db
from xtoportal.models import PortalSession
from xtoportal.portal.subscriptions import flow_destination

from .conftest import link_path
from .test_plan_change import (  # noqa: F401  (fixtures)
    HTMX, acme, configure, frozen, page_of, post, subscribe, text_of,
)


@pytest.fixture
def plans(acme):
    return make_plan(acme, amount=3000, name="Basic"), make_plan(acme, amount=9000, name="Pro")


@pytest.fixture
def subscription(frozen, customer, plans):
    return subscribe(customer, plans[0])


def open_flow(browser, create_session, flow_type, subscription):
    session = create_session(flow={"type": flow_type, "subscription_id": subscription.id})
    response = browser.get(link_path(session))
    assert response.status_code == 303
    return response, session


def test_flow_destination_names_the_flow_of_the_session(app, subscription):
    session = PortalSession(flow={"type": "subscription_update", "subscription_id": subscription.id})
    with app.test_request_context():
        assert flow_destination(session) == f"/portal/subscriptions/{subscription.id}/plan"
        session.flow = {"type": "subscription_cancel", "subscription_id": subscription.id}
        assert flow_destination(session) == f"/portal/subscriptions/{subscription.id}/cancel"
        for flow in (None, {"type": "payment_method_update"}, {"type": "subscription_cancel"}):
            session.flow = flow
            assert flow_destination(session) is None


@pytest.mark.parametrize("flow_type, path", [("subscription_update", "plan"), ("subscription_cancel", "cancel")])
def test_opening_a_deep_link_lands_in_the_flow_for_that_subscription(browser, create_session, subscription,
                                                                     flow_type, path):
    response, _ = open_flow(browser, create_session, flow_type, subscription)
    assert response.headers["Location"] == f"/portal/subscriptions/{subscription.id}/{path}"
    assert browser.get(response.headers["Location"]).status_code == 200


def test_a_deep_linked_plan_change_ends_with_the_way_back_to_the_merchant(browser, create_session, subscription,
                                                                         plans):
    open_flow(browser, create_session, "subscription_update", subscription)
    url = f"/portal/subscriptions/{subscription.id}/plan"
    page = page_of(post(browser, url, {"plan_id": plans[1].id}, htmx=True))
    assert "You're now on Pro" in page
    assert 'href="https://acme.example/account"' in page and "Return to Acme" in page


def test_a_deep_linked_cancellation_ends_with_the_way_back_to_the_merchant(browser, create_session, subscription):
    open_flow(browser, create_session, "subscription_cancel", subscription)
    page = page_of(post(browser, f"/portal/subscriptions/{subscription.id}/cancel", {}, htmx=True))
    assert "Undo" in page and "Return to Acme" in page


def test_taking_the_pause_offer_of_a_deep_linked_cancellation_also_returns_to_the_merchant(browser, create_session,
                                                                                          subscription):
    open_flow(browser, create_session, "subscription_cancel", subscription)
    page = page_of(post(browser, f"/portal/subscriptions/{subscription.id}/pause", {"duration": "1"}, htmx=True))
    assert "Your subscription is paused" in page and "Return to Acme" in page


def test_without_a_deep_link_the_flow_returns_to_the_overview(browser, create_session, customer, plans, subscription):
    other = subscribe(customer, plans[1])
    open_flow(browser, create_session, "subscription_cancel", other)
    page = page_of(post(browser, f"/portal/subscriptions/{subscription.id}/cancel", {}, htmx=True))
    assert 'href="/portal/"' in page and "Back to your subscriptions" in text_of(page)


def test_a_deep_link_to_a_disabled_flow_is_refused(browser, create_session, api, subscription):
    _, session = open_flow(browser, create_session, "subscription_update", subscription)
    configure(api, subscription_update={"enabled": False})
    db.session.expire_all()
    assert browser.get(f"/portal/subscriptions/{subscription.id}/plan", headers=HTMX).status_code == 403
