"""Every portal form under hostile input: never a 5xx, a message beside the field on a 422 with what was typed kept
(never a card number or CVC), nothing written by a refusal, and exactly the normalized input stored on success."""
import datetime as dt
from urllib.parse import quote

import phonenumbers
import pytest
from hypothesis import given, strategies as st

from tests.fuzzing import form_fuzz_settings as fuzz_settings
from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import Customer, PaymentMethod, Subscription

from .form_fuzzing import (
    NASTY_BYTES, NASTY_STRINGS, Body, FormSpec, check_answer, csrf_token_of, form_bodies, nasty_text, send, snapshot,
)
from .form_fuzzing import fresh_csrf_token_per_request, portal  # noqa: F401  (fixtures)

pytestmark = pytest.mark.fuzz

ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code")
DETAILS = FormSpec(
    "billing details",
    fields={"name": "Ama Mensah", "email": "ama@example.com", "phone": "+233 24 412 3456",
            "address-line1": "14 Oxford Street", "address-line2": "Osu", "address-city": "Accra",
            "address-state": "Greater Accra", "address-postal_code": "GA-123", "address-country": "GH"},
    echoed=frozenset({"name", "email", "phone", *(f"address-{part}" for part in ADDRESS_PARTS)}),
    choices={"address-country": [["NG"], ["gh"], ["ZZ"], [""]], "phone": [["024 412 3456"], [""]],
             "address-line2": [[""]], "email": [["AMA@Example.COM"]]},
)
CARD = FormSpec(
    "add card",
    fields={"number": "4242 4242 4242 4242", "expiry": "12 / 40", "cvc": "123", "name": "Ama Mensah",
            "set_default": "y"},
    secrets=frozenset({"number", "cvc"}), echoed=frozenset({"expiry", "name"}), alert_ok=True,
    choices={"number": [["4000000000000002"], ["4242424242424241"], ["5555-5555-5555-4444"]],
             "expiry": [["01/20"], ["1240"], ["12/2040"], ["13/40"]], "cvc": [["12"], ["12345"]],
             "set_default": [[]]},
)
WALLET = FormSpec(
    "add mobile money",
    fields={"provider": "mtn_momo", "phone": "+233 24 000 0000", "set_default": "y"},
    echoed=frozenset({"phone"}),
    choices={"provider": [["vodafone_cash"], ["mpesa"], ["airtel_money"], ["nope"]],
             "phone": [["024 000 0000"], ["+254 700 000000"], ["+233240001111"]]},
)


def expected_text(value) -> str | None:
    """What a stored text field should hold for the value the form read (the first one sent), stripped."""
    return (value or "").strip() or None


def stored_details(customer_id: str) -> dict:
    db.session.expire_all()
    customer = db.session.get(Customer, customer_id)
    address = customer.address or {}
    return {"name": customer.name, "email": customer.email, "phone": customer.phone,
            **{f"address-{part}": address.get(part) for part in (*ADDRESS_PARTS, "country")}}


def check_details_stored(portal, before: dict, body: Body) -> None:
    """Each field sent is stored stripped (the phone in E.164, the country upper-case); a field not sent is kept."""
    stored = stored_details(portal.customer.id)
    address_sent = any(body.values(f"address-{part}") for part in (*ADDRESS_PARTS, "country"))
    for name, value in stored.items():
        if body.json is not None or not body.values(name):
            if not (name.startswith("address-") and address_sent and value is None):
                assert value == before[name], name
            continue
        expected = expected_text(body.first(name))
        if name == "phone" and expected is not None:
            country = stored["address-country"]
            assert phonenumbers.parse(value) == phonenumbers.parse(
                expected, None if expected.startswith("+") else country)
        elif name == "address-country" and expected is not None:
            assert value == expected.upper()
        else:
            assert value == expected, name


def fuzz_form(portal, path: str, spec: FormSpec, body: Body, accepted=None, page: str | None = None):
    token = csrf_token_of(portal.browser, page or "/portal/")
    before = snapshot()
    response = send(portal.browser, path, body, token)
    check_answer(spec, body, response, before, snapshot(), accepted)
    return response


@fuzz_settings
@given(body=form_bodies(DETAILS))
def test_billing_details_form_under_fuzzing(portal, body):
    before = stored_details(portal.customer.id)
    fuzz_form(portal, "/portal/details", DETAILS, body,
              lambda body, response: check_details_stored(portal, before, body))


