"""/v1/customer_portal/sessions: create, read, revoke; what return_url, locale and flow accept."""
import pytest

from tests.factories import make_customer, make_plan
from tests.portal.factories import make_subscription
from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PortalSession

RETURN_URL = "https://acme.example/account"


@pytest.fixture
def customer(merchant):
    return make_customer(merchant[0], name="Ama Mensah", email="ama@example.com")


def _create(api, **fields):
    return api.post("/v1/customer_portal/sessions", json=fields)


def _error(response, status=400):
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def test_create_returns_the_session_with_a_single_use_url(api, customer):
    with clock.frozen(1_700_000_000):
        response = _create(api, customer_id=customer.id, return_url=RETURN_URL)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"].startswith("sess_") and len(body["id"]) >= 5 + 16
    assert body["object"] == "customer_portal.session"
    assert body["customer_id"] == customer.id
    assert body["return_url"] == RETURN_URL
    assert body["url"].startswith(f"http://portal.test/portal/{body['id']}.")
    assert body["locale"] == "auto" and body["flow"] is None
    assert body["status"] == "active" and body["livemode"] is False
    assert body["created"] == 1_700_000_000 and body["expires_at"] == 1_700_000_000 + 1800


def test_each_session_gets_its_own_id_and_url(api, customer):
    first = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
    second = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
    assert first["id"] != second["id"] and first["url"] != second["url"]


def test_get_shows_the_session_without_its_url(api, customer):
    created = _create(api, customer_id=customer.id, return_url=RETURN_URL, locale="fr").get_json()
    fetched = api.get(f"/v1/customer_portal/sessions/{created['id']}").get_json()
    assert fetched["url"] is None
    assert {k: v for k, v in fetched.items() if k != "url"} == {k: v for k, v in created.items() if k != "url"}


def test_status_becomes_redeemed_then_expired(api, app, customer):
    with clock.frozen(1_700_000_000):
        created = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
        browser = app.test_client()
        browser.get(created["url"].removeprefix("http://portal.test"))
        assert api.get(f"/v1/customer_portal/sessions/{created['id']}").get_json()["status"] == "redeemed"
        clock.advance(1800)
        assert api.get(f"/v1/customer_portal/sessions/{created['id']}").get_json()["status"] == "expired"


def test_revoke_returns_the_session_revoked(api, customer):
    created = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
    with clock.frozen(1_700_000_100):
        revoked = api.post(f"/v1/customer_portal/sessions/{created['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked" and revoked.get_json()["url"] is None
    assert api.get(f"/v1/customer_portal/sessions/{created['id']}").get_json()["status"] == "revoked"
    again = api.post(f"/v1/customer_portal/sessions/{created['id']}/revoke")
    assert again.status_code == 200 and again.get_json()["status"] == "revoked"
    assert db.session.get(PortalSession, created["id"]).revoked_at == 1_700_000_100  # the first revoke counts


def test_revoke_takes_no_parameters(api, customer):
    created = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
    error = _error(api.post(f"/v1/customer_portal/sessions/{created['id']}/revoke", json={"at": 1}))
    assert error["param"] == "at"


def test_unknown_session_is_404(api):
    for response in (api.get("/v1/customer_portal/sessions/sess_missing"),
                     api.post("/v1/customer_portal/sessions/sess_missing/revoke")):
        error = _error(response, 404)
        assert error["code"] == "resource_missing"


def test_another_merchants_session_answers_like_a_missing_one(api, other_api, customer):
    created = _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()
    for response in (other_api.get(f"/v1/customer_portal/sessions/{created['id']}"),
                     other_api.post(f"/v1/customer_portal/sessions/{created['id']}/revoke")):
        assert _error(response, 404)["code"] == "resource_missing"
    assert api.get(f"/v1/customer_portal/sessions/{created['id']}").get_json()["status"] == "active"


def test_another_merchants_customer_is_400_naming_customer_id(other_api, customer):
    error = _error(_create(other_api, customer_id=customer.id, return_url=RETURN_URL))
    assert (error["code"], error["param"]) == ("resource_missing", "customer_id")


def test_customer_id_is_required(api):
    error = _error(_create(api, return_url=RETURN_URL))
    assert (error["code"], error["param"]) == ("parameter_missing", "customer_id")
    error = _error(_create(api, customer_id=42, return_url=RETURN_URL))
    assert error["param"] == "customer_id"


def test_unknown_customer_is_400_resource_missing(api):
    error = _error(_create(api, customer_id="cus_missing", return_url=RETURN_URL))
    assert (error["code"], error["param"]) == ("resource_missing", "customer_id")


def test_requires_an_api_key(client, customer):
    response = client.post("/v1/customer_portal/sessions", json={"customer_id": customer.id})
    assert _error(response, 401)["code"] == "api_key_missing"


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "//evil.example", "https://a@evil.example", "http://evil.example", "ftp://x",
    "https://user:pw@acme.example/", "acme.example/account", "data:text/html,x",
    "https://acme.example/\nSet-Cookie: a=b",
])
def test_unsafe_return_urls_are_refused(api, customer, url):
    error = _error(_create(api, customer_id=customer.id, return_url=url))
    assert (error["type"], error["code"]) == ("invalid_request_error", "parameter_invalid")
    assert error["param"] == "return_url"


@pytest.mark.parametrize("url", ["http://localhost:3000/account", "http://127.0.0.1/x", "http://[::1]:8000/"])
def test_http_return_url_is_allowed_only_to_this_machine(api, customer, url):
    assert _create(api, customer_id=customer.id, return_url=url).get_json()["return_url"] == url


