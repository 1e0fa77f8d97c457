"""Headers and cookies: every HTML page of the app, fetched over https by every caller of the access matrix (so the
rightful customer's and staff member's pages and every refusal and error page), carries a CSP without inline or
eval'd script, refuses to be framed, says what Referer to send, forbids MIME sniffing and is never cached; the
portal's and dashboard's cookies are HttpOnly, SameSite=Lax and Secure, the portal's limited to /portal."""
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest

from xtoportal.extensions import db

from .conftest import PASSWORD, RETURN_URL, Browser
from .test_access_matrix import ACTORS, ROUTES, _settings, build_request

REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
# A few pages no route of the table reaches: the app's own error pages.
ERROR_PAGES = ("/no-such-page", "/portal/no/such/page", "/dashboard/no-such-page", "/portal/invoices/in_nope/pay")


def policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def header_problems(response) -> list[str]:
    """What is missing or too weak in an HTML response's headers."""
    headers = response.headers
    problems = []
    csp = policy(headers.get("Content-Security-Policy", "") or "missing")
    scripts = csp.get("script-src", csp.get("default-src"))
    if scripts is None:
        problems.append("no script-src or default-src")
    elif {"'unsafe-inline'", "'unsafe-eval'"} & set(scripts) or "*" in scripts:
        problems.append(f"scripts may be inline or eval'd: {scripts}")
    if csp.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors {csp.get('frame-ancestors')}")
    if headers.get("X-Frame-Options") != "DENY":
        problems.append(f"X-Frame-Options {headers.get('X-Frame-Options')}")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')}")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options {headers.get('X-Content-Type-Options')}")
    if "no-store" not in (headers.get("Cache-Control") or ""):
        problems.append(f"Cache-Control {headers.get('Cache-Control')}")
    return problems


@pytest.fixture
def https_world(world_factory):
    return world_factory(https=True)


def test_every_html_page_carries_the_security_headers(app, https_world):
    pages, problems = set(), []
    for actor in ACTORS:
        browser = https_world.browsers[actor]
        with app.test_request_context():
            paths = [build_request(https_world, endpoint, method, case)[0]
                     for (endpoint, method), case in ROUTES.items() if method == "GET"] + list(ERROR_PAGES)
        for path in paths:
            response = browser.get(path)
            db.session.remove()
            response.close()
            if response.mimetype != "text/html":
                continue
            pages.add((path, response.status_code))
            problems += [f"{actor} GET {path} ({response.status_code}): {p}" for p in header_problems(response)]
    assert not problems, "\n".join(problems)
    statuses = {status for _, status in pages}
    assert {200, 303, 403, 404, 410} <= statuses, statuses  # pages, redirects, refusals and errors were all seen
    assert len(pages) > 40, len(pages)


def test_the_portal_theme_style_is_allowed_by_its_nonce_and_nothing_else_is_inline(https_world):
    response = https_world.browsers["a1_live"].get("/portal/")
    styles = policy(response.headers["Content-Security-Policy"])["style-src"]
    nonce = next(value for value in styles if value.startswith("'nonce-"))[len("'nonce-"):-1]
    page = response.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in page and "<script>" not in page and "unsafe-inline" not in styles


def test_the_dashboards_live_preview_is_a_sandboxed_frame_without_scripts(https_world):
    owner = https_world.browsers["owner_a"]
    response = owner.open("POST", "/dashboard/settings/portal/preview", data=_settings(https_world))
    assert response.status_code == 200
    assert not header_problems(response)
    page = response.get_data(as_text=True)
    # No allow-scripts, no allow-same-origin: the srcdoc page inherits the dashboard's policy (scripts from us
    # only, inline styles for the theme) and runs in an opaque origin that cannot reach the dashboard.
    assert "<iframe" in page and " sandbox srcdoc=" in page and "allow-scripts" not in page
    assert "'unsafe-inline'" not in policy(response.headers["Content-Security-Policy"])["script-src"]


def cookie(response, name: str):
    for header in response.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie(header)
        if name in parsed:
            return parsed[name], header
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def test_the_portal_cookie_is_httponly_samesite_lax_secure_and_only_for_the_portal(app, https_world):
    api = https_world.browsers["key_a"]
    session = api.open("POST", "/v1/customer_portal/sessions",
                       json={"customer_id": https_world.a1.id, "return_url": RETURN_URL}).get_json()
    response = Browser(app, base_url="https://localhost").get(urlsplit(session["url"]).path)
    assert response.status_code == 303
    morsel, header = cookie(response, "xtoportal_portal")
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax", header
    assert morsel["path"] == "/portal", header
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"


def test_the_dashboard_session_cookie_is_httponly_samesite_lax_and_secure(app, https_world):
    browser = Browser(app, base_url="https://localhost")
    response = browser.open("POST", "/dashboard/sign-in", data={"email": "owner@acme.test", "password": PASSWORD})
    assert response.status_code == 303
    morsel, header = cookie(response, app.config["SESSION_COOKIE_NAME"])
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax", header
    # The Flask session holds the CSRF token the portal's forms need too, so its path is the whole site.
    assert morsel["path"] == "/", header
