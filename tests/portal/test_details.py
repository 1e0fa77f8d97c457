"""Billing details in the portal: the fields the merchant allows, validated on the server with each message beside
its field and everything typed kept; `customer.updated` with what changed."""
import html
import re

import pytest
from flask import g

from xtoportal.extensions import db

from .conftest import link_path

HTMX = {"HX-Request": "true"}
PAGE = "/portal/details"
ADDRESS = {"line1": "14 Oxford Street", "line2": "Osu", "city": "Accra", "state": "Greater Accra",
           "postal_code": "GA-123", "country": "GH"}


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)


def body(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def page_text(browser) -> str:
    response = browser.get(PAGE)
    assert response.status_code == 200
    return body(response)


def details(browser, **fields) -> dict:
    data = {"name": "Ama Mensah", "email": "ama@example.com", "phone": "+233 24 412 3456",
            **{f"address-{key}": value for key, value in ADDRESS.items()}}
    data.update({key.replace("address_", "address-"): value for key, value in fields.items()})
    data["csrf_token"] = csrf_token(page_text(browser))
    return data


def field_error(page: str, field_id: str) -> str | None:
    error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    if error is None:
        return None
    control = re.search(rf'<(input|select)[^>]*id="{field_id}"[^>]*>', page).group(0)
    assert f"{field_id}-error" in control and 'aria-invalid="true"' in control, "message not tied to its field"
    return re.sub(r"<[^>]+>", "", error.group(1)).replace("Error: ", "").strip()


def input_value(page: str, field_id: str) -> str | None:
    value = re.search(rf'<input[^>]*?id="{field_id}"[^>]*?value="([^"]*)"', page)
    return value.group(1) if value else None


def selected(page: str, field_id: str) -> str | None:
    select = re.search(rf'<select[^>]*id="{field_id}"[^>]*>(.*?)</select>', page, re.S).group(1)
    option = re.search(r'<option selected value="([^"]*)"', select)
    return option.group(1) if option else None


def events(api, type="customer.updated") -> list[dict]:
    return api.get(f"/v1/events?type={type}").get_json()["data"]


def allow(api, *fields, enabled=True):
    response = api.post("/v1/customer_portal/configuration", json={"features": {"customer_update": {
        "enabled": enabled, "allowed_updates": list(fields) or ["name", "email", "phone", "address"]}}})
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def portal_browser(inside):
    return inside[0]


def test_page_shows_the_customers_details_in_the_form(api, portal_browser, customer):
    api.post(f"/v1/customers/{customer.id}", json={"phone": "+233244123456", "address": ADDRESS})
    page = page_text(portal_browser)
    assert input_value(page, "name") == "Ama Mensah" and input_value(page, "email") == "ama@example.com"
    assert input_value(page, "phone") == "+233 24 412 3456"
    assert input_value(page, "address-line1") == "14 Oxford Street" and input_value(page, "address-city") == "Accra"
    assert selected(page, "address-country") == "GH"
    for field_id, autocomplete in (("name", "name"), ("email", "email"), ("phone", "tel"),
                                   ("address-line1", "address-line1"), ("address-postal_code", "postal-code")):
        assert f'autocomplete="{autocomplete}"' in re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page).group(0)
        assert f'<label class="field-label" for="{field_id}">' in page


def test_countries_are_named_in_the_sessions_language(browser, create_session):
    browser.get(link_path(create_session(locale="fr")))
    page = page_text(browser)
    assert '<option value="DE">Allemagne</option>' in page and '<option value="CI">Côte d’Ivoire</option>' in page


def test_saving_changes_the_customer_and_announces_what_changed(api, portal_browser, customer):
    response = portal_browser.post(PAGE, data=details(portal_browser, name="Ama K. Mensah",
                                                      email="ama.mensah@example.com"))
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert "Your billing details are saved." in page_text(portal_browser)
    saved = api.get(f"/v1/customers/{customer.id}").get_json()
    assert saved["name"] == "Ama K. Mensah" and saved["email"] == "ama.mensah@example.com"
    assert saved["phone"] == "+233244123456"
    assert saved["address"] == ADDRESS
    [event] = events(api)
    assert event["request"]["source"] == "portal"
    assert event["data"]["previous_attributes"] == {"name": "Ama Mensah", "email": "ama@example.com",
                                                    "phone": None, "address": None}
    assert event["data"]["object"]["name"] == "Ama K. Mensah"


