"""Payment methods in the portal: the list, adding a card, adding mobile money through the handset's answer,
choosing the default, removing one; what the merchant's configuration allows; never a card number kept."""
import html
import json
import logging
import re

import pytest
from flask import g

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PaymentMethod

from tests.factories import make_card, make_customer, make_plan, make_wallet

from .conftest import link_path
from .factories import make_subscription

HTMX = {"HX-Request": "true"}
PAGE = "/portal/payment-methods"
ADD_CARD = "/portal/payment-methods/add-card"
ADD_WALLET = "/portal/payment-methods/add-mobile-money"
NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC
VISA, DECLINED, BAD_LUHN = "4242424242424242", "4000000000000002", "4242424242424241"
SECRET_CVC = "9731"


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)


def card_form(browser, **fields) -> dict:
    data = {"number": "4242 4242 4242 4242", "expiry": "12 / 40", "cvc": SECRET_CVC, "name": "Ama Mensah",
            "set_default": "y", **fields}
    data["csrf_token"] = csrf_token(browser.get(ADD_CARD).get_data(as_text=True))
    return data


def wallet_form(browser, **fields) -> dict:
    data = {"provider": "mtn_momo", "phone": "+233240000000", "set_default": "y", **fields}
    data["csrf_token"] = csrf_token(browser.get(ADD_WALLET).get_data(as_text=True))
    return data


def body(response) -> str:
    """The page as a person reads it (entities decoded; escaping has tests of its own)."""
    return html.unescape(response.get_data(as_text=True))


def page_text(browser, path=PAGE) -> str:
    response = browser.get(path)
    assert response.status_code == 200
    return body(response)


def events(api, type="customer.payment_method_updated") -> list[dict]:
    return api.get(f"/v1/events?type={type}&limit=100").get_json()["data"]


def field_error(page: str, field_id: str) -> str | None:
    """The message shown beside a field, if the input points at it with aria-describedby."""
    error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    tied = re.search(rf'<input[^>]*aria-describedby="[^"]*{field_id}-error[^"]*"[^>]*id="{field_id}"', page) or \
        re.search(rf'<(input|select)[^>]*id="{field_id}"[^>]*>', page)
    if error is None:
        return None
    assert tied is not None and f"{field_id}-error" in tied.group(0), "the message is not tied to its field"
    assert 'aria-invalid="true"' in tied.group(0)
    return re.sub(r"<[^>]+>", "", error.group(1)).replace("Error: ", "").strip()


def input_value(page: str, field_id: str) -> str | None:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return value.group(1) if value else None


@pytest.fixture
def portal_browser(inside):
    return inside[0]


@pytest.fixture
def preview(app):
    """Support staff previewing the customer's portal (the dashboard sets g.portal_preview)."""
    app.before_request_funcs.setdefault(None, []).append(lambda: setattr(g, "portal_preview", True))


def configure(api, **payment_method_update):
    response = api.post("/v1/customer_portal/configuration",
                        json={"features": {"payment_method_update": payment_method_update}})
    assert response.status_code == 200, response.get_json()


# --- the list -----------------------------------------------------------------------------------------------

def test_page_lists_methods_default_first_with_what_identifies_them(portal_browser, customer):
    make_card(customer, "5555555555554444", default=False)
    make_wallet(customer, phone="+233240000000", default=False)
    make_card(customer, VISA, default=True)
    page = page_text(portal_browser)
    assert "Visa" in page and "Mastercard" in page and "MTN MoMo" in page
    assert "Expires 12/2040" in page and "Mobile money · Ghana" in page
    assert page.index("4242") < page.index("0000") < page.index("4444")  # default first, then newest first
    assert page.count(">Default<") == 1 and page.index(">Default<") < page.index("0000")
    assert page.count("Make default") == 2


def test_page_without_methods_says_so_and_offers_both_kinds(portal_browser):
    page = page_text(portal_browser)
    assert "You have no saved payment methods yet." in page
    assert f'href="{ADD_CARD}"' in page and f'href="{ADD_WALLET}"' in page


