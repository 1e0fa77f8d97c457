"""Paying an open or past-due invoice in the portal: cards settle at once, mobile money waits for the handset."""
import html
import re

import pytest
from flask import g

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import Event, Invoice, Payment, PortalSession, Subscription

from xtoportal.portal.access import enter_portal_session
from xtoportal.portal.routes import changes_refused_in_preview

from tests.factories import make_card, make_customer, make_plan, make_wallet

from .conftest import link_path
from .test_invoices import count_queries, make_invoice

HTMX = {"HX-Request": "true"}
T0 = 1_700_000_000
DECLINING_CARD = "4000000000000341"


def csrf_token(page: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def pay(browser, invoice, method_id: str | None, headers=None):
    """Open the invoice's pay page and submit it with `method_id`, as a customer would."""
    page = browser.get(f"/portal/invoices/{invoice.id}/pay").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page)}  # the page's token (every portal page has it for htmx)
    if method_id is not None:
        form["payment_method"] = method_id
    return browser.post(f"/portal/invoices/{invoice.id}/pay", data=form, headers=headers or {})


@pytest.fixture
def unpaid(api, merchant, customer):
    """A subscription whose first charge was declined: `incomplete`, with an open invoice. Returns (sub, invoice)."""
    make_card(customer, number=DECLINING_CARD)
    created = api.post("/v1/subscriptions", json={"customer_id": customer.id,
                                                  "plan_id": make_plan(merchant[0], name="Pro").id})
    subscription = db.session.get(Subscription, created.get_json()["id"])
    invoice = db.session.scalars(db.select(Invoice).filter_by(subscription_id=subscription.id)).one()
    assert subscription.status == "incomplete" and invoice.status == "open"
    return subscription, invoice


