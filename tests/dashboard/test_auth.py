"""Signing in and out: argon2 passwords, a brand-new session at sign-in, limited failed attempts, and every route
closed to a browser that is not signed in."""
import pytest

from xtoportal import clock
from xtoportal.dashboard import bp
from xtoportal.dashboard.auth import PUBLIC_ENDPOINTS, SESSION_KEY
from xtoportal.extensions import db
from xtoportal.merchants import hash_password
from xtoportal.models import AuditEntry

from .conftest import PASSWORD, StaffBrowser


def sign_in(client, email, password, **extra):
    browser = StaffBrowser(client, None)
    return browser.post("/dashboard/sign-in", {"email": email, "password": password, **extra})


def dashboard_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("dashboard.")]


def test_the_owner_signs_in_and_lands_on_the_dashboard(app, owner):
    client = app.test_client()
    response = sign_in(client, owner.email, PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/customers").get_data(as_text=True)
    assert owner.email in page and "Sign out" in page
    db.session.refresh(owner)
    assert owner.last_login_at == clock.now() or owner.last_login_at >= clock.now() - 5
    entry = db.session.scalars(db.select(AuditEntry).filter_by(action="staff.signed_in")).one()
    assert entry.staff_user_id == owner.id and entry.remote_addr == "127.0.0.1"


def test_email_is_case_insensitive(app, owner):
    assert sign_in(app.test_client(), owner.email.upper(), PASSWORD).status_code == 303


@pytest.mark.parametrize("email,password", [("owner1@acme.test", "wrong password"), ("nobody@acme.test", PASSWORD),
                                            ("", "")])
def test_wrong_credentials_get_one_message_and_no_session(app, owner, email, password):
    client = app.test_client()
    response = sign_in(client, email, password)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "That email and password do not match a dashboard account." in page
    assert client.get("/dashboard/customers").status_code == 303


def test_sign_in_starts_a_new_session(app, owner):
    client = app.test_client()
    browser = StaffBrowser(client, None)
    token_before = browser.csrf_token()
    with client.session_transaction() as session:
        session["planted_by_attacker"] = "x"
        session["portal_preview"] = {"staff_user_id": "usr_x", "customer_id": "cus_x", "expires": 2**40}
    assert browser.post("/dashboard/sign-in", {"email": owner.email, "password": PASSWORD}).status_code == 303
    with client.session_transaction() as session:
        assert "planted_by_attacker" not in session and "portal_preview" not in session
        assert session[SESSION_KEY]["id"] == owner.id
        assert "csrf_token" not in session  # the token of the anonymous page is gone with the old session
    page = client.get("/dashboard/customers").get_data(as_text=True)
    assert token_before not in page


def test_next_goes_back_to_the_page_asked_for_but_never_off_site(app, owner):
    response = app.test_client().get("/dashboard/settings/portal")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/sign-in?next=/dashboard/settings/portal"
    ok = sign_in(app.test_client(), owner.email, PASSWORD, next="/dashboard/settings/portal")
    assert ok.headers["Location"] == "/dashboard/settings/portal"
    for hostile in ("https://evil.example/", "//evil.example/dashboard/", "/\\evil.example", "/portal/"):
        response = sign_in(app.test_client(), owner.email, PASSWORD, next=hostile)
        assert response.headers["Location"] == "/dashboard/", hostile


def test_failed_attempts_are_limited_per_address(app, owner):
    app.config["SIGN_IN_LIMIT_PER_ADDRESS"] = "3 per minute"
    client = app.test_client()
    for _ in range(3):
        assert sign_in(client, owner.email, "wrong").status_code == 422
    refused = sign_in(client, owner.email, PASSWORD)
    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/dashboard/customers").status_code == 303  # the right password did not get in either


def test_failed_attempts_on_one_account_are_limited_from_any_address(app, owner):
    app.config["SIGN_IN_LIMIT_PER_ACCOUNT"] = "4 per hour"
    for attempt in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.{attempt}.1"
        assert sign_in(client, owner.email, "wrong").status_code == 422
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.1.0.1"
    assert sign_in(client, owner.email, PASSWORD).status_code == 429
    other_account = app.test_client()
    assert sign_in(other_account, "someone.else@acme.test", "wrong").status_code == 422


def test_successful_sign_ins_are_not_counted_as_attempts(app, owner):
    app.config["SIGN_IN_LIMIT_PER_ADDRESS"] = "2 per minute"
    for _ in range(4):
        assert sign_in(app.test_client(), owner.email, PASSWORD).status_code == 303


def test_sign_out_is_a_post_and_ends_the_session(as_owner):
    assert as_owner.get("/dashboard/sign-out").status_code == 405
    response = as_owner.post("/dashboard/sign-out")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/sign-in"
    assert "You are signed out." in as_owner.text("/dashboard/sign-in")
    assert as_owner.get("/dashboard/customers").status_code == 303


def test_a_changed_password_signs_other_browsers_out(as_owner, owner):
    assert as_owner.get("/dashboard/customers").status_code == 200
    owner.password_hash = hash_password("a new password entirely")
    db.session.commit()
    assert as_owner.get("/dashboard/customers").status_code == 303


def test_a_sign_in_lasts_twelve_hours(app, owner):
    client = app.test_client()
    with clock.frozen(1_800_000_000):
        assert sign_in(client, owner.email, PASSWORD).status_code == 303
        clock.advance(12 * 3600 - 1)
        assert client.get("/dashboard/customers").status_code == 200
        clock.advance(1)
        assert client.get("/dashboard/customers").status_code == 303


def test_a_forged_session_without_the_password_fingerprint_is_nobody(app, owner):
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_KEY] = {"id": owner.id, "since": clock.now(), "check": "guessed"}
    assert client.get("/dashboard/customers").status_code == 303


def test_every_dashboard_route_sends_a_stranger_to_sign_in(app, customer):
    client = app.test_client()
    browser = StaffBrowser(client, None)
    for rule in dashboard_rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = rule.build({name: customer.id for name in rule.arguments})[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = browser.get(path) if method == "GET" else browser.post(path)
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/dashboard/sign-in"), (method, path)


def test_htmx_requests_of_a_stranger_are_redirected_as_a_whole_page(app):
    response = app.test_client().get("/dashboard/customers", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/dashboard/sign-in")


def test_every_dashboard_view_declares_the_permission_it_needs(app):
    for rule in dashboard_rules(app):
        view = app.view_functions[rule.endpoint]
        assert rule.endpoint in PUBLIC_ENDPOINTS or getattr(view, "required_permission", None), rule.endpoint
    assert {rule.endpoint for rule in dashboard_rules(app)} > PUBLIC_ENDPOINTS
    assert bp.name == "dashboard"
