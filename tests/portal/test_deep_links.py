"""The `payment_method_update` deep link: the link lands on the payment methods task, and once the task is done
(a method added and active, or the default changed) the customer is told so and offered the way back."""
import html
import re

from flask import session as flask_session

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PaymentMethod, PortalSession
from xtoportal.portal.payment_methods import flow_destination

from tests.factories import make_card

from .conftest import link_path

HTMX = {"HX-Request": "true"}
FLOW = {"type": "payment_method_update"}
PAGE = "/portal/payment-methods"
ADD_CARD = "/portal/payment-methods/add-card"
ADD_WALLET = "/portal/payment-methods/add-mobile-money"
DONE = "Your payment method is updated"


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)


def body(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def page_text(browser, path=PAGE) -> str:
    response = browser.get(path)
    assert response.status_code == 200
    return body(response)


def add_card(browser, headers=None):
    token = csrf_token(page_text(browser, ADD_CARD))
    return browser.post(ADD_CARD, data={"csrf_token": token, "number": "4242 4242 4242 4242", "expiry": "12/40",
                                        "cvc": "123", "name": "Ama Mensah", "set_default": "y"}, headers=headers)


def enter(browser, create_session, **fields) -> dict:
    session = create_session(**fields)
    assert browser.get(link_path(session)).status_code == 303
    return session


def test_the_link_lands_on_the_payment_methods_task_until_it_is_done(browser, create_session):
    session = create_session(flow=FLOW)
    response = browser.get(link_path(session))
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert add_card(browser).status_code == 303
    again = browser.get(link_path(session))  # the same browser opening its link again
    assert again.status_code == 303 and again.headers["Location"] == "/portal/"


def test_flow_destination_is_the_task_only_for_an_unfinished_payment_method_update(app, api, create_session):
    def destination(session_id, finished=()):
        with app.test_request_context():
            flask_session["portal_finished_flows"] = list(finished)
            return flow_destination(db.session.get(PortalSession, session_id))

    flow = create_session(flow=FLOW)["id"]
    assert destination(flow) == PAGE
    assert destination(flow, finished=[flow]) is None
    assert destination(create_session()["id"]) is None
    api.post("/v1/customer_portal/configuration",
             json={"features": {"payment_method_update": {"enabled": False}}})
    assert destination(flow) is None  # the merchant turned the task off since: the overview, not a 403


def test_the_task_page_says_what_to_do(browser, create_session):
    enter(browser, create_session, flow=FLOW)
    page = page_text(browser)
    assert "<h1>Update your payment method</h1>" in page
    assert "Add a card or mobile money number, or choose which saved method Acme charges." in page


def test_adding_a_card_finishes_the_task_and_offers_the_way_back(api, browser, create_session):
    enter(browser, create_session, flow=FLOW, return_url="https://acme.example/billing")
    response = add_card(browser)
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    page = page_text(browser)
    assert DONE in page and "Visa ending in 4242 was added." in page
    assert ('<a class="button button-primary" href="https://acme.example/billing" rel="noreferrer">'
            "Return to Acme</a>") in page
    assert 'href="/portal/">Go to billing overview</a>' in page
    later = page_text(browser)  # the confirmation is shown once; the task is done
    assert DONE not in later and "<h1>Payment methods</h1>" in later


def test_htmx_finishing_the_task_goes_to_the_confirmation(browser, create_session):
    enter(browser, create_session, flow=FLOW)
    response = add_card(browser, headers=HTMX)
    assert response.headers["HX-Location"] == PAGE
    assert DONE in page_text(browser)


def test_choosing_another_default_finishes_the_task(browser, create_session, customer):
    make_card(customer)
    other = make_card(customer, "5555555555554444", default=False)
    enter(browser, create_session, flow=FLOW)
    token = csrf_token(page_text(browser))
    response = browser.post(f"{PAGE}/{other.id}/default", data={"csrf_token": token}, headers=HTMX)
    assert response.headers["HX-Location"] == PAGE  # not the list fragment: the page changes to the confirmation
    page = page_text(browser)
    assert DONE in page and "Mastercard ending in 4444 is now your default payment method." in page


def test_removing_a_method_does_not_finish_the_task(browser, create_session, customer):
    make_card(customer)
    other = make_card(customer, "5555555555554444", default=False)
    enter(browser, create_session, flow=FLOW)
    token = csrf_token(page_text(browser))
    browser.post(f"{PAGE}/{other.id}/remove", data={"csrf_token": token})
    page = page_text(browser)
    assert DONE not in page and "<h1>Update your payment method</h1>" in page


def _add_wallet(browser, phone):
    token = csrf_token(page_text(browser, ADD_WALLET))
    browser.post(ADD_WALLET, data={"csrf_token": token, "provider": "mtn_momo", "phone": phone})
    return db.session.scalars(db.select(PaymentMethod)).one()


def test_an_approved_wallet_finishes_the_task_on_the_waiting_step(browser, create_session):
    enter(browser, create_session, flow=FLOW)
    with clock.frozen(clock.now()):
        wallet = _add_wallet(browser, "+233240000000")
        clock.advance(3)
        response = browser.get(f"{PAGE}/{wallet.id}/approval", headers=HTMX)
    page = body(response)
    assert "Mobile money added" in page and "Return to Acme" in page and "Go to billing overview" in page
    assert "<h1>Payment methods</h1>" in page_text(browser)


def test_a_declined_wallet_leaves_the_task_open(browser, create_session):
    enter(browser, create_session, flow=FLOW)
    with clock.frozen(clock.now()):
        wallet = _add_wallet(browser, "+233241111111")
        clock.advance(3)
        page = body(browser.get(f"{PAGE}/{wallet.id}/approval", headers=HTMX))
    assert "Return to Acme" not in page and "Try again" in page
    assert "<h1>Update your payment method</h1>" in page_text(browser)


def test_without_a_flow_a_change_is_confirmed_in_place(browser, create_session):
    enter(browser, create_session)
    assert "<h1>Payment methods</h1>" in page_text(browser)
    add_card(browser)
    page = page_text(browser)
    assert DONE not in page and '<p class="flash flash-success">Visa ending in 4242 was added.</p>' in page