def refreshed(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def portal_events(type_: str) -> list[Event]:
    return list(db.session.scalars(db.select(Event).filter_by(type=type_, request_source="portal")))


def test_pay_page_offers_the_customers_active_methods_default_first(inside, unpaid, customer):
    browser, _ = inside
    _, invoice = unpaid
    good = make_card(customer, default=False)
    make_wallet(customer, phone="+233240000000", default=False)
    page = browser.get(f"/portal/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "Pay invoice ACME-000001" in page and "GH₵50.00" in page
    choices = re.findall(r'<input type="radio" name="payment_method" value="(\w+)"( checked)?>', page)
    assert choices[0] == (customer.default_payment_method_id, " checked")
    assert {value for value, _ in choices} >= {good.id}
    assert "Visa •••• 0341" in page and "Visa •••• 4242" in page and "MTN MoMo •••• 0000" in page
    assert 'name="csrf_token"' in page


def test_paying_by_card_settles_the_invoice_and_reactivates_the_subscription(inside, unpaid, customer):
    browser, _ = inside
    subscription, invoice = unpaid
    good = make_card(customer, default=False)
    response = pay(browser, invoice, good.id)
    assert response.status_code == 303
    payment = db.session.scalars(db.select(Payment).filter_by(invoice_id=invoice.id, status="succeeded")).one()
    assert response.headers["Location"] == f"/portal/invoices/{invoice.id}/pay?payment={payment.id}"
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Payment received" in page and "GH₵50.00 was paid with Visa •••• 4242" in page
    assert "Download receipt (PDF)" in page
    assert refreshed(invoice).status == "paid" and refreshed(subscription).status == "active"
    assert [e.object_id for e in portal_events("invoice.paid")] == [invoice.id]
    [updated] = portal_events("subscription.updated")
    assert updated.data["previous_attributes"] == {"status": "incomplete"}


def test_a_declined_card_says_why_and_offers_another_try(inside, unpaid, customer):
    browser, _ = inside
    subscription, invoice = unpaid
    response = pay(browser, invoice, customer.default_payment_method_id)
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Payment failed" in page and "Your card was declined." in page
    assert "Try another payment method" in page
    assert 'type="radio"' in page  # the form is right there for the next attempt
    assert refreshed(invoice).status == "open" and refreshed(subscription).status == "incomplete"
    assert [e.object_id for e in portal_events("invoice.payment_failed")] == [invoice.id]


def test_with_htmx_the_panel_replaces_itself_with_the_outcome(inside, unpaid, customer):
    browser, _ = inside
    _, invoice = unpaid
    good = make_card(customer, default=False)
    response = pay(browser, invoice, good.id, headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment
    assert 'hx-target="this"' in fragment and 'hx-swap="outerHTML"' in fragment
    assert "Payment received" in fragment and "data-autofocus" in fragment


def test_submitting_without_a_choice_is_422_with_a_message(inside, unpaid):
    browser, _ = inside
    _, invoice = unpaid
    plain = pay(browser, invoice, None)
    assert plain.status_code == 422 and "Choose how you'd like to pay." in html.unescape(plain.get_data(as_text=True))
    assert "<html" in plain.get_data(as_text=True)
    fragment = pay(browser, invoice, None, headers=HTMX)
    assert fragment.status_code == 422 and "<html" not in fragment.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Payment)) == 1  # only the API's first attempt


def test_paying_with_another_customers_method_is_404(inside, unpaid, merchant):
    browser, _ = inside
    _, invoice = unpaid
    theirs = make_card(make_customer(merchant[0], email="kofi@example.com"))
    assert pay(browser, invoice, theirs.id).status_code == 404
    assert refreshed(invoice).status == "open"


def test_paying_another_customers_invoice_is_404(inside, merchant):
    browser, _ = inside
    other = make_customer(merchant[0], email="kofi@example.com")
    theirs = make_invoice(other, status="open")
    method = make_card(other)
    page = browser.get("/portal/").get_data(as_text=True)
    response = browser.post(f"/portal/invoices/{theirs.id}/pay",
                            data={"csrf_token": csrf_token(page), "payment_method": method.id})
    assert response.status_code == 404
    assert browser.get(f"/portal/invoices/{theirs.id}/pay").status_code == 404
    assert refreshed(theirs).status == "open"


def test_a_post_without_the_csrf_token_is_refused(inside, unpaid, customer):
    browser, _ = inside
    _, invoice = unpaid
    good = make_card(customer, default=False)
    response = browser.post(f"/portal/invoices/{invoice.id}/pay", data={"payment_method": good.id})
    assert response.status_code == 400
    assert refreshed(invoice).status == "open"


def test_htmx_sends_the_csrf_token_in_a_header(inside, unpaid, customer):
    browser, _ = inside
    _, invoice = unpaid
    good = make_card(customer, default=False)
    token = csrf_token(browser.get("/portal/").get_data(as_text=True))
    response = browser.post(f"/portal/invoices/{invoice.id}/pay", data={"payment_method": good.id},
                            headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200 and "Payment received" in response.get_data(as_text=True)


def test_an_invoice_already_paid_is_not_charged_again(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer, status="paid", created=T0)
    method = make_card(customer)
    response = pay(browser, invoice, method.id)
    assert response.status_code == 303
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "There is nothing left to pay." in page and 'type="radio"' not in page
    assert db.session.scalar(db.select(db.func.count()).select_from(Payment)) == 0


def test_a_void_invoice_cannot_be_paid(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer, status="void")
    make_card(customer)
    page = browser.get(f"/portal/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "This invoice was voided, so there is nothing to pay." in page and 'type="radio"' not in page


def test_without_an_active_method_the_page_offers_to_add_one(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer, status="open")
    page = browser.get(f"/portal/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "Add a payment method first" in page and 'href="/portal/payment-methods"' in page


def test_a_pending_wallet_cannot_be_paid_with(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer, status="open")
    make_card(customer)
    wallet = make_wallet(customer, default=False)
    wallet.status = "pending"
    db.session.commit()
    assert pay(browser, invoice, wallet.id).status_code == 422


# Mobile money: the handset answers after a few seconds (or never); the page polls until it does.

def test_mobile_money_waits_for_the_phone_then_shows_the_payment(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open", created=T0)
        wallet = make_wallet(customer, phone="+233240000000")
        response = pay(browser, invoice, wallet.id, headers=HTMX)
        waiting = response.get_data(as_text=True)
        assert "Approve the prompt on your phone" in waiting
        assert "We sent a request for GH₵50.00 to MTN MoMo •••• 0000." in waiting
        payment = db.session.scalars(db.select(Payment).filter_by(invoice_id=invoice.id)).one()
        poll_url = f"/portal/invoices/{invoice.id}/pay?payment={payment.id}"
        assert f'hx-get="{poll_url}"' in waiting and 'hx-trigger="every 2s"' in waiting
        clock.advance(1)
        assert "Approve the prompt" in browser.get(poll_url, headers=HTMX).get_data(as_text=True)
        clock.advance(3)
        done = browser.get(poll_url, headers=HTMX).get_data(as_text=True)
    assert "Payment received" in done and "every 2s" not in done
    assert refreshed(invoice).status == "paid"
    assert [e.object_id for e in portal_events("invoice.paid")] == [invoice.id]


def test_the_waiting_page_announces_each_step_to_screen_readers(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        response = pay(browser, invoice, make_wallet(customer).id)
        page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert '<div class="pay-live" aria-live="polite">' in page
    assert "I've approved it: check again" in page  # without JavaScript, a link does the polling


def test_mobile_money_declined_on_the_phone_says_what_to_do_next(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        response = pay(browser, invoice, make_wallet(customer, phone="+233243333333").id)
        clock.advance(5)
        page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Payment failed" in page and "The payment was declined on your phone." in page
    assert "Try again and approve the prompt on your phone, or choose another payment method." in page
    assert refreshed(invoice).status == "open"


def test_mobile_money_that_is_never_answered_times_out(app, browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        response = pay(browser, invoice, make_wallet(customer, phone="+233244444444").id)
        clock.advance(60)
        assert "Approve the prompt" in browser.get(response.headers["Location"]).get_data(as_text=True)
        clock.advance(app.config["MOBILE_MONEY_TIMEOUT"])
        page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your phone didn't answer in time, so the payment was cancelled." in page
    assert "Try again and approve the prompt within 2 minutes" in page


def test_a_second_submit_while_the_phone_is_asked_starts_no_second_charge(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        wallet = make_wallet(customer)
        pay(browser, invoice, wallet.id)
        again = pay(browser, invoice, make_card(customer, default=False).id, headers=HTMX)
    assert "Approve the prompt on your phone" in again.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Payment)) == 1


def test_a_past_due_subscription_becomes_active_once_its_invoice_is_paid(inside, customer, merchant):
    from .factories import make_subscription
    browser, _ = inside
    subscription = make_subscription(customer, make_plan(merchant[0]), status="past_due")
    invoice = make_invoice(customer, status="open", subscription=subscription, attempts=1)
    overview = browser.get("/portal/").get_data(as_text=True)
    assert f'href="/portal/invoices/{invoice.id}/pay"' in overview and "Pay GH₵50.00" in overview
    response = pay(browser, invoice, make_card(customer).id)
    assert response.status_code == 303
    assert refreshed(subscription).status == "active"
    assert "Payment needed" not in browser.get("/portal/").get_data(as_text=True)


def test_a_support_preview_may_look_but_not_pay(app, inside, unpaid, customer):
    # The dashboard's preview sets g.portal_preview (and refuses every non-GET itself); the route refuses too.
    _, invoice = unpaid
    with app.test_request_context(f"/portal/invoices/{invoice.id}/pay", method="POST"):
        enter_portal_session(db.session.scalars(db.select(PortalSession)).one())
        g.portal_preview = object()
        body, status = changes_refused_in_preview(lambda: ("paid", 200))()
    assert status == 403 and "read-only preview" in body
    assert refreshed(invoice).status == "open"


def test_polling_after_the_session_expired_redirects_htmx_to_the_expired_page(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        response = pay(browser, invoice, make_wallet(customer, phone="+233244444444").id)
        clock.advance(1801)
        poll = browser.get(response.headers["Location"], headers=HTMX)
    assert poll.headers["HX-Redirect"] == "/portal/expired"


def test_a_poll_makes_few_queries(browser, create_session, customer):
    with clock.frozen(T0):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer, status="open")
        location = pay(browser, invoice, make_wallet(customer, phone="+233242222222").id).headers["Location"]
        with count_queries() as statements:
            browser.get(location, headers=HTMX)
    assert len(statements) <= 6, statements