def test_saving_nothing_new_announces_nothing(api, portal_browser):
    data = details(portal_browser, phone="", **{f"address_{key}": "" for key in ADDRESS})
    assert portal_browser.post(PAGE, data=data).status_code == 303
    assert events(api) == []


def test_a_local_phone_number_is_read_in_the_address_country(api, portal_browser, customer):
    portal_browser.post(PAGE, data=details(portal_browser, phone="024 412 3456"))
    assert api.get(f"/v1/customers/{customer.id}").get_json()["phone"] == "+233244123456"


def test_clearing_the_address_and_phone_removes_them(api, portal_browser, customer):
    api.post(f"/v1/customers/{customer.id}", json={"phone": "+233244123456", "address": ADDRESS})
    data = details(portal_browser, phone="", **{f"address_{key}": "" for key in ADDRESS})
    portal_browser.post(PAGE, data=data)
    saved = api.get(f"/v1/customers/{customer.id}").get_json()
    assert saved["phone"] is None and saved["address"] is None


@pytest.mark.parametrize("fields, field_id, message", [
    ({"name": "  "}, "name", "Enter your name."),
    ({"email": ""}, "email", "Enter your email address."),
    ({"email": "ama@"}, "email", "Enter an email address like name@example.com."),
    ({"phone": "12345"}, "phone", "Enter a valid phone number with its country code, e.g. +233 24 123 4567."),
    ({"name": "A" * 201}, "name", "Field cannot be longer than 200 characters."),
    ({"address_line1": ""}, "address-line1", "Enter the first line of your address."),
    ({"address_city": ""}, "address-city", "Enter your city or town."),
    ({"address_country": ""}, "address-country", "Choose your country."),
])
def test_each_problem_is_shown_beside_its_field_and_nothing_is_saved(api, portal_browser, customer, fields,
                                                                     field_id, message):
    response = portal_browser.post(PAGE, data=details(portal_browser, **fields))
    assert response.status_code == 422
    page = body(response)
    assert field_error(page, field_id) == message
    assert f'<a href="#{field_id}">{message}</a>' in page  # and in the summary at the top
    assert "<html" in page
    assert events(api) == []
    db.session.refresh(customer)
    assert customer.address is None and customer.phone is None


def test_a_form_with_problems_keeps_everything_typed(portal_browser):
    data = details(portal_browser, name="Kwame <b>Asante</b>", email="not-an-email", phone="+233 24 999",
                   address_line1="22 Prempeh II St", address_city="", address_country="GH")
    page = body(portal_browser.post(PAGE, data=data))
    assert input_value(page, "name") == "Kwame <b>Asante</b>" and input_value(page, "email") == "not-an-email"
    assert input_value(page, "phone") == "+233 24 999" and input_value(page, "address-line1") == "22 Prempeh II St"
    assert selected(page, "address-country") == "GH"
    assert field_error(page, "email") and field_error(page, "phone") and field_error(page, "address-city")


def test_what_was_typed_comes_back_escaped(portal_browser):
    data = details(portal_browser, name='"><script>alert(1)</script>', email="")
    raw = portal_browser.post(PAGE, data=data).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in raw and "&lt;script&gt;" in raw


def test_an_address_needs_its_first_line_city_and_country_once_any_part_is_given(portal_browser):
    data = details(portal_browser, **{f"address_{key}": "" for key in ADDRESS if key != "postal_code"})
    page = body(portal_browser.post(PAGE, data=data))
    assert field_error(page, "address-line1") and field_error(page, "address-city")
    assert field_error(page, "address-country") and not field_error(page, "address-postal_code")


def test_an_unknown_country_is_refused(portal_browser):
    response = portal_browser.post(PAGE, data=details(portal_browser, address_country="XX"))
    assert response.status_code == 422 and field_error(body(response), "address-country")


