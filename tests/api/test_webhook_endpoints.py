import base64

import pytest

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import WebhookDelivery, WebhookEndpoint
from xtoportal.webhooks import DISABLED_GONE, disable_endpoint

PUBLIC_URL = "https://1.1.1.1/webhooks"


def make_endpoint(api, **fields):
    response = api.post("/v1/webhook_endpoints", json={"url": PUBLIC_URL, **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def emit_customer_updated(api) -> dict:
    """A real `customer.updated` event, caused the way a merchant causes one: renaming a customer."""
    customer = api.post("/v1/customers", json={"name": "Old"}).get_json()
    assert api.post(f"/v1/customers/{customer['id']}", json={"name": "New"}).status_code == 200
    return api.get("/v1/events?type=customer.updated&limit=1").get_json()["data"][0]


def deliveries_of(endpoint_id: str) -> list[WebhookDelivery]:
    db.session.expire_all()
    return db.session.scalars(db.select(WebhookDelivery).filter_by(endpoint_id=endpoint_id)).all()


def assert_invalid(response, param):
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    return error


def test_create_returns_the_endpoint_with_its_secret_and_all_events_by_default(api):
    endpoint = make_endpoint(api, description="Production hooks")
    assert endpoint["id"].startswith("we_") and endpoint["object"] == "webhook_endpoint"
    assert endpoint["url"] == PUBLIC_URL
    assert endpoint["enabled_events"] == ["*"]
    assert endpoint["description"] == "Production hooks"
    assert (endpoint["status"], endpoint["disabled_reason"]) == ("enabled", None)
    assert endpoint["secret"].startswith("whsec_")
    assert len(base64.b64decode(endpoint["secret"].removeprefix("whsec_"), validate=True)) >= 24
    assert endpoint["livemode"] is False


def test_the_secret_is_never_shown_again(api):
    endpoint = make_endpoint(api)
    assert "secret" not in api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()
    assert all("secret" not in item for item in api.get("/v1/webhook_endpoints").get_json()["data"])
    updated = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"description": "x"}).get_json()
    assert "secret" not in updated
    assert endpoint["secret"] not in api.get("/v1/webhook_endpoints").get_data(as_text=True)


def test_each_endpoint_gets_its_own_secret(api):
    assert make_endpoint(api)["secret"] != make_endpoint(api)["secret"]


def test_url_is_required(api):
    error = assert_invalid(api.post("/v1/webhook_endpoints", json={}), "url")
    assert error["code"] == "parameter_missing"


@pytest.mark.parametrize("url", [
    "http://1.1.1.1/webhooks",
    "https://10.0.0.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00::1]/",
    "https://127.0.0.2/",
    "https://127.1/",
    "https://user:pw@1.1.1.1/",
    "ftp://1.1.1.1/",
    "https://no-such-host.invalid/",
    "https://1.1.1.1/" + "a" * 2048,
    "not a url",
])
def test_unsafe_or_malformed_urls_are_400_naming_url(api, url):
    error = assert_invalid(api.post("/v1/webhook_endpoints", json={"url": url}), "url")
    assert error["code"] == "parameter_invalid"
    assert api.get("/v1/webhook_endpoints").get_json()["data"] == []


def test_a_non_string_url_is_400_not_500(api):
    assert_invalid(api.post("/v1/webhook_endpoints", json={"url": ["https://1.1.1.1/"]}), "url")


@pytest.mark.parametrize("url", ["http://localhost:4242/webhooks", "http://127.0.0.1/hooks",
                                 "http://[::1]:8080/hooks", "https://localhost/hooks"])
def test_the_merchants_own_machine_is_allowed_in_test_mode(api, url):
    assert make_endpoint(api, url=url)["url"] == url


def test_an_unknown_event_type_is_400_naming_its_position(api):
    response = api.post("/v1/webhook_endpoints",
                        json={"url": PUBLIC_URL, "enabled_events": ["invoice.paid", "invoice.exploded"]})
    error = assert_invalid(response, "enabled_events.1")
    assert "invoice.exploded" in error["message"]


def test_enabled_events_may_not_be_empty(api):
    assert_invalid(api.post("/v1/webhook_endpoints", json={"url": PUBLIC_URL, "enabled_events": []}),
                   "enabled_events")


def test_repeated_event_types_are_kept_once(api):
    endpoint = make_endpoint(api, enabled_events=["invoice.paid", "invoice.paid", "customer.updated"])
    assert endpoint["enabled_events"] == ["invoice.paid", "customer.updated"]