def check_card_stored(portal, body: Body, response) -> None:
    newest = db.session.scalars(db.select(PaymentMethod).filter_by(customer_id=portal.customer.id)
                                .order_by(PaymentMethod.sort_key.desc())).first()
    digits = "".join(ch for ch in body.first("number") if ch.isdigit())
    assert newest.type == "card" and newest.card_last4 == digits[-4:]


@fuzz_settings
@given(body=form_bodies(CARD))
def test_add_card_form_under_fuzzing(portal, body):
    fuzz_form(portal, "/portal/payment-methods/add-card", CARD, body,
              lambda body, response: check_card_stored(portal, body, response))


@fuzz_settings
@given(body=form_bodies(WALLET))
def test_add_mobile_money_form_under_fuzzing(portal, body):
    fuzz_form(portal, "/portal/payment-methods/add-mobile-money", WALLET, body)


def hostile_ids():
    """What may stand where an object's id goes in a URL: hostile text, percent-encoded raw bytes, other ids."""
    return st.one_of(nasty_text().filter(lambda text: text and "/" not in text).map(
        lambda text: quote(text, safe="")), st.sampled_from(NASTY_BYTES).map(lambda raw: quote(raw, safe="")),
        st.just("sub_" + "A" * 22), st.just("x" * 5000))


ANY_FIELDS = FormSpec("extra fields", fields={"payment_method": "pm", "plan_id": "plan", "reason": "unused"},
                      message_on_422=False)


@fuzz_settings
@given(id=hostile_ids(), action=st.sampled_from(
    ["payment-methods/{}/default", "payment-methods/{}/remove", "invoices/{}/pay", "subscriptions/{}/plan",
     "subscriptions/{}/plan/withdraw", "subscriptions/{}/cancel", "subscriptions/{}/cancel/survey",
     "subscriptions/{}/cancel/undo", "subscriptions/{}/pause", "subscriptions/{}/resume",
     "subscriptions/{}/resubscribe"]), body=form_bodies(ANY_FIELDS))
def test_hostile_ids_in_portal_form_urls_are_not_found(portal, id, action, body):
    response = fuzz_form(portal, f"/portal/{action.format(id)}", ANY_FIELDS, body)
    assert response.status_code in (404, 405), (action, id, response.status_code)


@fuzz_settings
@given(target=st.sampled_from(["card", "declining", "others"]), action=st.sampled_from(["default", "remove"]),
       body=form_bodies(FormSpec("extras", fields={"confirm": "yes"})))
def test_set_default_and_remove_payment_method_under_fuzzing(portal, target, action, body):
    method = {"card": portal.card, "declining": portal.declining, "others": portal.others_card}[target]
    spec = FormSpec(f"{action} payment method", fields={}, message_on_422=False)
    response = fuzz_form(portal, f"/portal/payment-methods/{method.id}/{action}", spec, body)
    if target == "others":
        assert response.status_code == 404


@fuzz_settings
@given(data=st.data())
def test_pay_invoice_form_under_fuzzing(portal, data):
    spec = FormSpec("pay invoice", fields={"payment_method": portal.card.id},
                    choices={"payment_method": [[portal.declining.id], [portal.others_card.id], [""]]},
                    message_on_422=False)
    body = data.draw(form_bodies(spec))
    response = fuzz_form(portal, f"/portal/invoices/{portal.invoice.id}/pay", spec, body)
    if response.status_code == 422:
        assert 'class="field-error"' in response.get_data(as_text=True)


def flow_spec(portal, flow: str) -> FormSpec:
    """Each subscription flow's form, with the values a customer's page posts."""
    today = dt.datetime.fromtimestamp(clock.now(), dt.UTC).date()
    return {
        "plan": FormSpec("confirm plan change", fields={"plan_id": portal.pro.id, "quote": "1700000000.sig"},
                         choices={"plan_id": [[portal.lite.id], [portal.basic.id], [portal.others_subscription.id]]},
                         message_on_422=False),
        "cancel/survey": FormSpec("cancel survey", fields={"reason": "unused", "comment": "Too busy", "skip": ""},
                                  choices={"reason": [["other"], ["nope"], [""]], "comment": [["x" * 501], [""]]},
                                  echoed=frozenset({"comment"}), message_on_422=False),
        "cancel": FormSpec("confirm cancel", fields={"reason": "unused", "comment": "Too busy"},
                           choices={"reason": [["too_expensive"], ["nope"]], "comment": [["x" * 501], [" "]]},
                           echoed=frozenset({"comment"}), message_on_422=False),
        "pause": FormSpec("pause", fields={"duration": "1", "resumes_on": (today + dt.timedelta(days=40)).isoformat(),
                                           "quote": ""},
                          choices={"duration": [["2"], ["3"], ["4"], ["0"], ["indefinite"], ["date"]],
                                   "resumes_on": [[today.isoformat()], [(today + dt.timedelta(days=400)).isoformat()],
                                                  ["2024-02-30"]]},
                          echoed=frozenset({"resumes_on"}), message_on_422=False),
        "resume": FormSpec("resume", fields={}, message_on_422=False),
        "cancel/undo": FormSpec("undo cancel", fields={}, message_on_422=False),
        "plan/withdraw": FormSpec("withdraw plan change", fields={}, message_on_422=False),
        "resubscribe": FormSpec("resubscribe", fields={"plan_id": portal.basic.id},
                                choices={"plan_id": [[portal.pro.id], [""]]}, message_on_422=False),
    }[flow]