def test_an_expired_card_is_marked_expired(portal_browser, customer):
    method = make_card(customer)
    method.card_exp_month, method.card_exp_year = 1, 2020
    db.session.commit()
    assert "Expired 01/2020" in page_text(portal_browser)


def test_a_wallet_waiting_for_the_handset_is_shown_as_waiting(portal_browser, customer):
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233242222222"))
        page = page_text(portal_browser)
    assert "Waiting for approval on your phone." in page and "Check status" in page
    assert "Make default" not in page


def test_the_list_shows_wallets_as_the_handset_last_answered_and_leaves_refused_ones_out(portal_browser):
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233241111111"))
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233240000000"))
        clock.advance(3)
        page = page_text(portal_browser)
    assert "0000" in page and "1111" not in page and "Waiting for approval" not in page
    assert sorted(db.session.scalars(db.select(PaymentMethod.status))) == ["active", "failed"]


def test_another_customers_methods_are_never_listed(portal_browser, merchant):
    make_card(make_customer(merchant[0], name="Kofi"), "5555555555554444")
    assert "4444" not in page_text(portal_browser)


# --- adding a card ------------------------------------------------------------------------------------------

def test_card_form_asks_for_each_field_with_the_browsers_autofill_names(portal_browser):
    page = page_text(portal_browser, ADD_CARD)
    for field_id, autocomplete in (("number", "cc-number"), ("expiry", "cc-exp"), ("cvc", "cc-csc"),
                                   ("name", "cc-name")):
        tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page).group(0)
        assert f'autocomplete="{autocomplete}"' in tag
        assert f'<label class="field-label" for="{field_id}">' in page
    for field_id in ("number", "expiry", "cvc"):
        assert 'inputmode="numeric"' in re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page).group(0)
    assert 'name="csrf_token"' in page


def test_adding_a_card_saves_it_as_default_and_announces_it(api, portal_browser, customer):
    response = portal_browser.post(ADD_CARD, data=card_form(portal_browser))
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    page = page_text(portal_browser)
    assert "Visa ending in 4242 was added." in page
    method = db.session.scalars(db.select(PaymentMethod)).one()
    card = (method.card_brand, method.card_last4, method.card_exp_month, method.card_exp_year)
    assert card == ("visa", "4242", 12, 2040)
    db.session.refresh(customer)
    assert customer.default_payment_method_id == method.id
    [event] = events(api)
    assert event["data"]["object"]["id"] == method.id and event["request"]["source"] == "portal"
    [updated] = events(api, "customer.updated")
    assert updated["data"]["previous_attributes"] == {"default_payment_method": None}
    assert updated["request"]["source"] == "portal"


def test_a_card_added_without_make_default_leaves_the_default_alone(portal_browser, customer):
    first = make_card(customer, "5555555555554444")
    data = card_form(portal_browser)
    del data["set_default"]
    portal_browser.post(ADD_CARD, data=data)
    db.session.refresh(customer)
    assert customer.default_payment_method_id == first.id


