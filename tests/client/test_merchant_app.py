"""The example merchant app: its account page, the "Manage billing" redirect and the webhook receiver."""
import json
import re
import socket
from datetime import datetime, timezone

import httpx
import pytest
from standardwebhooks import Webhook

from .conftest import WEBHOOK_SECRET, serving

@pytest.fixture
def customer(xtopay):
    return xtopay.customers.create(email="ama@example.com", name="Ama Mensah")


@pytest.fixture
def shop(make_example_app, customer):
    """The example app served on 127.0.0.1, signed in as `customer`; yields its base URL."""
    with serving(make_example_app(XTOPAY_CUSTOMER_ID=customer.id)) as url:
        yield url


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def deliver(shop: str, event: dict, secret: str = WEBHOOK_SECRET, body: str | None = None) -> httpx.Response:
    """POST `event` to the shop's receiver the way Xtopay delivers it (Standard Webhooks headers)."""
    signed_body = json.dumps(event)
    sent_at = datetime.now(tz=timezone.utc)
    headers = {"webhook-id": event["id"], "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": Webhook(secret).sign(event["id"], sent_at, signed_body),
               "content-type": "application/json"}
    return httpx.post(f"{shop}/webhooks", content=body if body is not None else signed_body, headers=headers)


def test_account_page_shows_manage_billing_button(shop):
    page = httpx.get(f"{shop}/account")
    assert page.status_code == 200
    assert "Manage billing" in page.text and "Ama Mensah" in page.text


def test_manage_billing_redirects_to_a_portal_session_on_the_api_server(shop, api_url, xtopay, customer):
    with httpx.Client(base_url=shop) as browser:
        token = csrf_token(browser.get("/account").text)
        response = browser.post("/billing/portal", data={"csrf_token": token})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{api_url}/portal/sess_")
    session_id = re.match(rf"{re.escape(api_url)}/portal/(sess_[A-Za-z0-9]+)", location).group(1)
    session = xtopay.customer_portal.retrieve_session(session_id)  # the token names its session (API.md)
    assert session.customer_id == customer.id
    assert session.return_url == "http://127.0.0.1:5001/account"


def test_manage_billing_without_csrf_token_is_refused(shop):
    response = httpx.post(f"{shop}/billing/portal", data={})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_manage_billing_when_the_api_is_down_says_billing_is_unavailable(make_example_app, customer):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = make_example_app(XTOPAY_CUSTOMER_ID=customer.id, XTOPAY_BASE_URL=f"http://127.0.0.1:{closed_port}")
    with serving(down) as shop, httpx.Client(base_url=shop) as browser:
        token = csrf_token(browser.get("/account").text)
        response = browser.post("/billing/portal", data={"csrf_token": token})
    assert response.status_code == 502
    assert "Billing is unavailable right now" in response.text and "Manage billing" in response.text


def test_signed_webhook_is_accepted_once_and_listed(shop, xtopay, customer):
    xtopay.customers.update(customer.id, name="Ama K. Mensah")
    event = xtopay.events.list(type="customer.updated").data[0]

    assert deliver(shop, event).status_code == 204
    assert deliver(shop, event).status_code == 204  # a retry of the same event

    page = httpx.get(f"{shop}/account").text
    assert page.count(event.id) == 1 and "customer.updated" in page


def test_tampered_webhook_is_refused_and_not_listed(shop, xtopay, customer):
    xtopay.customers.update(customer.id, name="Ama K. Mensah")
    event = xtopay.events.list(type="customer.updated").data[0]
    tampered = json.dumps({**event, "type": "invoice.paid"})

    assert deliver(shop, event, body=tampered).status_code == 400
    assert event.id not in httpx.get(f"{shop}/account").text


def test_webhook_signed_with_another_secret_is_refused(shop):
    other_secret = "whsec_" + "QW5vdGhlciBzZWNyZXQgb2YgdGhpcnR5LXR3byBieXRlcw=="
    event = {"id": "evt_forged", "object": "event", "type": "invoice.paid", "data": {"object": {}}}
    assert deliver(shop, event, secret=other_secret).status_code == 400


def test_webhooks_without_a_configured_secret_are_refused(make_example_app, customer):
    unconfigured = make_example_app(XTOPAY_CUSTOMER_ID=customer.id, XTOPAY_WEBHOOK_SECRET=None)
    event = {"id": "evt_any", "object": "event", "type": "invoice.paid", "data": {"object": {}}}
    with serving(unconfigured) as shop:
        response = deliver(shop, event)
    assert response.status_code == 503 and "XTOPAY_WEBHOOK_SECRET" in response.text
