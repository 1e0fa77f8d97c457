import pytest

from tests.factories import make_card, make_customer, make_plan
from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import Event


@pytest.fixture
def acme(merchant):
    return merchant[0]


@pytest.fixture
def paying_customer(acme):
    customer = make_customer(acme)
    make_card(customer)
    return customer


def create(api, customer, plan, **extra):
    return api.post("/v1/subscriptions", json={"customer_id": customer.id, "plan_id": plan.id, **extra})


def test_create_bills_first_period_and_returns_active_subscription(api, acme, paying_customer):
    plan = make_plan(acme, amount=5000)
    response = create(api, paying_customer, plan)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"].startswith("sub_") and body["object"] == "subscription"
    assert body["status"] == "active" and body["plan"]["id"] == plan.id
    assert body["cancel_at_period_end"] is False and body["pending_update"] is None
    invoices = api.get(f"/v1/invoices?subscription_id={body['id']}").get_json()["data"]
    assert [(i["status"], i["total"]) for i in invoices] == [("paid", 5000)]


def test_create_with_trial_is_trialing_and_bills_nothing(api, acme, paying_customer):
    body = create(api, paying_customer, make_plan(acme), trial_period_days=7).get_json()
    assert body["status"] == "trialing"
    assert body["current_period_end"] - body["current_period_start"] == 7 * 86400
    assert api.get(f"/v1/invoices?subscription_id={body['id']}").get_json()["data"] == []


def test_create_without_payment_method_is_incomplete_with_open_invoice(api, acme):
    body = create(api, make_customer(acme), make_plan(acme)).get_json()
    assert body["status"] == "incomplete"
    [invoice] = api.get(f"/v1/invoices?subscription_id={body['id']}").get_json()["data"]
    assert invoice["status"] == "open" and invoice["amount_due"] == invoice["total"]


@pytest.mark.parametrize("field,value", [("customer_id", "cus_missing"), ("plan_id", "plan_missing")])
def test_unknown_ids_in_body_are_400_resource_missing(api, acme, paying_customer, field, value):
    body = {"customer_id": paying_customer.id, "plan_id": make_plan(acme).id, field: value}
    response = api.post("/v1/subscriptions", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "resource_missing"
    assert response.get_json()["error"]["param"] == field


def test_missing_plan_id_is_parameter_missing(api, paying_customer):
    response = api.post("/v1/subscriptions", json={"customer_id": paying_customer.id})
    assert response.get_json()["error"] == {**response.get_json()["error"], "code": "parameter_missing",
                                            "param": "plan_id"}


def test_change_plan_applies_at_once_with_proration_invoice(api, acme, paying_customer):
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    sub = create(api, paying_customer, basic).get_json()
    response = api.post(f"/v1/subscriptions/{sub['id']}", json={"plan_id": pro.id})
    assert response.status_code == 200 and response.get_json()["plan"]["id"] == pro.id
    latest = api.get(f"/v1/invoices?subscription_id={sub['id']}&limit=1").get_json()["data"][0]
    assert [line["proration"] for line in latest["lines"]] == [True, True]


def test_change_plan_with_no_proration_bills_nothing_now(api, acme, paying_customer):
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    sub = create(api, paying_customer, basic).get_json()
    api.post(f"/v1/subscriptions/{sub['id']}", json={"plan_id": pro.id, "proration_behavior": "none"})
    assert len(api.get(f"/v1/invoices?subscription_id={sub['id']}").get_json()["data"]) == 1


def test_change_to_plan_in_other_currency_is_400(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    response = api.post(f"/v1/subscriptions/{sub['id']}", json={"plan_id": make_plan(acme, currency="ngn").id})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "plan_id"


def test_cancel_defaults_to_period_end_and_fires_cancellation_scheduled(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    body = api.post(f"/v1/subscriptions/{sub['id']}/cancel").get_json()
    assert body["status"] == "active" and body["cancel_at_period_end"] is True
    assert db.session.scalars(db.select(Event).filter_by(type="subscription.cancellation_scheduled")).one()


def test_cancel_immediately_ends_now(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    body = api.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"at_period_end": False}).get_json()
    assert body["status"] == "canceled" and body["canceled_at"] is not None
    again = api.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"at_period_end": False})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "state_conflict"


def test_pause_and_resume(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    resumes_at = clock.now() + 10 * 86400
    paused = api.post(f"/v1/subscriptions/{sub['id']}/pause", json={"resumes_at": resumes_at}).get_json()
    assert paused["status"] == "paused" and paused["pause_collection"] == {"resumes_at": resumes_at}
    resumed = api.post(f"/v1/subscriptions/{sub['id']}/resume").get_json()
    assert resumed["status"] == "active" and resumed["pause_collection"] is None


def test_resume_of_active_subscription_is_409_state_conflict(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    response = api.post(f"/v1/subscriptions/{sub['id']}/resume")
    assert response.status_code == 409
    assert response.get_json()["error"] == {**response.get_json()["error"], "type": "invalid_request_error",
                                            "code": "state_conflict"}


def test_pause_with_past_resumes_at_is_400(api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    response = api.post(f"/v1/subscriptions/{sub['id']}/pause", json={"resumes_at": clock.now() - 1})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "resumes_at"


def test_list_filters_by_customer_and_unknown_customer_is_400(api, acme, paying_customer):
    plan = make_plan(acme)
    mine = create(api, paying_customer, plan).get_json()
    other = make_customer(acme, email="kofi@example.com")
    create(api, other, plan)
    listed = api.get(f"/v1/subscriptions?customer_id={paying_customer.id}").get_json()["data"]
    assert [s["id"] for s in listed] == [mine["id"]]
    assert api.get("/v1/subscriptions?customer_id=cus_nope").get_json()["error"]["param"] == "customer_id"


def test_other_merchants_subscription_is_404_on_every_route(api, other_api, acme, paying_customer):
    sub = create(api, paying_customer, make_plan(acme)).get_json()
    for method, path in [("get", ""), ("post", ""), ("post", "/cancel"), ("post", "/pause"), ("post", "/resume")]:
        response = getattr(other_api, method)(f"/v1/subscriptions/{sub['id']}{path}")
        assert response.status_code == 404, path
    assert api.get(f"/v1/subscriptions/{sub['id']}").get_json()["status"] == "active"