def test_htmx_card_success_navigates_to_the_list(portal_browser):
    response = portal_browser.post(ADD_CARD, data=card_form(portal_browser), headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Location"] == PAGE
    assert "Visa ending in 4242 was added." in page_text(portal_browser)


@pytest.mark.parametrize("fields, field_id, message", [
    ({"number": BAD_LUHN}, "number", "This card number is incorrect. Check it and try again."),
    ({"number": "4242 4242 42"}, "number", "Enter a valid card number."),
    ({"number": "4242abcd42424242"}, "number", "Enter a valid card number."),
    ({"expiry": "01/25"}, "expiry", "This card has expired. Use another card."),
    ({"expiry": "13/30"}, "expiry", "Enter a valid expiry date."),
    ({"expiry": "next year"}, "expiry", "Enter the expiry date as MM / YY."),
    ({"cvc": "12"}, "cvc", "Enter the 3 or 4 digit security code."),
    ({"number": ""}, "number", "Enter your card number."),
    ({"expiry": ""}, "expiry", "Enter the expiry date."),
    ({"cvc": ""}, "cvc", "Enter the security code."),
    ({"name": "  "}, "name", "Enter the name on the card."),
])
def test_card_problems_are_shown_beside_their_field(portal_browser, fields, field_id, message):
    with clock.frozen(NOW):
        response = portal_browser.post(ADD_CARD, data=card_form(portal_browser, **fields))
    assert response.status_code == 422
    page = body(response)
    assert field_error(page, field_id) == message
    assert "<html" in page  # without htmx, the whole page
    assert db.session.scalars(db.select(PaymentMethod)).all() == []


def test_a_declined_card_says_so_at_the_top_of_the_form(portal_browser):
    response = portal_browser.post(ADD_CARD, data=card_form(portal_browser, number=DECLINED))
    assert response.status_code == 422
    page = body(response)
    assert re.search(r'<div class="form-alert" role="alert"[^>]*>\s*<p class="form-alert-title">'
                     r'Your card was declined. Try another card or payment method.</p>', page)


def test_a_failed_card_keeps_what_was_typed_except_the_number_and_cvc(portal_browser):
    response = portal_browser.post(ADD_CARD, data=card_form(portal_browser, number=BAD_LUHN, name="Ama K. Mensah"))
    page = body(response)
    assert input_value(page, "name") == "Ama K. Mensah" and input_value(page, "expiry") == "12 / 40"
    assert input_value(page, "number") in (None, "") and input_value(page, "cvc") in (None, "")
    assert "4242424242424241" not in page and "4242 4242" not in page and SECRET_CVC not in page


def test_htmx_card_problem_gets_the_form_fragment_back(portal_browser):
    response = portal_browser.post(ADD_CARD, data=card_form(portal_browser, cvc=""), headers=HTMX)
    assert response.status_code == 422
    page = body(response)
    assert page.lstrip().startswith('<form class="card task-form" id="add-card"')
    assert 'hx-target="this"' in page and 'hx-swap="outerHTML"' in page
    assert field_error(page, "cvc") == "Enter the security code."


@pytest.fixture
def everything_logged(caplog):
    """Every log line, SQL statements with their parameters included, from before the first connection."""
    requests_log = logging.getLogger("xtoportal.requests")  # it does not propagate to the root logger
    requests_log.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    yield caplog
    requests_log.removeHandler(caplog.handler)


def test_card_numbers_and_cvcs_are_never_stored_logged_or_echoed(everything_logged, portal_browser, capsys):
    bodies, numbers = [], (BAD_LUHN, DECLINED, VISA)
    with clock.frozen(NOW):
        for number in numbers:
            for extra in ({}, {"expiry": "01/25"}, {"expiry": "13/30"}):
                spaced = " ".join(number[i:i + 4] for i in range(0, 16, 4))
                response = portal_browser.post(ADD_CARD, data=card_form(portal_browser, number=spaced, **extra))
                bodies.append(body(response))
                if response.status_code == 303:
                    bodies.append(page_text(portal_browser))
    assert db.session.scalars(db.select(PaymentMethod.card_last4)).all() == ["4242"]
    stored = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(db.select(table)):
            stored.extend(v if isinstance(v, str) else json.dumps(v) for v in row if isinstance(v, (str, dict, list)))
    logs = "\n".join([everything_logged.text, *capsys.readouterr()])
    assert "INSERT INTO payment_methods" in logs  # the SQL log was captured, parameters included
    random_material = re.compile(r"[a-z]+_[A-Za-z0-9]{22}|[0-9a-f]{32,}|[A-Za-z0-9_.-]{40,}")
    for where, text in (("stored rows", "\n".join(stored)), ("logs", logs), ("pages", "\n".join(bodies))):
        for number in numbers:
            assert number not in text and " ".join(number[i:i + 4] for i in range(0, 16, 4)) not in text, where
        assert not re.search(rf"(?<![0-9A-Za-z]){SECRET_CVC}(?![0-9A-Za-z])", random_material.sub(" ", text)), where


# --- adding mobile money ------------------------------------------------------------------------------------

def test_wallet_form_offers_the_providers_and_a_phone_field(portal_browser):
    page = page_text(portal_browser, ADD_WALLET)
    for name in ("MTN MoMo", "M-Pesa", "Airtel Money", "Telecel Cash", "Orange Money"):
        assert f">{name}</option>" in page
    assert re.search(r'<input[^>]*autocomplete="tel"[^>]*id="phone"[^>]*type="tel"', page)


def test_adding_a_wallet_leads_to_the_waiting_step(api, portal_browser):
    with clock.frozen(clock.now()):
        response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser))
        method = db.session.scalars(db.select(PaymentMethod)).one()
        assert response.status_code == 303
        assert response.headers["Location"] == f"{PAGE}/{method.id}/approval"
        page = page_text(portal_browser, response.headers["Location"])
    assert "Approve the prompt on your phone" in page
    assert "We sent a request to MTN MoMo ending in 0000." in page
    assert f'hx-get="{PAGE}/{method.id}/approval" hx-trigger="every 2s"' in page
    assert 'aria-live="polite"' in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page  # works without JavaScript
    [event] = events(api)
    assert event["data"]["object"]["status"] == "pending" and event["request"]["source"] == "portal"


