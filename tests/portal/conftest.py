"""Portal fixtures: a customer of the `merchant` fixture, links opened through the real API, browsers."""
from urllib.parse import urlsplit

import pytest

from tests.factories import make_customer


@pytest.fixture
def customer(merchant):
    return make_customer(merchant[0], name="Ama Mensah", email="ama@example.com")


@pytest.fixture
def browser(app):
    """A customer's browser: its own cookie jar, separate from the API client's."""
    return app.test_client()


@pytest.fixture
def other_browser(app):
    return app.test_client()


@pytest.fixture
def create_session(api, customer):
    """create_session(**fields) -> the API's session object for `customer` (return_url defaults to Acme's site)."""
    def create(**fields):
        body = {"customer_id": customer.id, "return_url": "https://acme.example/account", **fields}
        response = api.post("/v1/customer_portal/sessions", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()
    return create


def link_path(session: dict) -> str:
    """The path of the session's portal URL, which the test client opens."""
    return urlsplit(session["url"]).path


@pytest.fixture
def inside(browser, create_session):
    """A browser that opened a fresh link and is inside the portal; returns (browser, session)."""
    session = create_session()
    response = browser.get(link_path(session))
    assert response.status_code == 303
    return browser, session
