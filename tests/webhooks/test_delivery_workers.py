"""Real worker processes against a real receiver: a worker killed mid-delivery, a hanging endpoint beside a
healthy one, and several workers draining thousands of events on PostgreSQL (at least once; duplicates only
where a crash forced them)."""
import threading
import time
from collections import Counter

import pytest

from xtoportal.events import Origin, emit
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant
from xtoportal.models import Event, WebhookDelivery
from xtoportal.webhooks import create_endpoint
from xtoportal.webhooks.delivery import DEFAULT_THREADS, ENDPOINT_SHARE

from .conftest import attempts, make_endpoint, rename_customer, verify


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_delivery_leaves_the_event_to_the_next_worker(api, receiver, workers, database_url):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    release = threading.Event()
    receiver.answer("/hook", hold=release)  # the first request waits: the worker is mid-delivery
    event = rename_customer(api)

    first = workers.start(database_url, WEBHOOK_LEASE=3)
    receiver.wait_for(1)
    workers.kill(first)
    release.set()
    workers.start(database_url, WEBHOOK_LEASE=3)

    held, delivered = receiver.wait_for(2, timeout=15)
    wait_until(lambda: attempts(api, endpoint)[0]["status"] == "succeeded", 10, "the delivery to be recorded")
    assert [(a["attempt"], a["status"], a["response_status"]) for a in attempts(api, endpoint)] == [
        (1, "succeeded", 200)]
    assert held.webhook_id == delivered.webhook_id == event["id"]  # a receiver that saw both drops one
    assert verify(endpoint["secret"], delivered) == event
    assert len(receiver.received()) == 2


def test_a_hanging_endpoint_does_not_delay_a_healthy_one_in_a_running_worker(api, receiver, workers, database_url):
    make_endpoint(api, receiver.url("/hang"))
    healthy = make_endpoint(api, receiver.url("/hook"))
    workers.start(database_url, WEBHOOK_TIMEOUT=5)
    rename_customer(api, "v0")
    receiver.wait_for(2, timeout=30)  # the worker is up (and idle again)
    receiver.requests.clear()
    receiver.answer("/hang", delay=8)

    first = rename_customer(api, "v1")
    emitted = time.monotonic()
    [delivered] = receiver.wait_for(1, "/hook")
    assert delivered.monotonic - emitted < 1.5

    second = rename_customer(api, "v2", first["data"]["object"]["id"])  # while the first still hangs
    emitted = time.monotonic()
    delivered = receiver.wait_for(2, "/hook")[1]
    assert delivered.monotonic - emitted < 1.5
    assert time.monotonic() - receiver.received("/hang")[0].monotonic < 5  # the first send still hangs
    assert len(receiver.wait_for(2, "/hang", timeout=1)) == 2
    assert [verify(healthy["secret"], r)["id"] for r in receiver.received("/hook")] == [first["id"], second["id"]]


def emit_events(merchant_id: str, count: int, batch: int = 500) -> list[str]:
    """`count` customer.updated events, committed `batch` at a time."""
    ids = []
    for start in range(0, count, batch):
        for n in range(start, min(start + batch, count)):
            customer = {"id": f"cus_{n:022d}", "object": "customer", "name": f"Customer {n}"}
            ids.append(emit(merchant_id, "customer.updated", customer, Origin("api"), {"name": "Old"}).id)
        db.session.commit()
    return ids


def drain(receiver, workers, database_url, *, events: int, kill_after: int | None = None, **settings):
    merchant, _ = create_merchant("Busy", "owner@busy.test", "correct horse battery")
    endpoint = create_endpoint(merchant.id, receiver.url("/hook"), ["*"], None)
    db.session.commit()
    secret = endpoint.secret
    ids = emit_events(merchant.id, events)  # a backlog: the three workers compete for the same rows
    started = [workers.start(database_url, **settings) for _ in range(3)]
    if kill_after is not None:
        receiver.wait_for(kill_after, timeout=120)
        workers.kill(started[0])

    def all_recorded():
        return db.session.scalar(db.select(db.func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.status == "pending")) == 0

    wait_until(all_recorded, 240, "every delivery to be recorded")
    rows = db.session.execute(db.select(WebhookDelivery.attempt, WebhookDelivery.status)).all()
    assert Counter(rows) == {(1, "succeeded"): events}
    received = receiver.received()
    assert {request.webhook_id for request in received} == set(ids)  # every event, at least once
    for request in received:
        verify(secret, request)
    assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == events
    return Counter(request.webhook_id for request in received)


@pytest.mark.postgres
def test_three_workers_drain_5000_events_delivering_each_exactly_once(postgres_app, migrated_postgres, receiver,
                                                                       workers):
    copies = drain(receiver, workers, migrated_postgres, events=5000, cli=True)
    assert set(copies.values()) == {1}  # no crash, no duplicate


@pytest.mark.postgres
def test_a_worker_killed_among_three_costs_at_most_its_sends_in_flight_in_duplicates(
        postgres_app, migrated_postgres, receiver, workers):
    copies = drain(receiver, workers, migrated_postgres, events=1000, kill_after=200, WEBHOOK_LEASE=5)
    duplicates = sum(count - 1 for count in copies.values())
    # Only what the killed worker had in flight, at most its share of threads for one endpoint, is sent twice.
    assert max(copies.values()) <= 2 and duplicates <= DEFAULT_THREADS // ENDPOINT_SHARE