def test_htmx_wallet_form_is_replaced_by_the_polling_step(portal_browser):
    with clock.frozen(clock.now()):
        response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser), headers=HTMX)
    assert response.status_code == 200
    page = body(response)
    assert page.lstrip().startswith('<section class="card wallet-step" id="wallet-step"')
    assert 'hx-trigger="every 2s"' in page and "autofocus" in page


def _poll(browser, method_id):
    return browser.get(f"{PAGE}/{method_id}/approval", headers=HTMX)


def test_a_handset_that_approves_ends_the_wait_with_the_wallet_ready(api, portal_browser, customer):
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233240000000"))
        method = db.session.scalars(db.select(PaymentMethod)).one()
        clock.advance(2)
        waiting = _poll(portal_browser, method.id)
        clock.advance(1)
        answered = _poll(portal_browser, method.id)
    assert waiting.status_code == 204 and waiting.get_data() == b""  # no news: nothing swapped or re-announced
    assert answered.status_code == 286  # htmx stops polling
    page = body(answered)
    assert "Mobile money added" in page and "MTN MoMo ending in 0000 is approved and ready to use." in page
    assert "It is now your default payment method." in page
    assert "hx-trigger" not in page
    db.session.refresh(customer)
    assert customer.default_payment_method_id == method.id
    answer = events(api)[0]
    assert answer["data"]["object"]["status"] == "active"
    assert answer["data"]["previous_attributes"] == {"status": "pending"}
    assert answer["request"]["source"] == "billing"  # the handset's answer (API.md), whoever asked first


def test_a_handset_that_declines_offers_to_try_again_or_add_a_card(portal_browser):
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233241111111"))
        method = db.session.scalars(db.select(PaymentMethod)).one()
        clock.advance(3)
        answered = _poll(portal_browser, method.id)
    assert answered.status_code == 286
    page = body(answered)
    assert "The request was declined" in page and "MTN MoMo ending in 1111 wasn't added" in page
    assert f'href="{ADD_WALLET}?provider=mtn_momo">Try again</a>' in page
    assert f'href="{ADD_CARD}">Add a card instead</a>' in page
    assert db.session.get(PaymentMethod, method.id).status == "failed"


def test_a_silent_handset_times_out_after_the_configured_time(app, portal_browser):
    app.config["MOBILE_MONEY_TIMEOUT"] = 60
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233242222222"))
        method = db.session.scalars(db.select(PaymentMethod)).one()
        assert "expires in about 60 seconds" in page_text(portal_browser, f"{PAGE}/{method.id}/approval")
        clock.advance(59)
        assert _poll(portal_browser, method.id).status_code == 204
        clock.advance(1)
        answered = _poll(portal_browser, method.id)
    assert answered.status_code == 286
    page = body(answered)
    assert "We didn't hear back from your phone" in page and ">Try again</a>" in page


