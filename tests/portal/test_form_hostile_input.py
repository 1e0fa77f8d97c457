"""Regression tests for what form fuzzing (tests/hardening/test_fuzz_portal_forms.py) found in the portal's forms:
input no browser sends — a file or JSON where text goes, a field left out, NUL characters (which PostgreSQL refuses
to store) — is answered with a message or ignored, never with a 500, and never half-written."""
import html
import io
import re

import pytest

from tests.factories import make_card, make_plan
from tests.portal.factories import make_subscription
from xtoportal.extensions import db
from xtoportal.models import Customer, Subscription

from .test_details import csrf_token, field_error, page_text

DETAILS = {"name": "Ama Mensah", "email": "ama@example.com", "phone": "+233 24 412 3456",
           "address-line1": "14 Oxford Street", "address-city": "Accra", "address-country": "GH"}


@pytest.fixture
def token(inside):
    browser, _ = inside
    return csrf_token(page_text(browser))


def stored(customer) -> Customer:
    db.session.expire_all()
    return db.session.get(Customer, customer.id)


def test_a_file_posted_where_billing_details_expect_text_counts_as_not_sent(inside, token, customer):
    browser, _ = inside
    upload = (io.BytesIO(b"\x89PNG"), "a.png")
    response = browser.post("/portal/details", data={**DETAILS, "csrf_token": token, "name": upload},
                            content_type="multipart/form-data")
    assert response.status_code == 303
    assert stored(customer).name == "Ama Mensah"


def test_billing_details_posted_as_json_change_nothing_and_are_not_a_server_error(inside, token, customer):
    browser, _ = inside
    response = browser.post("/portal/details", json={"name": 5, "email": ["x"], "address": {"line1": None}},
                            headers={"X-CSRFToken": token})
    assert response.status_code in (303, 422)
    assert stored(customer).name == "Ama Mensah" and stored(customer).email == "ama@example.com"


def test_billing_details_posted_without_the_phone_field_keep_the_phone(inside, token, customer):
    browser, _ = inside
    browser.post("/portal/details", data={**DETAILS, "csrf_token": token})
    assert stored(customer).phone == "+233244123456"
    without_phone = {key: value for key, value in DETAILS.items() if key != "phone"}
    assert browser.post("/portal/details", data={**without_phone, "csrf_token": token}).status_code == 303
    assert stored(customer).phone == "+233244123456"


@pytest.mark.parametrize("field,field_id", [("name", "name"), ("address-line1", "address-line1"),
                                            ("address-city", "address-city")])
def test_nul_in_billing_details_is_refused_beside_the_field_and_nothing_is_saved(inside, token, customer, field,
                                                                                   field_id):
    browser, _ = inside
    response = browser.post("/portal/details", data={**DETAILS, "csrf_token": token, field: "Ama\x00Mensah"})
    assert response.status_code == 422
    assert field_error(html.unescape(response.get_data(as_text=True)), field_id) == (
        "Remove the invisible control characters from this field.")
    assert stored(customer).address is None and stored(customer).name == "Ama Mensah"


def test_nul_in_the_name_on_a_card_is_refused_beside_the_field(inside, token):
    browser, _ = inside
    response = browser.post("/portal/payment-methods/add-card", data={
        "csrf_token": token, "number": "4242 4242 4242 4242", "expiry": "12/40", "cvc": "123", "name": "Ama\x00"})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert field_error(page, "name") == "Remove the invisible control characters from this field."
    assert "4242 4242" not in page and 'value="123"' not in page


def test_nul_in_the_cancellation_comment_is_refused_beside_the_comment(inside, token, customer, merchant):
    browser, _ = inside
    make_card(customer)
    subscription = make_subscription(customer, make_plan(merchant[0]))
    response = browser.post(f"/portal/subscriptions/{subscription.id}/cancel",
                            data={"csrf_token": token, "reason": "unused", "comment": "Too\x00busy"})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "Remove the invisible control characters from your comment." in page
    textarea = re.search(r"<textarea[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in textarea
    db.session.expire_all()
    assert not db.session.get(Subscription, subscription.id).cancel_at_period_end


def test_pause_until_an_impossible_date_is_refused_beside_the_date(inside, token, customer, merchant):
    browser, _ = inside
    make_card(customer)
    subscription = make_subscription(customer, make_plan(merchant[0]))
    response = browser.post(f"/portal/subscriptions/{subscription.id}/pause",
                            data={"csrf_token": token, "duration": "date", "resumes_on": "2024-02-30\x00"})
    assert response.status_code == 422
    date_input = re.search(r'<input[^>]*name="resumes_on"[^>]*>', response.get_data(as_text=True)).group(0)
    assert 'aria-invalid="true"' in date_input
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).status == "active"


@pytest.mark.parametrize("path,status", [("/portal/invoices?after=in_%00", 200),
                                         ("/portal/payment-methods/pm_%00/remove", 404),
                                         ("/portal/subscriptions/sub_%00/plan", 404)])
def test_nul_in_an_id_or_cursor_is_not_found_rather_than_a_server_error(inside, path, status):
    browser, _ = inside
    assert browser.get(path).status_code == status