def test_unknown_fields_are_refused(api):
    assert_invalid(api.post("/v1/webhook_endpoints", json={"url": PUBLIC_URL, "secret": "whsec_mine"}), "secret")


def test_get_returns_the_endpoint(api):
    endpoint = make_endpoint(api, enabled_events=["invoice.paid"])
    fetched = api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()
    assert fetched == {key: value for key, value in endpoint.items() if key != "secret"}


def test_list_paginates_newest_first(api):
    ids = [make_endpoint(api, description=str(i))["id"] for i in range(3)]
    first = api.get("/v1/webhook_endpoints?limit=2").get_json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [item["id"] for item in first["data"]] == ids[::-1][:2]
    rest = api.get(f"/v1/webhook_endpoints?starting_after={first['data'][-1]['id']}").get_json()
    assert [item["id"] for item in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_update_changes_url_events_and_description(api):
    endpoint = make_endpoint(api, description="old")
    response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}",
                        json={"url": "https://8.8.8.8/hooks", "enabled_events": ["invoice.paid"]})
    assert response.status_code == 200
    updated = response.get_json()
    assert (updated["url"], updated["enabled_events"], updated["description"]) == (
        "https://8.8.8.8/hooks", ["invoice.paid"], "old")
    cleared = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"description": None}).get_json()
    assert cleared["description"] is None and cleared["url"] == "https://8.8.8.8/hooks"


def test_update_validates_the_url_again(api):
    endpoint = make_endpoint(api)
    for url in ("https://10.0.0.1/", "http://1.1.1.1/", None):
        assert_invalid(api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"url": url}), "url")
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()["url"] == PUBLIC_URL


def test_update_refuses_empty_or_unknown_enabled_events(api):
    endpoint = make_endpoint(api, enabled_events=["invoice.paid"])
    assert_invalid(api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"enabled_events": []}),
                   "enabled_events")
    assert_invalid(api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"enabled_events": None}),
                   "enabled_events")
    assert_invalid(api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"enabled_events": ["customer.*"]}),
                   "enabled_events.0")
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()["enabled_events"] == ["invoice.paid"]


def test_update_refuses_an_unknown_status(api):
    endpoint = make_endpoint(api)
    assert_invalid(api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "paused"}), "status")


def test_disabling_by_hand_says_so(api):
    endpoint = make_endpoint(api)
    disabled = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "disabled"}).get_json()
    assert disabled["status"] == "disabled"
    assert disabled["disabled_reason"] == "disabled by hand"


def test_re_enabling_clears_the_reason_and_the_failure_count(api):
    endpoint = make_endpoint(api)
    row = db.session.get(WebhookEndpoint, endpoint["id"])
    disable_endpoint(row, DISABLED_GONE)
    row.consecutive_failures = 7
    db.session.commit()
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()["disabled_reason"] == DISABLED_GONE
    enabled = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "enabled"}).get_json()
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint["id"]).consecutive_failures == 0


def test_disabling_an_endpoint_already_disabled_keeps_the_first_reason(api):
    endpoint = make_endpoint(api)
    row = db.session.get(WebhookEndpoint, endpoint["id"])
    disable_endpoint(row, DISABLED_GONE)
    db.session.commit()
    again = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "disabled"}).get_json()
    assert (again["status"], again["disabled_reason"]) == ("disabled", DISABLED_GONE)