FLOW_STATES = {
    "plan": {"status": "active"}, "cancel/survey": {"status": "active"}, "cancel": {"status": "active"},
    "pause": {"status": "active"}, "resume": {"status": "paused"},
    "cancel/undo": {"status": "active", "cancel_at_period_end": True}, "plan/withdraw": {"status": "active"},
    "resubscribe": {"status": "canceled"},
}


def check_flow_stored(flow: str, subscription_id: str, body: Body) -> None:
    db.session.expire_all()
    subscription = db.session.get(Subscription, subscription_id)
    if flow == "cancel":
        assert subscription.cancel_at_period_end
        comment = expected_text(body.first("comment"))
        reason = body.first("reason")
        if comment is not None or reason:
            assert (subscription.cancellation_reason, subscription.cancellation_comment) == (reason or None, comment)
    elif flow == "pause":
        assert subscription.status == "paused"


@pytest.mark.parametrize("flow", list(FLOW_STATES))
def test_subscription_flow_forms_under_fuzzing(portal, flow):
    spec = flow_spec(portal, flow)

    @fuzz_settings
    @given(body=form_bodies(spec))
    def run(body):
        subscription = portal.subscription(**FLOW_STATES[flow])
        fuzz_form(portal, f"/portal/subscriptions/{subscription.id}/{flow}", spec, body,
                  lambda body, response: check_flow_stored(flow, subscription.id, body),
                  page=f"/portal/subscriptions/{subscription.id}/pause")
    run()


GET_PAGES = {
    "subscriptions/{sub}/plan": {"plan_id": "{pro}", "review": "1", "done": "changed", "invoice": "{invoice}"},
    "subscriptions/{sub}/cancel": {"step": "survey", "done": "kept"},
    "subscriptions/{sub}/pause": {"done": "paused", "invoice": "{invoice}"},
    "subscriptions/{sub}/resubscribe": {"plan_id": "{pro}", "review": "1", "started": "{sub}"},
    "invoices": {"after": "{invoice}"},
    "invoices/{invoice}/pay": {"payment": "pay_x"},
    "payment-methods/add-mobile-money": {"provider": "mtn_momo"},
}


@pytest.mark.parametrize("page", list(GET_PAGES))
def test_portal_pages_under_fuzzed_query_strings(portal, page):
    names = {"sub": portal.subscription().id, "pro": portal.pro.id, "invoice": portal.invoice.id}
    spec = FormSpec(f"GET {page}", fields={key: value.format(**names) for key, value in GET_PAGES[page].items()},
                    message_on_422=False)

    @fuzz_settings
    @given(body=form_bodies(spec))
    def run(body):
        body.files.clear()
        before = snapshot()
        response = send(portal.browser, "/portal/" + page.format(**names), body, None, method="GET")
        check_answer(spec, body, response, before, snapshot())
    run()


@fuzz_settings
@given(token=st.one_of(st.none(), st.sampled_from(NASTY_STRINGS[:30]), st.text(max_size=100)),
       path=st.sampled_from(["details", "payment-methods/add-card", "payment-methods/add-mobile-money",
                             "subscriptions/{sub}/cancel", "subscriptions/{sub}/pause", "invoices/{invoice}/pay",
                             "payment-methods/{card}/remove"]))
def test_portal_posts_with_a_missing_or_garbled_csrf_token_are_refused_and_write_nothing(portal, token, path):
    path = "/portal/" + path.format(sub=portal.subscription().id, invoice=portal.invoice.id, card=portal.card.id)
    before = snapshot()
    body = Body([("name", "Kofi"), ("duration", "1"), ("payment_method", portal.card.id)], {}, False)
    response = send(portal.browser, path, body, token)
    assert response.status_code == 400
    assert snapshot() == before
