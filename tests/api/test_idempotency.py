import threading

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.factories import make_card, make_customer, make_plan
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant
from xtoportal.models import Customer, Subscription


def test_same_key_same_body_replays_first_response(api):
    headers = {"Idempotency-Key": "create-ama-1"}
    first = api.post("/v1/customers", json={"name": "Ama"}, headers=headers)
    second = api.post("/v1/customers", json={"name": "Ama"}, headers=headers)
    assert second.status_code == first.status_code == 200
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert db.session.scalar(db.select(db.func.count()).select_from(Customer)) == 1


def test_same_key_different_body_is_409_reused(api):
    api.post("/v1/customers", json={"name": "Ama"}, headers={"Idempotency-Key": "k1"})
    response = api.post("/v1/customers", json={"name": "Kofi"}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 409
    assert response.get_json()["error"]["type"] == "idempotency_error"
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_validation_errors_are_not_stored(api):
    bad = api.post("/v1/customers", json={"email": "nope"}, headers={"Idempotency-Key": "k2"})
    assert bad.status_code == 400
    good = api.post("/v1/customers", json={"email": "ama@example.com"}, headers={"Idempotency-Key": "k2"})
    assert good.status_code == 200
    assert "Idempotent-Replayed" not in good.headers


def test_key_over_255_characters_is_400_naming_the_header(api):
    response = api.post("/v1/customers", json={}, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "Idempotency-Key"


def test_keys_are_scoped_to_the_merchant(api, other_api):
    mine = api.post("/v1/customers", json={"name": "Ama"}, headers={"Idempotency-Key": "shared"})
    theirs = other_api.post("/v1/customers", json={"name": "Ama"}, headers={"Idempotency-Key": "shared"})
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["id"] != mine.get_json()["id"]


def test_a_refusal_after_running_is_replayed_too(api):
    first = api.post("/v1/subscriptions/sub_missing/cancel", json={}, headers={"Idempotency-Key": "k3"})
    again = api.post("/v1/subscriptions/sub_missing/cancel", json={}, headers={"Idempotency-Key": "k3"})
    assert first.status_code == again.status_code == 404
    assert again.headers["Idempotent-Replayed"] == "true"


def test_events_carry_the_idempotency_key(api):
    customer = api.post("/v1/customers", json={"name": "Ama"}).get_json()
    api.post(f"/v1/customers/{customer['id']}", json={"name": "Ama M."}, headers={"Idempotency-Key": "rename-1"})
    event = api.get("/v1/events?type=customer.updated").get_json()["data"][0]
    assert event["request"] == {"source": "api", "idempotency_key": "rename-1"}


@pytest.mark.postgres
def test_concurrent_duplicate_is_409_in_use_and_bills_once(postgres_app, live_server):
    """A request holds the key while it waits on a row lock; its twin arrives meanwhile and is told the key is in use."""
    merchant, secret = create_merchant("Acme", "race@acme.test", "correct horse battery")
    db.session.commit()
    customer = make_customer(merchant)
    make_card(customer)
    plan = make_plan(merchant)
    base = live_server(postgres_app)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "race-1"}
    body = {"customer_id": customer.id, "plan_id": plan.id}

    blocker = create_engine(postgres_app.config["SQLALCHEMY_DATABASE_URI"])
    with blocker.connect() as conn:
        transaction = conn.begin()
        # Invoice numbering updates the merchant row: holding its lock keeps the first request in flight.
        conn.execute(text("SELECT 1 FROM merchants WHERE id = :id FOR NO KEY UPDATE"), {"id": merchant.id})
        results = {}
        first = threading.Thread(target=lambda: results.update(
            first=httpx.post(f"{base}/v1/subscriptions", json=body, headers=headers, timeout=30)))
        first.start()
        for _ in range(100):  # wait until the first request has claimed the key and is blocked
            held = conn.execute(text("SELECT count(*) FROM idempotency_records WHERE key = 'race-1'")).scalar()
            if held:
                break
            threading.Event().wait(0.05)
        twin = httpx.post(f"{base}/v1/subscriptions", json=body, headers=headers, timeout=30)
        transaction.rollback()
    first.join(timeout=30)
    blocker.dispose()

    assert twin.status_code == 409
    assert twin.json()["error"]["code"] == "idempotency_key_in_use"
    assert results["first"].status_code == 200
    replay = httpx.post(f"{base}/v1/subscriptions", json=body, headers=headers, timeout=30)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == results["first"].json()
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(Subscription)) == 1