def test_delete_answers_deleted_and_removes_the_endpoint_and_its_deliveries(api):
    endpoint = make_endpoint(api)
    emit_customer_updated(api)
    assert len(deliveries_of(endpoint["id"])) == 1
    response = api.delete(f"/v1/webhook_endpoints/{endpoint['id']}")
    assert response.status_code == 200
    assert response.get_json() == {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
    assert api.get("/v1/webhook_endpoints").get_json()["data"] == []
    assert deliveries_of(endpoint["id"]) == []
    assert api.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404


def test_rotate_secret_returns_a_new_secret_and_keeps_the_old_one_for_the_overlap(api):
    endpoint = make_endpoint(api)
    with clock.frozen(1_800_000_000):
        response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret", json={"expires_in": 3600})
    assert response.status_code == 200
    rotated = response.get_json()
    assert rotated["id"] == endpoint["id"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    db.session.expire_all()
    row = db.session.get(WebhookEndpoint, endpoint["id"])
    assert (row.secret, row.previous_secret, row.previous_secret_expires_at) == (
        rotated["secret"], endpoint["secret"], 1_800_003_600)
    assert "secret" not in api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()


def test_rotate_secret_keeps_the_old_one_for_a_day_by_default(api):
    endpoint = make_endpoint(api)
    with clock.frozen(1_800_000_000):
        assert api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret").status_code == 200
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint["id"]).previous_secret_expires_at == 1_800_086_400


@pytest.mark.parametrize("expires_in", [-1, 7 * 86400 + 1, "3600", 1.5, True])
def test_rotate_secret_refuses_an_overlap_outside_0_to_7_days(api, expires_in):
    endpoint = make_endpoint(api)
    response = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret", json={"expires_in": expires_in})
    assert_invalid(response, "expires_in")
    db.session.expire_all()
    row = db.session.get(WebhookEndpoint, endpoint["id"])
    assert (row.secret, row.previous_secret) == (endpoint["secret"], None)


def test_an_endpoint_for_all_events_gets_a_pending_delivery(api):
    endpoint = make_endpoint(api)
    event = emit_customer_updated(api)
    deliveries = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").get_json()
    assert deliveries["object"] == "list" and deliveries["has_more"] is False
    [delivery] = deliveries["data"]
    assert delivery["id"].startswith("whd_") and delivery["object"] == "webhook_delivery"
    assert (delivery["event_id"], delivery["endpoint_id"]) == (event["id"], endpoint["id"])
    assert (delivery["attempt"], delivery["status"], delivery["response_status"]) == (1, "pending", None)


def test_an_endpoint_for_other_types_gets_no_delivery(api):
    endpoint = make_endpoint(api, enabled_events=["invoice.paid", "subscription.created"])
    taker = make_endpoint(api, enabled_events=["customer.updated"])
    emit_customer_updated(api)
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").get_json()["data"] == []
    assert len(api.get(f"/v1/webhook_endpoints/{taker['id']}/deliveries").get_json()["data"]) == 1


def test_events_while_disabled_are_not_queued_and_events_after_re_enabling_are(api):
    endpoint = make_endpoint(api)
    api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "disabled"})
    emit_customer_updated(api)
    assert deliveries_of(endpoint["id"]) == []
    api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "enabled"})
    event = emit_customer_updated(api)
    assert [delivery.event_id for delivery in deliveries_of(endpoint["id"])] == [event["id"]]


def test_deliveries_list_every_attempt_newest_first_and_paginate(api):
    endpoint = make_endpoint(api)
    events = [emit_customer_updated(api) for _ in range(3)]
    first = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries?limit=2").get_json()
    assert [delivery["event_id"] for delivery in first["data"]] == [events[2]["id"], events[1]["id"]]
    assert first["has_more"] is True
    rest = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries?starting_after={first['data'][-1]['id']}")
    assert [delivery["event_id"] for delivery in rest.get_json()["data"]] == [events[0]["id"]]


def test_deliveries_list_only_this_endpoints_attempts(api):
    endpoint = make_endpoint(api)
    other = make_endpoint(api)
    emit_customer_updated(api)
    for we in (endpoint, other):
        data = api.get(f"/v1/webhook_endpoints/{we['id']}/deliveries").get_json()["data"]
        assert [delivery["endpoint_id"] for delivery in data] == [we["id"]]


def test_another_merchants_endpoint_is_404_everywhere(api, other_api):
    endpoint = make_endpoint(api)
    emit_customer_updated(api)
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    for response in (other_api.get(path),
                     other_api.post(path, json={"url": "https://8.8.8.8/stolen"}),
                     other_api.post(path, json={"status": "disabled"}),
                     other_api.delete(path),
                     other_api.post(f"{path}/rotate_secret"),
                     other_api.get(f"{path}/deliveries")):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "resource_missing"
        assert "whsec_" not in response.get_data(as_text=True)
    assert other_api.get("/v1/webhook_endpoints").get_json()["data"] == []
    mine = api.get(path).get_json()
    assert (mine["url"], mine["status"]) == (PUBLIC_URL, "enabled")
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint["id"]).secret == endpoint["secret"]


def test_another_merchants_delivery_is_not_a_cursor(api, other_api):
    endpoint = make_endpoint(api)
    emit_customer_updated(api)
    [delivery] = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").get_json()["data"]
    theirs = make_endpoint(other_api)
    response = other_api.get(f"/v1/webhook_endpoints/{theirs['id']}/deliveries?starting_after={delivery['id']}")
    assert_invalid(response, "starting_after")
