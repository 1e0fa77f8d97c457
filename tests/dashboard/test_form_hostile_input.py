"""Regression tests for what form fuzzing (tests/hardening/test_fuzz_dashboard_forms.py) found in the dashboard:
NUL characters (which PostgreSQL refuses to store or compare), digits that are not ASCII and cursors too large for
their column get a message beside the field or are ignored, never a 500, and nothing is half-written."""
import html
import re

import pytest

from tests.factories import make_customer, make_plan
from xtoportal.events import Origin, emit
from xtoportal.extensions import db

from .conftest import settings_form
from .test_roles import state
from .test_settings import config, field_error

CONTROL = "Remove the invisible control characters (such as NUL) from this field."


@pytest.fixture
def many_sign_ins(app):
    app.config.update(SIGN_IN_LIMIT_PER_ADDRESS="1000 per minute", SIGN_IN_LIMIT_PER_ACCOUNT="1000 per hour")


def test_sign_in_with_nul_in_the_email_is_a_failed_sign_in(app, owner, many_sign_ins):
    from .conftest import StaffBrowser
    browser = StaffBrowser(app.test_client(), None)
    response = browser.post("/dashboard/sign-in", {"email": owner.email + "\x00", "password": "correct horse battery"})
    assert response.status_code == 422
    assert "That email and password do not match" in response.get_data(as_text=True)


def test_nul_in_the_business_name_is_refused_beside_the_field_and_nothing_is_saved(as_owner, acme):
    before = state()
    response = as_owner.post("/dashboard/settings/portal", settings_form(
        config(acme).document, branding__business_name="Acme\x00Cloud", branding__primary_color="#000000"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "branding.business_name") == CONTROL
    assert re.search(r'<input[^>]*name="branding.business_name"[^>]*aria-invalid="true"', page)
    assert state() == before


def test_nul_in_an_offered_plan_is_refused_in_the_form_and_in_the_preview(as_owner, acme):
    before = state()
    form = settings_form(config(acme).document, features__subscription_update__plans=["plan_\x00"])
    response = as_owner.post("/dashboard/settings/portal", form)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "features.subscription_update.plans") == CONTROL
    assert as_owner.post("/dashboard/settings/portal/preview", form).status_code == 200
    assert state() == before


@pytest.mark.parametrize("position", ["²", "١", "99999999"])
def test_a_plan_position_that_is_not_a_small_ascii_number_keeps_the_page_order(as_owner, acme, position):
    first, second = make_plan(acme, 1000, name="Lite").id, make_plan(acme, 9000, name="Max").id
    form = settings_form(config(acme).document, features__subscription_update__plans=[first, second])
    form.add(f"plan_position.{first}", position)
    form.add(f"plan_position.{second}", "1")
    response = as_owner.post("/dashboard/settings/portal", form)
    assert response.status_code == 303
    assert config(acme).document["features"]["subscription_update"]["plans"] == [second, first]


def test_nul_in_a_webhook_description_is_refused_beside_the_field(as_owner):
    before = state()
    response = as_owner.post("/dashboard/developers/webhooks", {
        "url": "http://127.0.0.1:9/hook", "description": "Orders\x00", "enabled_events": "*"})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert re.search(r'<input[^>]*name="description"[^>]*aria-invalid="true"', page)
    assert f'id="endpoint-description-error">{CONTROL}<' in page
    assert state() == before


def test_a_webhook_without_events_marks_the_event_choices_invalid(as_owner):
    response = as_owner.post("/dashboard/developers/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'<input type="checkbox" name="enabled_events"[^>]*aria-invalid="true"', page)
    assert 'id="endpoint-events-error"' in page


def test_a_customer_search_with_nul_searches_without_it(as_owner, acme):
    make_customer(acme, name="Ama Mensah", email="ama@example.com")
    response = as_owner.get("/dashboard/customers?q=ama%00")
    assert response.status_code == 200 and "ama@example.com" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/dashboard/customers?before=%C2%B2",
                                  "/dashboard/customers?before=99999999999999999999",
                                  "/dashboard/developers/events?before=%D9%A1",
                                  "/dashboard/audit-log?before=1700000000000000"])
def test_a_list_cursor_that_its_column_cannot_hold_shows_the_first_page(as_owner, acme, path):
    customer = make_customer(acme, name="Ama Mensah", email="ama@example.com")
    emit(acme.id, "customer.updated", customer.to_api(), Origin("api"))
    db.session.commit()
    assert as_owner.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/dashboard/developers/webhooks/we_%00", "/dashboard/customers/cus_%00"])
def test_nul_in_an_id_is_not_found(as_owner, path):
    assert as_owner.get(path).status_code == 404


def test_a_plan_that_does_not_exist_marks_the_plan_choices_invalid(as_owner, acme):
    make_plan(acme, 1000, name="Lite")
    response = as_owner.post("/dashboard/settings/portal", settings_form(
        config(acme).document, features__subscription_update__plans=[""]))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "features.subscription_update.plans")
    assert re.search(r'<input type="checkbox"[^>]*name="features.subscription_update.plans"[^>]*aria-invalid="true"',
                     page)