def test_without_javascript_the_waiting_page_shows_the_answer_on_refresh(portal_browser):
    with clock.frozen(clock.now()):
        location = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser)).headers["Location"]
        clock.advance(3)
        page = page_text(portal_browser, location)
    assert "Mobile money added" in page and 'http-equiv="refresh"' not in page


def test_try_again_link_chooses_the_provider(portal_browser):
    page = page_text(portal_browser, f"{ADD_WALLET}?provider=mpesa")
    assert '<option selected value="mpesa">M-Pesa</option>' in page


def test_a_number_from_a_country_the_provider_does_not_serve_is_explained(portal_browser):
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, provider="mpesa",
                                                                phone="+233240000000"))
    assert response.status_code == 422
    page = body(response)
    assert field_error(page, "phone") == "M-Pesa doesn't serve numbers from Ghana. It serves: Kenya, Tanzania."
    assert input_value(page, "phone") == "+233240000000"  # what was typed is kept
    assert '<option selected value="mpesa">' in page
    assert db.session.scalars(db.select(PaymentMethod)).all() == []


@pytest.mark.parametrize("phone", ["+2332400", "hello", "+999 123"])
def test_an_invalid_number_is_explained(portal_browser, phone):
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone=phone))
    assert response.status_code == 422
    assert field_error(body(response), "phone") == (
        "Enter a valid mobile number with its country code, e.g. +233 24 123 4567.")


def test_a_local_number_is_read_in_the_customers_country(portal_browser, customer):
    customer.address = {"line1": "1 Oxford St", "city": "Accra", "country": "GH", "line2": None, "state": None,
                        "postal_code": None}
    db.session.commit()
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="024 000 0000"))
    assert response.status_code == 303
    method = db.session.scalars(db.select(PaymentMethod)).one()
    assert (method.mm_country, method.mm_phone_last4) == ("GH", "0000")


def test_a_local_number_is_read_in_a_single_country_providers_country(portal_browser):
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, provider="telecel_cash",
                                                                phone="020 000 0000"))
    assert response.status_code == 303


def test_wallet_form_needs_a_provider_and_a_number(portal_browser):
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, provider="", phone=""))
    assert response.status_code == 422
    page = body(response)
    assert field_error(page, "provider") == "Choose your mobile money provider."
    assert field_error(page, "phone") == "Enter your mobile money number."


def test_an_unknown_provider_is_refused(portal_browser):
    response = portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, provider="paypal"))
    assert response.status_code == 422
    assert field_error(body(response), "provider")


def test_approval_of_a_card_is_not_found(portal_browser, customer):
    card = make_card(customer)
    assert portal_browser.get(f"{PAGE}/{card.id}/approval").status_code == 404


# --- default and removal ------------------------------------------------------------------------------------

def _post(browser, path, headers=None):
    token = csrf_token(page_text(browser, ADD_CARD))
    return browser.post(path, data={"csrf_token": token}, headers=headers)


def test_making_a_method_the_default(api, portal_browser, customer):
    make_card(customer, VISA)
    other = make_card(customer, "5555555555554444", default=False)
    response = _post(portal_browser, f"{PAGE}/{other.id}/default")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert "Mastercard ending in 4444 is now your default payment method." in page_text(portal_browser)
    db.session.refresh(customer)
    assert customer.default_payment_method_id == other.id
    [event] = events(api)
    assert event["data"]["object"]["id"] == other.id and event["request"]["source"] == "portal"
    assert events(api, "customer.updated")[0]["request"]["source"] == "portal"