def test_htmx_gets_the_form_back_with_its_problems(portal_browser):
    response = portal_browser.post(PAGE, data=details(portal_browser, email="ama@"), headers=HTMX)
    assert response.status_code == 422
    page = body(response)
    assert page.lstrip().startswith('<form class="card task-form" id="details-form"')
    assert 'hx-target="this"' in page and "<html" not in page
    assert re.search(r'<div class="form-alert" role="alert" tabindex="-1" autofocus>', page)


def test_htmx_save_returns_the_saved_form_and_the_message_for_the_status_region(portal_browser):
    response = portal_browser.post(PAGE, data=details(portal_browser, name="Ama K. Mensah"), headers=HTMX)
    assert response.status_code == 200
    page = body(response)
    assert input_value(page, "name") == "Ama K. Mensah" and input_value(page, "phone") == "+233 24 412 3456"
    assert re.search(r'<div id="portal-status" hx-swap-oob="innerHTML"><p class="flash flash-success">'
                     r"Your billing details are saved.</p></div>", page)


def test_only_the_fields_the_merchant_allows_are_shown_and_saved(api, portal_browser, customer):
    allow(api, "address", "phone")
    page = page_text(portal_browser)
    assert 'id="name"' not in page and 'id="email"' not in page
    assert 'id="phone"' in page and 'id="address-line1"' in page
    data = details(portal_browser, phone="+233 24 412 3456")
    del data["name"], data["email"]
    assert portal_browser.post(PAGE, data=data).status_code == 303
    saved = api.get(f"/v1/customers/{customer.id}").get_json()
    assert saved["address"]["city"] == "Accra" and saved["name"] == "Ama Mensah"


def test_a_field_the_merchant_does_not_allow_is_refused_when_posted_anyway(api, portal_browser, customer):
    allow(api, "address")
    for tampered in ({"email": "thief@example.com"}, {"name": "Someone Else"}, {"phone": "+233244123456"}):
        data = details(portal_browser)
        for name in ("name", "email", "phone"):
            data.pop(name)
        response = portal_browser.post(PAGE, data={**data, **tampered})
        assert response.status_code == 403
        assert "Some of these details can't be changed here." in body(response)
    allow(api, "email")
    data = details(portal_browser)
    response = portal_browser.post(PAGE, data={"csrf_token": data["csrf_token"], "email": "a@example.com",
                                               "address-city": "Kumasi"})
    assert response.status_code == 403
    assert events(api) == []
    db.session.refresh(customer)
    assert customer.email == "ama@example.com" and customer.address is None


def test_when_the_feature_is_off_the_page_and_the_post_are_refused(api, portal_browser, customer):
    token = csrf_token(page_text(portal_browser))
    allow(api, enabled=False)
    assert portal_browser.get(PAGE).status_code == 403
    response = portal_browser.post(PAGE, data={"csrf_token": token, "name": "Someone Else"})
    assert response.status_code == 403
    assert "Billing details can't be changed here." in body(response)
    db.session.refresh(customer)
    assert customer.name == "Ama Mensah"


def test_a_post_without_a_csrf_token_is_refused(portal_browser, customer):
    data = details(portal_browser, name="Someone Else")
    del data["csrf_token"]
    assert portal_browser.post(PAGE, data=data).status_code == 400
    assert portal_browser.post(PAGE, data={**data, "csrf_token": "forged"}).status_code == 400
    db.session.refresh(customer)
    assert customer.name == "Ama Mensah"


def test_a_support_preview_shows_the_form_disabled_and_refuses_saving(app, portal_browser, customer):
    app.before_request_funcs.setdefault(None, []).append(lambda: setattr(g, "portal_preview", True))
    page = page_text(portal_browser)
    assert '<fieldset class="fields" disabled>' in page and "Read-only preview" in page
    response = portal_browser.post(PAGE, data=details(portal_browser, name="Someone Else"))
    assert response.status_code == 403
    db.session.refresh(customer)
    assert customer.name == "Ama Mensah"


def test_without_a_session_the_page_is_forbidden(browser):
    assert browser.get(PAGE).status_code == 403
    assert browser.post(PAGE, data={}).status_code in (400, 403)
