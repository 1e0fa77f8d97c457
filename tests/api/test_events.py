from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import WebhookDelivery


def make_endpoint(api, **fields):
    response = api.post("/v1/webhook_endpoints", json={"url": "https://1.1.1.1/webhooks", **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rename_customer(api, customer_id: str, name: str) -> dict:
    """A real `customer.updated` event, caused the way a merchant causes one, read back from the API."""
    assert api.post(f"/v1/customers/{customer_id}", json={"name": name}).status_code == 200
    return api.get("/v1/events?limit=1").get_json()["data"][0]


def emit_customer_updated(api) -> dict:
    customer = api.post("/v1/customers", json={"name": "Old"}).get_json()
    return rename_customer(api, customer["id"], "New")


def deliveries_of(event_id: str) -> list[WebhookDelivery]:
    db.session.expire_all()
    return db.session.scalars(db.select(WebhookDelivery).filter_by(event_id=event_id)).all()


def test_an_event_is_recorded_even_with_no_endpoint_to_deliver_it(api):
    customer = api.post("/v1/customers", json={"name": "Old"}).get_json()
    with clock.frozen(1_800_000_000):
        event = rename_customer(api, customer["id"], "New")
    assert event["id"].startswith("evt_") and event["object"] == "event"
    assert (event["type"], event["created"], event["livemode"]) == ("customer.updated", 1_800_000_000, False)
    assert event["data"]["object"]["id"] == customer["id"]
    assert event["data"]["object"]["name"] == "New"
    assert event["data"]["previous_attributes"] == {"name": "Old"}
    assert event["request"] == {"source": "api", "idempotency_key": None}
    assert deliveries_of(event["id"]) == []


def test_get_returns_the_event(api):
    event = emit_customer_updated(api)
    response = api.get(f"/v1/events/{event['id']}")
    assert response.status_code == 200
    assert response.get_json() == event


def test_the_event_carries_the_idempotency_key_of_the_request_that_caused_it(api):
    customer = api.post("/v1/customers", json={"name": "Old"}).get_json()
    api.post(f"/v1/customers/{customer['id']}", json={"name": "New"}, headers={"Idempotency-Key": "rename-1"})
    event = api.get("/v1/events").get_json()["data"][0]
    assert event["request"] == {"source": "api", "idempotency_key": "rename-1"}


def test_list_paginates_newest_first(api):
    customer = api.post("/v1/customers", json={"name": "v0"}).get_json()
    ids = [rename_customer(api, customer["id"], f"v{i}")["id"] for i in range(1, 4)]
    first = api.get("/v1/events?limit=2").get_json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [event["id"] for event in first["data"]] == ids[::-1][:2]
    rest = api.get(f"/v1/events?starting_after={first['data'][-1]['id']}").get_json()
    assert [event["id"] for event in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_type_filter_matches_the_exact_type(api):
    event = emit_customer_updated(api)
    assert [e["id"] for e in api.get("/v1/events?type=customer.updated").get_json()["data"]] == [event["id"]]
    assert api.get("/v1/events?type=invoice.paid").get_json()["data"] == []


def test_an_unknown_type_filter_is_400_naming_type(api):
    emit_customer_updated(api)
    for value in ("customer", "customer.*", "customer.updated ", "nonsense", ""):
        response = api.get("/v1/events", query_string={"type": value})
        assert response.status_code == 400
        assert response.get_json()["error"]["param"] == "type"


def test_another_merchants_events_are_invisible(api, other_api):
    event = emit_customer_updated(api)
    for response in (other_api.get(f"/v1/events/{event['id']}"), other_api.post(f"/v1/events/{event['id']}/resend")):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "resource_missing"
    assert other_api.get("/v1/events").get_json()["data"] == []
    assert other_api.get(f"/v1/events?starting_after={event['id']}").status_code == 400


def test_an_unknown_event_is_404(api):
    assert api.get("/v1/events/evt_doesnotexist").status_code == 404
    assert api.post("/v1/events/evt_doesnotexist/resend").status_code == 404


def test_resend_queues_to_every_enabled_endpoint_that_takes_the_type(api):
    event = emit_customer_updated(api)
    everything = make_endpoint(api)
    customers = make_endpoint(api, enabled_events=["customer.updated", "invoice.paid"])
    invoices_only = make_endpoint(api, enabled_events=["invoice.paid"])
    disabled = make_endpoint(api)
    api.post(f"/v1/webhook_endpoints/{disabled['id']}", json={"status": "disabled"})

    response = api.post(f"/v1/events/{event['id']}/resend")

    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "list" and body["has_more"] is False
    assert sorted(delivery["endpoint_id"] for delivery in body["data"]) == sorted([everything["id"], customers["id"]])
    for delivery in body["data"]:
        assert delivery["id"].startswith("whd_") and delivery["object"] == "webhook_delivery"
        assert (delivery["event_id"], delivery["attempt"], delivery["status"]) == (event["id"], 1, "pending")
    for endpoint, expected in ((everything, 1), (customers, 1), (invoices_only, 0), (disabled, 0)):
        listed = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").get_json()["data"]
        assert [delivery["event_id"] for delivery in listed] == [event["id"]] * expected


def test_resend_adds_new_deliveries_next_to_the_earlier_ones(api):
    endpoint = make_endpoint(api)
    event = emit_customer_updated(api)
    [first] = deliveries_of(event["id"])
    [resent] = api.post(f"/v1/events/{event['id']}/resend").get_json()["data"]
    assert resent["id"] != first.id
    listed = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").get_json()["data"]
    assert [delivery["id"] for delivery in listed] == [resent["id"], first.id]


def test_resend_with_no_taker_returns_an_empty_list(api):
    make_endpoint(api, enabled_events=["invoice.paid"])
    event = emit_customer_updated(api)
    response = api.post(f"/v1/events/{event['id']}/resend")
    assert response.status_code == 200
    assert response.get_json()["data"] == [] and response.get_json()["has_more"] is False
    assert deliveries_of(event["id"]) == []


def test_resend_refuses_unknown_parameters(api):
    make_endpoint(api)
    event = emit_customer_updated(api)
    response = api.post(f"/v1/events/{event['id']}/resend", json={"endpoint": "we_x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "endpoint"
    assert len(deliveries_of(event["id"])) == 1


def test_resend_does_not_reach_another_merchants_endpoints(api, other_api):
    theirs = make_endpoint(other_api)
    mine = make_endpoint(api)
    event = emit_customer_updated(api)
    resent = api.post(f"/v1/events/{event['id']}/resend").get_json()["data"]
    assert [delivery["endpoint_id"] for delivery in resent] == [mine["id"]]
    assert other_api.get(f"/v1/webhook_endpoints/{theirs['id']}/deliveries").get_json()["data"] == []