def test_htmx_make_default_swaps_the_list_and_announces_it(portal_browser, customer):
    make_card(customer, VISA)
    other = make_card(customer, "5555555555554444", default=False)
    response = _post(portal_browser, f"{PAGE}/{other.id}/default", headers=HTMX)
    assert response.status_code == 200
    page = body(response)
    assert page.lstrip().startswith('<div id="payment-method-list"')
    assert page.index("4444") < page.index("4242")
    assert re.search(r'<div id="portal-status" hx-swap-oob="innerHTML"><p class="flash flash-success">'
                     r"Mastercard ending in 4444 is now your default payment method.</p></div>", page)


def test_a_wallet_still_waiting_cannot_be_the_default(api, portal_browser, customer):
    card = make_card(customer)
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233242222222"))
        wallet = db.session.scalars(db.select(PaymentMethod).where(PaymentMethod.type == "mobile_money")).one()
        response = _post(portal_browser, f"{PAGE}/{wallet.id}/default")
    assert response.status_code == 422
    assert "MTN MoMo ending in 2222 can't be your default until it is active." in body(response)
    db.session.refresh(customer)
    assert customer.default_payment_method_id == card.id


def test_removing_asks_first_then_removes(api, portal_browser, customer):
    make_card(customer, VISA)
    other = make_card(customer, "5555555555554444", default=False)
    ask = page_text(portal_browser, f"{PAGE}/{other.id}/remove")
    assert "Remove Mastercard ending in 4444?" in ask and "Yes, remove it" in ask
    assert "It won't be charged again." in ask
    assert "hx-post" not in ask  # a page of its own posts as a plain form: the list htmx would update is not there
    response = _post(portal_browser, f"{PAGE}/{other.id}/remove")
    assert response.status_code == 303
    page = page_text(portal_browser)
    assert "Mastercard ending in 4444 was removed." in page and "4444" not in page.replace("ending in 4444 was", "")
    assert db.session.get(PaymentMethod, other.id).detached_at is not None
    [event] = events(api)
    assert event["data"]["object"]["detached_at"] is not None and event["request"]["source"] == "portal"


def test_removing_the_default_makes_the_newest_other_active_method_the_default(portal_browser, customer):
    default = make_card(customer, VISA)
    newest = make_card(customer, "5555555555554444", default=False)
    ask = page_text(portal_browser, f"{PAGE}/{default.id}/remove")
    assert "It's your default, so your most recently added payment method becomes the default." in ask
    _post(portal_browser, f"{PAGE}/{default.id}/remove")
    db.session.refresh(customer)
    assert customer.default_payment_method_id == newest.id


def test_htmx_asks_in_place_and_cancel_puts_the_method_back(portal_browser, customer):
    card = make_card(customer)
    ask = portal_browser.get(f"{PAGE}/{card.id}/remove", headers=HTMX).get_data(as_text=True)
    assert ask.lstrip().startswith(f'<li class="card pm pm-active pm-default" id="{card.id}"')
    assert "Yes, remove it" in ask and 'hx-target="#payment-method-list"' in ask
    back = portal_browser.get(f"{PAGE}/{card.id}", headers=HTMX).get_data(as_text=True)
    assert back.lstrip().startswith(f'<li class="card pm pm-active pm-default" id="{card.id}"')
    assert "Yes, remove it" not in back
    plain = portal_browser.get(f"{PAGE}/{card.id}")
    assert plain.status_code == 303 and plain.headers["Location"] == f"{PAGE}#{card.id}"


def test_htmx_removal_swaps_the_list(portal_browser, customer):
    card = make_card(customer)
    response = _post(portal_browser, f"{PAGE}/{card.id}/remove", headers=HTMX)
    assert response.status_code == 200
    page = body(response)
    assert "You have no saved payment methods yet." in page and "Visa ending in 4242 was removed." in page


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_the_only_active_method_cannot_be_removed_while_a_subscription_needs_it(api, portal_browser, customer,
                                                                                merchant, status):
    card = make_card(customer)
    make_subscription(customer, make_plan(merchant[0]), status=status)
    page = page_text(portal_browser)
    assert "Visa ending in 4242 pays for your subscription, so it can't be removed" in page
    assert f"{card.id}/remove" not in page
    assert "can't remove your only payment method" in page_text(portal_browser, f"{PAGE}/{card.id}/remove")
    response = _post(portal_browser, f"{PAGE}/{card.id}/remove")
    assert response.status_code == 422
    assert ("You can't remove your only payment method while you have an active subscription. "
            "Add another payment method first.") in body(response)
    assert db.session.get(PaymentMethod, card.id).detached_at is None
    assert events(api) == []