def test_return_url_falls_back_to_the_configurations_default(api, customer):
    api.post("/v1/customer_portal/configuration", json={"default_return_url": "https://acme.example/billing"})
    assert _create(api, customer_id=customer.id).get_json()["return_url"] == "https://acme.example/billing"
    assert _create(api, customer_id=customer.id, return_url=RETURN_URL).get_json()["return_url"] == RETURN_URL


def test_without_return_url_or_default_is_400(api, customer):
    error = _error(_create(api, customer_id=customer.id))
    assert (error["code"], error["param"]) == ("parameter_missing", "return_url")
    assert _error(_create(api, customer_id=customer.id, return_url=""))["param"] == "return_url"


def test_allowed_return_hosts_restrict_return_url(api, customer):
    api.post("/v1/customer_portal/configuration", json={"allowed_return_hosts": ["app.acme.example"]})
    assert _create(api, customer_id=customer.id, return_url="https://app.acme.example/account").status_code == 200
    for url in ("https://acme.example/account", "https://evil.example/", "https://app.acme.example.evil.example/"):
        assert _error(_create(api, customer_id=customer.id, return_url=url))["param"] == "return_url"


@pytest.mark.parametrize("locale", ["auto", "en", "fr"])
def test_locales(api, customer, locale):
    assert _create(api, customer_id=customer.id, return_url=RETURN_URL, locale=locale).get_json()["locale"] == locale


def test_unknown_locale_is_refused(api, customer):
    assert _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, locale="de"))["param"] == "locale"


def test_unknown_parameter_is_refused(api, customer):
    assert _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, expires_in=60))["param"] == "expires_in"


# Flows


@pytest.fixture
def subscription(customer, merchant):
    return make_subscription(customer, make_plan(merchant[0]))


def test_payment_method_update_flow(api, customer):
    body = _create(api, customer_id=customer.id, return_url=RETURN_URL,
                   flow={"type": "payment_method_update"}).get_json()
    assert body["flow"] == {"type": "payment_method_update"}


@pytest.mark.parametrize("flow_type", ["subscription_cancel", "subscription_update"])
def test_subscription_flows_name_the_customers_subscription(api, customer, subscription, flow_type):
    body = _create(api, customer_id=customer.id, return_url=RETURN_URL,
                   flow={"type": flow_type, "subscription_id": subscription.id}).get_json()
    assert body["flow"] == {"type": flow_type, "subscription_id": subscription.id}
    assert api.get(f"/v1/customer_portal/sessions/{body['id']}").get_json()["flow"] == body["flow"]


@pytest.mark.parametrize("flow_type", ["subscription_cancel", "subscription_update"])
def test_subscription_flow_needs_a_subscription_id(api, customer, flow_type):
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, flow={"type": flow_type}))
    assert (error["code"], error["param"]) == ("parameter_missing", "flow.subscription_id")


def test_flow_subscription_of_another_customer_is_refused(api, customer, merchant, subscription):
    other = make_customer(merchant[0], name="Kofi")
    error = _error(_create(api, customer_id=other.id, return_url=RETURN_URL,
                           flow={"type": "subscription_cancel", "subscription_id": subscription.id}))
    assert (error["code"], error["param"]) == ("resource_missing", "flow.subscription_id")


def test_flow_subscription_of_another_merchant_is_refused(api, customer, make_merchant):
    globex, _ = make_merchant("Globex")
    foreign = make_subscription(make_customer(globex, name="Zed"), make_plan(globex))
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL,
                           flow={"type": "subscription_update", "subscription_id": foreign.id}))
    assert (error["code"], error["param"]) == ("resource_missing", "flow.subscription_id")


def test_flow_subscription_that_does_not_exist_is_refused(api, customer):
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL,
                           flow={"type": "subscription_update", "subscription_id": "sub_missing"}))
    assert (error["code"], error["param"]) == ("resource_missing", "flow.subscription_id")


def test_flow_on_a_canceled_subscription_is_refused(api, customer, merchant):
    canceled = make_subscription(customer, make_plan(merchant[0]), status="canceled")
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL,
                           flow={"type": "subscription_cancel", "subscription_id": canceled.id}))
    assert error["param"] == "flow.subscription_id"


def test_payment_method_flow_takes_no_subscription(api, customer, subscription):
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL,
                           flow={"type": "payment_method_update", "subscription_id": subscription.id}))
    assert error["param"] == "flow.subscription_id"


def test_unknown_flow_type_is_refused(api, customer):
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, flow={"type": "invoice_pay"}))
    assert error["param"] == "flow.type"
    assert _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, flow={}))["param"] == "flow.type"
    assert _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, flow="cancel"))["param"] == "flow"


@pytest.mark.parametrize("flow_type", ["payment_method_update", "subscription_cancel", "subscription_update"])
def test_flow_for_a_disabled_feature_is_refused(api, customer, subscription, flow_type):
    api.post("/v1/customer_portal/configuration", json={"features": {flow_type: {"enabled": False}}})
    flow = {"type": flow_type}
    if flow_type != "payment_method_update":
        flow["subscription_id"] = subscription.id
    error = _error(_create(api, customer_id=customer.id, return_url=RETURN_URL, flow=flow))
    assert (error["code"], error["param"]) == ("parameter_invalid", "flow.type")
    assert db.session.scalars(db.select(PortalSession)).first() is None
