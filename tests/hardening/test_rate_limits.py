"""Rate limits (xtoportal/rate_limits.py): real requests until 429, its Retry-After and its answer, who else is
unaffected, the window ending, and counts shared through Redis between two processes.

Dashboard sign-in's limits are tested beside it (tests/dashboard/test_auth.py: 429, Retry-After, per address and
per account).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.factories import make_customer
from xtoportal.extensions import limiter

RETURN_URL = "https://acme.example/account"


def retry_after(response) -> int:
    value = int(response.headers["Retry-After"])
    assert value > 0
    return value


def create_session(api, customer_id):
    return api.post("/v1/customer_portal/sessions", json={"customer_id": customer_id, "return_url": RETURN_URL})


def link_path(session: dict) -> str:
    return session["url"].removeprefix("http://portal.test")


@pytest.fixture
def customer(merchant):
    return make_customer(merchant[0])


def browser_from(app, address: str):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def enter(app, api, customer, address="203.0.113.7"):
    """A browser inside the portal: (browser, its CSRF token)."""
    browser = browser_from(app, address)
    assert browser.get(link_path(create_session(api, customer.id).get_json())).status_code == 303
    page = browser.get("/portal/").get_data(as_text=True)
    return browser, re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


# --- POST /v1/customer_portal/sessions -------------------------------------------------------------------------

def test_session_creation_has_its_own_tighter_limit_per_key(app, api, other_api, customer, make_merchant):
    app.config["PORTAL_SESSION_RATE_LIMIT"] = "3 per minute"
    assert [create_session(api, customer.id).status_code for _ in range(3)] == [200, 200, 200]
    refused = create_session(api, customer.id)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == {
        "type": "rate_limit_error", "code": None, "param": None,
        "message": "Too many requests: slow down and retry after the time in Retry-After."}
    assert retry_after(refused) <= 60
    # The rest of the API still answers this key, and another merchant's key still creates sessions.
    assert api.get("/v1/customers").status_code == 200
    other_customer = other_api.post("/v1/customers", json={"name": "Kofi"}).get_json()["id"]
    assert create_session(other_api, other_customer).status_code == 200


def test_session_creation_limit_window_ends(app, api, customer):
    app.config["PORTAL_SESSION_RATE_LIMIT"] = "2 per 1 second"
    assert [create_session(api, customer.id).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.1)
    assert create_session(api, customer.id).status_code == 200


def test_the_general_api_limit_counts_every_endpoint_of_a_key_together(app, api):
    app.config["API_RATE_LIMIT"] = "4 per minute"
    statuses = [api.get(path).status_code for path in ("/v1/customers", "/v1/plans", "/v1/events", "/v1/invoices")]
    assert statuses == [200, 200, 200, 200]
    refused = api.get("/v1/subscriptions")
    assert refused.status_code == 429 and refused.get_json()["error"]["type"] == "rate_limit_error"
    retry_after(refused)


# --- opening portal links ----------------------------------------------------------------------------------------

def test_failed_link_openings_are_limited_per_address_even_for_a_good_link(app, api, customer):
    app.config["PORTAL_LINK_FAILURE_LIMIT"] = "3 per minute"
    guesser = browser_from(app, "198.51.100.1")
    used = create_session(api, customer.id).get_json()
    assert browser_from(app, "192.0.2.50").get(link_path(used)).status_code == 303  # redeemed elsewhere
    forged = link_path(create_session(api, customer.id).get_json())[:-2] + "xx"
    answers = [guesser.get(path).status_code for path in ("/portal/sess_nothing.at.all", forged, link_path(used))]
    assert answers == [403, 403, 410]

    good = link_path(create_session(api, customer.id).get_json())
    refused = guesser.get(good)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html" and "Too many attempts" in refused.get_data(as_text=True)
    assert retry_after(refused) <= 60
    assert "xtoportal_portal" not in refused.headers.get("Set-Cookie", "")
    # Another address opens the same good link.
    assert browser_from(app, "198.51.100.2").get(good).status_code == 303


def test_successful_link_openings_do_not_count(app, api, customer):
    app.config["PORTAL_LINK_FAILURE_LIMIT"] = "2 per minute"
    browser = browser_from(app, "198.51.100.3")
    link = link_path(create_session(api, customer.id).get_json())
    assert [browser.get(link).status_code for _ in range(5)] == [303] * 5  # entered, then let back in
    assert browser.get("/portal/sess_bogus.1.2").status_code == 403
    assert browser.get(link).status_code == 303


def test_link_failure_window_ends_with_the_storage_reset(app, api, customer):
    app.config["PORTAL_LINK_FAILURE_LIMIT"] = "1 per hour"
    browser = browser_from(app, "198.51.100.4")
    assert browser.get("/portal/sess_bogus.1.2").status_code == 403
    assert browser.get("/portal/sess_bogus.1.2").status_code == 429
    limiter.reset()
    assert browser.get(link_path(create_session(api, customer.id).get_json())).status_code == 303


# --- changes inside the portal -------------------------------------------------------------------------------------

def test_portal_changes_are_limited_per_portal_session(app, api, merchant, customer):
    app.config["PORTAL_MUTATION_LIMIT"] = "3 per minute"
    browser, token = enter(app, api, customer)
    headers = {"X-CSRFToken": token}
    form = {"name": "Ama Mensah", "email": "ama@example.com"}
    answers = [browser.post("/portal/details", data=form, headers=headers).status_code for _ in range(3)]
    assert 429 not in answers and all(status < 500 for status in answers)
    refused = browser.post("/portal/details", data=form, headers=headers)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert retry_after(refused) <= 60
    htmx = browser.post("/portal/details", data=form, headers={**headers, "HX-Request": "true"})
    assert htmx.status_code == 429 and retry_after(htmx) <= 60 and "<html" not in htmx.get_data(as_text=True)
    # Reading is not limited, and another customer's session (same address) still changes things.
    assert browser.get("/portal/").status_code == 200
    other, other_token = enter(app, api, make_customer(merchant[0], name="Kofi"))
    assert other.post("/portal/details", data=form, headers={"X-CSRFToken": other_token}).status_code != 429


def test_a_forged_cookie_naming_a_session_does_not_spend_its_allowance(app, api, customer):
    app.config["PORTAL_MUTATION_LIMIT"] = "2 per minute"
    browser, token = enter(app, api, customer)
    session_id = browser.get_cookie("xtoportal_portal", path="/portal").value.partition(".")[0]
    attacker = browser_from(app, "198.51.100.9")
    attacker.set_cookie("xtoportal_portal", f"{session_id}.not-the-secret", path="/portal")
    for _ in range(3):
        attacker.post("/portal/details", data={"name": "x"})
    assert browser.post("/portal/details", data={"name": "Ama"}, headers={"X-CSRFToken": token}).status_code != 429


# --- the storage --------------------------------------------------------------------------------------------------

def test_an_unreachable_storage_lets_requests_through(database_url, caplog):
    pytest.importorskip("redis")
    from tests.conftest import _settings
    from xtoportal import create_app
    from xtoportal.extensions import db
    from xtoportal.merchants import create_merchant

    app = create_app({**_settings(database_url), "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
                      "API_RATE_LIMIT": "1 per minute"})
    with app.app_context():
        _, secret = create_merchant("Acme", "owner@acme.test", "correct horse battery")
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        assert [client.get("/v1/customers", headers=headers).status_code for _ in range(3)] == [200, 200, 200]
        assert client.get("/portal/sess_bogus.1.2").status_code == 403
        db.session.remove()
        db.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of this test's own on 127.0.0.1 (skips without one; .ci/run installs redis-server)."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must provide redis-server")
        pytest.skip("needs redis-server (apt-get install redis-server)")
    pytest.importorskip("redis")
    port = _free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


SECOND_PROCESS = """
import json, os, sys
from tests.conftest import _settings
from xtoportal import create_app
settings = {**_settings(os.environ["DB_URL"]), **json.loads(os.environ["LIMITS"])}
app = create_app(settings)
with app.app_context():
    client = app.test_client()
    headers = {"Authorization": "Bearer " + os.environ["SECRET"]}
    print(json.dumps([client.get("/v1/customers", headers=headers).status_code for _ in range(2)]))