def test_a_method_can_be_removed_when_another_active_one_remains_or_nothing_needs_it(portal_browser, customer,
                                                                                    merchant):
    plan = make_plan(merchant[0])
    make_subscription(customer, plan, status="canceled")
    make_subscription(customer, plan, status="paused")
    card = make_card(customer)
    assert _post(portal_browser, f"{PAGE}/{card.id}/remove").status_code == 303
    make_subscription(customer, plan)
    first, second = make_card(customer, VISA), make_card(customer, "5555555555554444", default=False)
    assert _post(portal_browser, f"{PAGE}/{first.id}/remove").status_code == 303
    assert _post(portal_browser, f"{PAGE}/{second.id}/remove").status_code == 422


def test_a_pending_wallet_does_not_count_as_a_method_to_fall_back_on(portal_browser, customer, merchant):
    card = make_card(customer)
    make_subscription(customer, make_plan(merchant[0]))
    with clock.frozen(clock.now()):
        portal_browser.post(ADD_WALLET, data=wallet_form(portal_browser, phone="+233242222222"))
        assert _post(portal_browser, f"{PAGE}/{card.id}/remove").status_code == 422
        wallet = db.session.scalars(db.select(PaymentMethod).where(PaymentMethod.type == "mobile_money")).one()
        assert _post(portal_browser, f"{PAGE}/{wallet.id}/remove").status_code == 303  # cancelling the wait


# --- another customer's methods, CSRF, configuration, preview ------------------------------------------------

def test_another_customers_method_is_not_found_exactly_like_a_missing_one(portal_browser, merchant, make_merchant):
    theirs = make_card(make_customer(merchant[0], name="Kofi"))
    elsewhere = make_card(make_customer(make_merchant("Globex")[0]))
    token = csrf_token(page_text(portal_browser, ADD_CARD))
    for path in ("{}", "{}/approval", "{}/remove"):
        missing = portal_browser.get(f"{PAGE}/" + path.format("pm_doesnotexist"))
        for method in (theirs, elsewhere):
            response = portal_browser.get(f"{PAGE}/" + path.format(method.id))
            assert response.status_code == 404 and response.get_data() == missing.get_data()
    for action in ("default", "remove"):
        missing = portal_browser.post(f"{PAGE}/pm_doesnotexist/{action}", data={"csrf_token": token})
        for method in (theirs, elsewhere):
            response = portal_browser.post(f"{PAGE}/{method.id}/{action}", data={"csrf_token": token})
            assert response.status_code == 404 and response.get_data() == missing.get_data()
    assert db.session.get(PaymentMethod, theirs.id).detached_at is None


def test_every_change_without_a_csrf_token_is_refused(portal_browser, customer):
    card = make_card(customer)
    other = make_card(customer, "5555555555554444", default=False)
    posts = [(ADD_CARD, card_form(portal_browser)), (ADD_WALLET, wallet_form(portal_browser)),
             (f"{PAGE}/{other.id}/default", {}), (f"{PAGE}/{card.id}/remove", {})]
    for path, data in posts:
        data.pop("csrf_token", None)
        assert portal_browser.post(path, data=data).status_code == 400, path
        assert portal_browser.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    assert len(db.session.scalars(db.select(PaymentMethod)).all()) == 2
    db.session.refresh(customer)
    assert customer.default_payment_method_id == card.id


