"""Opening a portal link: the token becomes a cookie once, in one browser, and never shows up in a URL again."""
import threading

import pytest

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PortalSession
from xtoportal.portal.access import COOKIE_NAME, open_portal_link
from xtoportal.portal.tokens import sign_portal_token

from .conftest import link_path


def _set_cookie_header(response) -> str:
    [header] = [value for name, value in response.headers if name == "Set-Cookie" and value.startswith(COOKIE_NAME)]
    return header


def test_opening_the_link_redirects_to_a_url_without_the_token(browser, create_session):
    session = create_session()
    response = browser.get(link_path(session))
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal/"
    assert "sess_" not in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_redirect_sets_an_httponly_lax_cookie_bound_to_the_session(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        cookie = _set_cookie_header(browser.get(link_path(session)))
    assert cookie.startswith(f"{COOKIE_NAME}={session['id']}.")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/portal" in attributes
    assert "secure" not in attributes  # PUBLIC_URL is http:// in tests
    assert f"max-age={1800 + 3600}" in attributes


def test_cookie_is_secure_when_the_portal_is_served_over_https(app, browser, create_session):
    app.config["PUBLIC_URL"] = "https://billing.example"
    session = create_session()
    assert session["url"].startswith("https://billing.example/portal/sess_")
    cookie = _set_cookie_header(browser.get(link_path(session)))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_the_cookie_outlives_the_session_by_the_grace_hour_only(browser, create_session):
    from xtoportal.portal.access import COOKIE_GRACE
    with clock.frozen(1_700_000_000):
        session = create_session()
        clock.advance(600)
        cookie = _set_cookie_header(browser.get(link_path(session)))
    assert f"max-age={1200 + COOKIE_GRACE}" in [part.strip().lower() for part in cookie.split(";")]


def test_after_expiry_the_inside_browser_gets_the_expired_page_with_a_way_back(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        browser.get(link_path(session))
        clock.advance(1801)
        response = browser.get("/portal/")
    assert response.status_code == 410
    assert session["return_url"].encode() in response.data


def test_after_the_redirect_the_customer_is_inside(browser, create_session):
    session = create_session()
    response = browser.get(link_path(session), follow_redirects=True)
    assert response.status_code == 200
    assert response.request.path == "/portal/"
    assert "Ama Mensah" in response.get_data(as_text=True)


def test_opening_marks_the_session_redeemed(api, browser, create_session):
    session = create_session()
    assert api.get(f"/v1/customer_portal/sessions/{session['id']}").get_json()["status"] == "active"
    browser.get(link_path(session))
    assert api.get(f"/v1/customer_portal/sessions/{session['id']}").get_json()["status"] == "redeemed"
    row = db.session.get(PortalSession, session["id"])
    assert row.redeemed_at is not None and len(row.browser_hash) == 64


def test_the_browser_secret_is_stored_only_as_a_hash(browser, create_session):
    session = create_session()
    cookie = _set_cookie_header(browser.get(link_path(session)))
    browser_secret = cookie.split(";")[0].split("=", 1)[1].split(".", 1)[1]
    row = db.session.get(PortalSession, session["id"])
    assert browser_secret not in row.browser_hash


def test_the_same_browser_opening_the_link_again_is_let_back_in(browser, create_session):
    session = create_session()
    browser.get(link_path(session))
    again = browser.get(link_path(session))
    assert again.status_code == 303
    assert again.headers["Location"] == "/portal/"
    assert not [v for n, v in again.headers if n == "Set-Cookie"]  # the first cookie stays valid
    assert browser.get("/portal/").status_code == 200


def test_another_browser_opening_a_used_link_gets_410_with_a_way_back(browser, other_browser, create_session):
    session = create_session()
    browser.get(link_path(session))
    response = other_browser.get(link_path(session))
    assert response.status_code == 410
    assert response.headers["Referrer-Policy"] == "no-referrer"  # its way back must not carry the token along
    page = response.get_data(as_text=True)
    assert "already been used" in page
    assert 'href="https://acme.example/account"' in page
    assert "Return to Acme" in page
    assert "Ama Mensah" not in page and "ama@example.com" not in page
    assert other_browser.get("/portal/").status_code == 403
    assert browser.get("/portal/").status_code == 200


def test_a_stolen_cookie_of_another_session_does_not_let_a_browser_reuse_a_link(
        browser, other_browser, create_session):
    first, second = create_session(), create_session()
    browser.get(link_path(first))
    other_browser.get(link_path(second))
    # The other browser holds a valid cookie, but for another session: the first link stays used for it.
    assert other_browser.get(link_path(first)).status_code == 410


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _neighbour(char: str) -> str:
    """The base64url character that differs only in its lowest bit (the bit a decoder may drop), or "A"."""
    return _BASE64URL[_BASE64URL.index(char) ^ 1] if char in _BASE64URL else "A"


def test_any_one_changed_character_makes_the_link_forbidden(browser, create_session):
    session = create_session()
    token = link_path(session).removeprefix("/portal/")
    for position in range(len("sess_"), len(token)):
        changed = token[:position] + _neighbour(token[position]) + token[position + 1:]
        response = browser.get(f"/portal/{changed}")
        assert response.status_code == 403, (position, changed)
        page = response.get_data(as_text=True)
        assert "isn't valid" in page
        assert "acme.example" not in page and "Ama Mensah" not in page
    assert db.session.get(PortalSession, session["id"]).redeemed_at is None
    assert browser.get(link_path(session)).status_code == 303


def test_a_token_without_its_signature_is_forbidden(browser, create_session):
    session = create_session()
    assert browser.get(f"/portal/{session['id']}").status_code == 403
    assert browser.get(f"/portal/{session['id']}.AAAA.BBBB").status_code == 403


def test_a_token_signed_with_another_key_is_forbidden(app, browser, create_session):
    session = create_session()
    app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = "an-attackers-guess", []
    forged = sign_portal_token(db.session.get(PortalSession, session["id"]))
    app.config["SECRET_KEY"] = "test-secret-key-only-for-tests"
    assert browser.get(f"/portal/{forged}").status_code == 403


def test_a_link_signed_with_the_previous_key_still_opens_after_rotation(app, browser, create_session):
    session = create_session()
    app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = "a-new-key", ["test-secret-key-only-for-tests"]
    assert browser.get(link_path(session)).status_code == 303
    # New links are signed with the newest key.
    fresh = create_session()
    app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = "a-new-key", []
    assert browser.get(link_path(fresh)).status_code == 303


def test_a_signed_token_for_a_session_that_does_not_exist_is_forbidden(browser):
    forged = sign_portal_token(PortalSession(id="sess_" + "x" * 22))
    assert browser.get(f"/portal/{forged}").status_code == 403


def test_a_path_that_is_not_a_token_is_not_found(browser):
    assert browser.get("/portal/favicon.ico").status_code == 404


def test_link_opens_until_the_last_second_of_its_thirty_minutes(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        clock.advance(29 * 60 + 59)
        assert browser.get(link_path(session)).status_code == 303


def test_expired_link_shows_return_button(browser, create_session):
    with clock.frozen(1_700_000_000):
        session = create_session()
        assert session["expires_at"] == 1_700_000_000 + 1800
        clock.advance(30 * 60 + 1)
        response = browser.get(link_path(session))
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "has ended" in page
    assert 'href="https://acme.example/account"' in page and "Return to Acme" in page
    assert "Ama Mensah" not in page


def test_revoked_link_does_not_open(api, browser, create_session):
    session = create_session()
    api.post(f"/v1/customer_portal/sessions/{session['id']}/revoke")
    response = browser.get(link_path(session))
    assert response.status_code == 410
    assert "Return to Acme" in response.get_data(as_text=True)
    assert browser.get("/portal/").status_code == 403


def test_only_one_of_two_browsers_racing_for_a_link_wins(app, create_session):
    """The second redemption reads the session before the first commits: its conditional UPDATE must lose."""
    session = create_session()
    token = link_path(session).removeprefix("/portal/")
    with app.test_request_context("/portal/" + token):
        stale = db.session.get(PortalSession, session["id"])  # read while still unredeemed
        assert stale.redeemed_at is None
        with db.engine.begin() as other_browser:  # meanwhile, another browser's request commits its redemption
            other_browser.execute(db.update(PortalSession).where(PortalSession.id == session["id"])
                                  .values(redeemed_at=clock.now(), browser_hash="0" * 64))
        outcome = open_portal_link(token)
        db.session.commit()
    assert outcome.kind == "used" and outcome.browser_secret is None
    assert db.session.get(PortalSession, session["id"]).browser_hash == "0" * 64


def test_the_token_never_appears_in_the_request_log(app, browser, other_browser, create_session, caplog):
    import logging
    request_logger = logging.getLogger("xtoportal.requests")
    request_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="xtoportal.requests"):
            session = create_session()
            token = link_path(session).removeprefix("/portal/")
            browser.get(link_path(session))
            other_browser.get(link_path(session))
            browser.get("/portal/" + token[:-1] + "x")
            browser.get("/portal/")
    finally:
        request_logger.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records if record.name == "xtoportal.requests"]
    assert sum('"/portal/[token]"' in line for line in lines) == 3
    signature = token.rsplit(".", 1)[1]
    assert not [line for line in lines if token in line or signature in line]
    assert session["url"] not in caplog.text


@pytest.mark.postgres
def test_many_browsers_opening_one_link_at_once_let_exactly_one_in(app, create_session):
    session = create_session()
    token = link_path(session).removeprefix("/portal/")
    start = threading.Barrier(6)
    outcomes = []

    def open_in_a_browser():
        with app.test_request_context(f"/portal/{token}"):
            start.wait()
            outcome = open_portal_link(token)
            db.session.commit()
            outcomes.append(outcome.kind)
            db.session.remove()

    threads = [threading.Thread(target=open_in_a_browser) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["entered"] + ["used"] * 5