"""


def test_two_processes_on_one_redis_share_one_count(app, merchant, database_url, redis_url):
    limits = {"RATELIMIT_STORAGE_URI": redis_url, "API_RATE_LIMIT": "5 per minute"}
    app.config.update(limits)
    limiter.init_app(app)  # this process's app, now counting in redis
    headers = {"Authorization": f"Bearer {merchant[1]}"}
    client = app.test_client()
    assert [client.get("/v1/customers", headers=headers).status_code for _ in range(3)] == [200, 200, 200]

    second = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS], capture_output=True, text=True, timeout=120, cwd=os.getcwd(),
        env={**os.environ, "DB_URL": database_url, "SECRET": merchant[1], "LIMITS": json.dumps(limits)})
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads(second.stdout.strip().splitlines()[-1]) == [200, 200]

    refused = client.get("/v1/customers", headers=headers)
    assert refused.status_code == 429  # 3 here + 2 there = the 5 allowed
    retry_after(refused)
    limiter.reset()
    assert client.get("/v1/customers", headers=headers).status_code == 200


def test_behind_a_trusted_proxy_link_failures_count_per_client_not_per_proxy(database_url, api, customer):
    from tests.conftest import _settings
    from xtoportal import create_app
    behind_proxy = create_app({**_settings(database_url), "TRUSTED_PROXIES": 1,
                               "PORTAL_LINK_FAILURE_LIMIT": "2 per minute"})
    with behind_proxy.app_context():
        proxy = browser_from(behind_proxy, "10.0.0.2")
        guesser = {"X-Forwarded-For": "198.51.100.9"}
        assert [proxy.get("/portal/sess_nothing", headers=guesser).status_code for _ in range(2)] == [403, 403]
        assert proxy.get("/portal/sess_nothing", headers=guesser).status_code == 429
        # Another client behind the same proxy is not refused for the guesser's failures.
        assert proxy.get("/portal/sess_nothing", headers={"X-Forwarded-For": "198.51.100.10"}).status_code == 403


def test_without_trusted_proxies_a_forwarded_for_header_cannot_dodge_the_limit(app, api, customer):
    app.config["PORTAL_LINK_FAILURE_LIMIT"] = "2 per minute"
    guesser = browser_from(app, "198.51.100.11")
    answers = [guesser.get("/portal/sess_nothing", headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code
               for n in range(3)]
    assert answers == [403, 403, 429]