def test_when_the_feature_is_off_every_route_refuses_and_links_are_hidden(api, portal_browser, customer):
    card = make_card(customer)
    token = csrf_token(page_text(portal_browser, ADD_CARD))
    configure(api, enabled=False)
    for path in (PAGE, ADD_CARD, ADD_WALLET, f"{PAGE}/{card.id}", f"{PAGE}/{card.id}/remove",
                 f"{PAGE}/{card.id}/approval"):
        response = portal_browser.get(path)
        assert response.status_code == 403, path
        assert "Payment methods can't be changed here. Contact Acme for help." in body(response)
    for path in (ADD_CARD, ADD_WALLET, f"{PAGE}/{card.id}/default", f"{PAGE}/{card.id}/remove"):
        assert portal_browser.post(path, data={"csrf_token": token}).status_code == 403, path
    assert db.session.get(PaymentMethod, card.id).detached_at is None


def test_only_the_types_the_merchant_offers_can_be_added(api, portal_browser):
    token = csrf_token(page_text(portal_browser, ADD_CARD))
    configure(api, types=["card"])
    page = page_text(portal_browser)
    assert f'href="{ADD_CARD}"' in page and ADD_WALLET not in page
    assert ADD_WALLET not in page_text(portal_browser, ADD_CARD)
    assert portal_browser.get(ADD_WALLET).status_code == 403
    response = portal_browser.post(ADD_WALLET, data={"csrf_token": token, "provider": "mtn_momo",
                                                     "phone": "+233240000000"})
    assert response.status_code == 403
    assert "This kind of payment method can't be added here." in body(response)
    configure(api, types=["mobile_money"])
    page = page_text(portal_browser)
    assert ADD_CARD not in page and f'href="{ADD_WALLET}"' in page
    assert "Add a card instead" not in page_text(portal_browser, ADD_WALLET)
    assert portal_browser.post(ADD_CARD, data={"csrf_token": token}).status_code == 403
    assert db.session.scalars(db.select(PaymentMethod)).all() == []


def test_a_support_preview_shows_forms_disabled_and_refuses_every_change(app, preview, portal_browser, customer):
    card = make_card(customer)
    other = make_card(customer, "5555555555554444", default=False)
    page = page_text(portal_browser)
    assert "Read-only preview" in page and f"{card.id}/remove" not in page
    assert re.search(r'Make default<span class="visually-hidden">', page)
    assert re.search(r'<button class="button button-secondary button-small" type="submit" disabled>', page)
    form = page_text(portal_browser, ADD_CARD)
    assert '<fieldset class="fields" disabled>' in form
    token = csrf_token(form)
    for path, data in ((ADD_CARD, {"number": VISA, "expiry": "12/40", "cvc": "123", "name": "A"}),
                       (ADD_WALLET, {"provider": "mtn_momo", "phone": "+233240000000"}),
                       (f"{PAGE}/{other.id}/default", {}), (f"{PAGE}/{card.id}/remove", {})):
        response = portal_browser.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
        assert "read-only preview" in body(response)
    assert len(db.session.scalars(db.select(PaymentMethod).where(PaymentMethod.detached_at.is_(None))).all()) == 2


def test_polling_after_the_session_ended_sends_htmx_to_the_expired_page(browser, create_session):
    with clock.frozen(clock.now()):
        browser.get(link_path(create_session()))
        browser.post(ADD_WALLET, data=wallet_form(browser, phone="+233242222222"))
        method = db.session.scalars(db.select(PaymentMethod)).one()
        clock.advance(1800)
        response = _poll(browser, method.id)
    assert response.headers["HX-Redirect"] == "/portal/expired"


def test_the_page_makes_a_bounded_number_of_queries(app, portal_browser, customer, merchant):
    from sqlalchemy import event

    def count_queries():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page_text(portal_browser)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    make_subscription(customer, make_plan(merchant[0]))
    make_card(customer)
    assert count_queries() <= 6  # the only active method: whether a subscription needs it is one more query
    make_card(customer, "5555555555554444", default=False)
    few = count_queries()
    for _ in range(20):
        make_card(customer, "5555555555554444", default=False)
    assert count_queries() == few <= 6
