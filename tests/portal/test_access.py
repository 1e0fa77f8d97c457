"""Inside the portal: the cookie decides who the customer is, until the session expires or is revoked."""
import pytest
from werkzeug.exceptions import NotFound

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PortalSession
from xtoportal.portal.access import (
    COOKIE_NAME, current_portal_session, enter_portal_session, portal_invoice_or_404, portal_subscription_or_404,
    portal_subscriptions,
)

from tests.factories import make_customer, make_plan

from .conftest import link_path
from .factories import make_subscription

HTMX = {"HX-Request": "true"}


def test_without_a_cookie_the_portal_is_forbidden_with_a_clear_page(browser):
    response = browser.get("/portal/")
    assert response.status_code == 403
    assert "open billing again" in response.get_data(as_text=True)


def test_a_cookie_with_a_guessed_browser_secret_is_forbidden(inside, other_browser):
    _, session = inside
    other_browser.set_cookie(COOKIE_NAME, f"{session['id']}.guessed-secret", path="/portal")
    response = other_browser.get("/portal/")
    assert response.status_code == 403
    assert "Ama Mensah" not in response.get_data(as_text=True)


def test_a_malformed_cookie_is_forbidden_not_an_error(other_browser):
    for value in ("", "nodot", ".", "sess_x.", "cus_abc.secret", "sess_" + "x" * 300 + ".s"):
        other_browser.set_cookie(COOKIE_NAME, value, path="/portal")
        assert other_browser.get("/portal/").status_code == 403, value


def test_session_ends_for_a_browser_inside_at_expires_at(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        browser.get(link_path(session))
        clock.advance(29 * 60 + 59)
        assert browser.get("/portal/").status_code == 200
        clock.advance(2)
        response = browser.get("/portal/")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "has ended" in page and "Return to Acme" in page
    assert "Ama Mensah" not in page


def test_revoking_sends_the_browser_inside_to_the_expired_page(api, inside):
    browser, session = inside
    assert browser.get("/portal/").status_code == 200
    revoked = api.post(f"/v1/customer_portal/sessions/{session['id']}/revoke").get_json()
    assert revoked["status"] == "revoked"
    response = browser.get("/portal/")
    assert response.status_code == 410
    assert 'href="https://acme.example/account"' in response.get_data(as_text=True)


def test_htmx_request_after_expiry_is_redirected_to_the_expired_page(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        browser.get(link_path(session))
        assert browser.get("/portal/", headers=HTMX).status_code == 200
        clock.advance(1801)
        response = browser.get("/portal/", headers=HTMX)
        assert response.status_code == 200
        assert response.headers["HX-Redirect"] == "/portal/expired"
        assert "Ama Mensah" not in response.get_data(as_text=True)
        expired_page = browser.get(response.headers["HX-Redirect"])
    assert expired_page.status_code == 410
    assert "Return to Acme" in expired_page.get_data(as_text=True)


def test_htmx_request_after_revoke_is_redirected(api, inside):
    browser, session = inside
    api.post(f"/v1/customer_portal/sessions/{session['id']}/revoke")
    response = browser.get("/portal/", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/portal/expired"


def test_htmx_request_without_a_cookie_is_redirected_rather_than_failing_silently(browser):
    # The cookie itself is gone once the session expires, so a page left open has none to send.
    response = browser.get("/portal/", headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/portal/expired"


def test_expired_page_without_a_session_still_explains(browser):
    response = browser.get("/portal/expired")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "has ended" in page and "Return to" not in page


def test_expired_page_sends_a_browser_still_inside_back_to_the_overview(inside):
    browser, _ = inside
    response = browser.get("/portal/expired")
    assert response.status_code == 303 and response.headers["Location"] == "/portal/"


def test_portal_pages_are_never_cached(inside):
    browser, _ = inside
    response = browser.get("/portal/")
    assert response.headers["Cache-Control"] == "no-store"
    # Not no-referrer inside: Flask-WTF's CSRF check under https needs the same-origin Referer.
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_current_portal_session_is_the_cookies_live_session(app, inside):
    browser, session = inside
    cookie = browser.get_cookie(COOKIE_NAME, path="/portal")
    with app.test_request_context("/portal/", headers={"Cookie": f"{COOKIE_NAME}={cookie.value}"}):
        assert current_portal_session().id == session["id"]
        db.session.get(PortalSession, session["id"]).revoked_at = clock.now()
        assert current_portal_session() is None
    db.session.rollback()


def _enter(app, session_id):
    context = app.test_request_context("/portal/")
    context.push()
    enter_portal_session(db.session.get(PortalSession, session_id))
    return context


def test_portal_loaders_only_find_the_customers_own_objects(app, merchant, make_merchant, customer, inside):
    _, session = inside
    plan = make_plan(merchant[0])
    own = make_subscription(customer, plan)
    neighbour = make_subscription(make_customer(merchant[0], name="Kofi"), plan)
    globex, _ = make_merchant("Globex")
    foreign = make_subscription(make_customer(globex, name="Zed"), make_plan(globex))
    context = _enter(app, session["id"])
    try:
        assert portal_subscription_or_404(own.id).id == own.id
        assert [s.id for s in portal_subscriptions()] == [own.id]
        for other in (neighbour.id, foreign.id, "sub_missing", None):
            with pytest.raises(NotFound):
                portal_subscription_or_404(other)
        with pytest.raises(NotFound):
            portal_invoice_or_404("in_missing")
    finally:
        context.pop()


def test_session_locale_chooses_the_language_of_the_page(browser, create_session, customer, merchant):
    make_subscription(customer, make_plan(merchant[0], amount=5000, currency="ghs"), anchor=1_700_000_000)
    browser.get(link_path(create_session(locale="fr")))
    page = browser.get("/portal/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "50,00" in page  # French number format
    assert "14 déc. 2023" in page


def test_auto_locale_follows_the_browser(browser, create_session, customer, merchant):
    make_subscription(customer, make_plan(merchant[0], amount=5000, currency="ghs"), anchor=1_700_000_000)
    browser.get(link_path(create_session(locale="auto")))
    french = browser.get("/portal/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="fr">' in french
    page = browser.get("/portal/", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "GH₵50.00" in page and "Dec 14, 2023" in page


def test_auto_locale_without_a_browser_preference_uses_the_customers(browser, api, create_session, customer):
    api.post(f"/v1/customers/{customer.id}", json={"preferred_locale": "fr"})
    browser.get(link_path(create_session(locale="auto")))
    assert '<html lang="fr">' in browser.get("/portal/").get_data(as_text=True)
