"""Delivering events to a real receiver on 127.0.0.1: signatures, the retry schedule on a moved clock, 410, 3xx,
disabling a failing endpoint, resend, rollback, and one slow endpoint beside a healthy one.

The worker's own pass (`deliver_due`, what `xtoportal worker --once` runs) sends from this process so the clock
can move; tests/webhooks/test_delivery_workers.py runs real worker processes.
"""
import time
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from xtoportal import clock
from xtoportal.events import Origin, emit
from xtoportal.extensions import csrf, db
from xtoportal.models import Customer, Event, WebhookDelivery, WebhookEndpoint
from xtoportal.webhooks import DISABLED_FAILING, DISABLED_GONE
from xtoportal.webhooks.delivery import EXCERPT_BYTES, RETRY_DELAYS, DeliveryPool, deliver_due

from .conftest import attempts, make_endpoint, rename_customer, verify

TIMEOUT = 1  # the worker's answer deadline in these tests (10 s in production)
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def short_timeout(app):
    app.config["WEBHOOK_TIMEOUT"] = TIMEOUT


@pytest.fixture
def start():
    """A frozen clock at the real now, so the first attempts are also signed at the real time."""
    now = int(time.time())
    with clock.frozen(now):
        yield now


def endpoint_row(endpoint: dict) -> WebhookEndpoint:
    db.session.expire_all()
    return db.session.get(WebhookEndpoint, endpoint["id"])


def move_to(timestamp: int) -> None:
    clock.advance(timestamp - clock.now())


def with_one_byte_changed(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


# ---------------------------------------------------------------------------------------------------------------
# What a receiver gets


def test_a_delivery_verifies_with_standardwebhooks_and_carries_the_event(api, receiver):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    event = rename_customer(api)

    assert deliver_due() == 1

    [request] = receiver.received()
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers) == event
    assert request.webhook_id == event["id"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("xtoportal-webhooks/")
    assert b" " not in request.body  # compact JSON
    [attempt] = attempts(api, endpoint)
    assert (attempt["event_id"], attempt["attempt"], attempt["status"]) == (event["id"], 1, "succeeded")
    assert (attempt["response_status"], attempt["response_excerpt"], attempt["next_attempt_at"]) == (200, "ok", None)
    assert isinstance(attempt["latency_ms"], int) and 0 <= attempt["latency_ms"] < 5000


def test_a_one_byte_change_to_the_id_the_timestamp_or_the_body_fails_verification(api, receiver):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    rename_customer(api)
    deliver_due()
    [request] = receiver.received()
    webhook = Webhook(endpoint["secret"])
    webhook.verify(request.body, request.headers)

    for name in ("webhook-id", "webhook-timestamp"):
        changed = {**request.headers, name: with_one_byte_changed(request.headers[name])}
        with pytest.raises(WebhookVerificationError):
            webhook.verify(request.body, changed)
    body = bytearray(request.body)
    body[len(body) // 2] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        webhook.verify(bytes(body), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(make_endpoint(api, receiver.url("/other"))["secret"]).verify(request.body, request.headers)


def test_during_a_secret_rotation_both_secrets_verify(api, receiver):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    rotated = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret", json={"expires_in": 3600}).get_json()
    rename_customer(api)
    deliver_due()
    [request] = receiver.received()
    Webhook(endpoint["secret"]).verify(request.body, request.headers)
    Webhook(rotated["secret"]).verify(request.body, request.headers)


# ---------------------------------------------------------------------------------------------------------------
# Failures, retries, recovery


def break_receiver(receiver, how: str) -> None:
    if how == "down":
        receiver.stop()
    else:
        receiver.answer("/hook", **{"500": {"status": 500, "body": b"boom"},
                                    "slow": {"delay": TIMEOUT + 0.5},
                                    "closing": {"close": True}}[how])


def heal_receiver(receiver, how: str) -> None:
    if how == "down":
        receiver.start()
    else:
        receiver.answer("/hook")


@pytest.mark.parametrize("how", ["500", "slow", "closing", "down"])
def test_a_failed_delivery_is_retried_on_schedule_and_arrives_once_the_receiver_recovers(api, receiver, start, how):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    break_receiver(receiver, how)
    event = rename_customer(api)

    deliver_due()
    first, second = attempts(api, endpoint)
    assert (first["attempt"], first["status"]) == (1, "failed")
    assert first["response_status"] == (500 if how == "500" else None)
    assert first["response_excerpt"].startswith({"500": "boom", "slow": f"no answer within {TIMEOUT:g} s",
                                                 "closing": "no answer: ", "down": "no answer: "}[how])
    assert (second["attempt"], second["status"]) == (2, "pending")
    assert start + 4 <= second["next_attempt_at"] <= start + 6  # 5 s, give or take 10 %
    assert first["next_attempt_at"] == second["next_attempt_at"]  # the failed attempt says when the next one is

    clock.advance(3)
    deliver_due()
    assert len(attempts(api, endpoint)) == 2  # not due yet: nothing sent

    move_to(second["next_attempt_at"])
    deliver_due()
    third = attempts(api, endpoint)[2]
    assert (third["attempt"], third["status"]) == (3, "pending")
    assert clock.now() + 270 <= third["next_attempt_at"] <= clock.now() + 330  # 5 min, give or take 10 %

    heal_receiver(receiver, how)
    move_to(third["next_attempt_at"])
    deliver_due()

    log = attempts(api, endpoint)
    assert [(a["attempt"], a["status"]) for a in log] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    delivered = receiver.received()[-1]
    assert verify(endpoint["secret"], delivered) == event
    assert delivered.received_at == third["next_attempt_at"]
    sent = receiver.received()
    assert len(sent) == (1 if how == "down" else 3)
    assert {request.webhook_id for request in sent} == {event["id"]}  # the same id on every attempt
    for request in sent:
        verify(endpoint["secret"], request)
    row = endpoint_row(endpoint)
    assert (row.status, row.consecutive_failures, row.failing_since) == ("enabled", 0, None)


def test_after_the_last_scheduled_retry_no_attempt_follows(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hook", status=503)
    rename_customer(api)

    failed_at = []
    for _ in range(len(RETRY_DELAYS) + 1):
        failed_at.append(clock.now())
        deliver_due()
        pending = [a for a in attempts(api, endpoint) if a["status"] == "pending"]
        if pending:
            move_to(pending[0]["next_attempt_at"])

    log = attempts(api, endpoint)
    assert [a["attempt"] for a in log] == list(range(1, 11))
    assert {a["status"] for a in log} == {"failed"} and log[-1]["next_attempt_at"] is None
    waits = [later - earlier for earlier, later in zip(failed_at, failed_at[1:])]
    for waited, scheduled in zip(waits, RETRY_DELAYS, strict=True):
        assert scheduled * 0.9 - 1 <= waited <= scheduled * 1.1 + 1
    assert len(receiver.received()) == 10
    clock.advance(7 * DAY)
    assert deliver_due() == 0
    row = endpoint_row(endpoint)
    assert (row.status, row.consecutive_failures) == ("enabled", 10)  # about 3 days of failures: not yet 5


def http_date(timestamp: int) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, tz=timezone.utc), usegmt=True)


@pytest.mark.parametrize("retry_after, waits", [
    ("3600", 3600),
    ("date:7200", 7200),
    ("999999", DAY),  # at most a day
    ("1", None),  # earlier than the schedule: the schedule wins
    ("soon", None),  # not a delay: the schedule
])
def test_retry_after_is_honoured_when_later_than_the_schedule(api, receiver, start, retry_after, waits):
    if retry_after.startswith("date:"):
        retry_after = http_date(start + int(retry_after.removeprefix("date:")))
    endpoint = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hook", status=429, headers={"Retry-After": retry_after})
    rename_customer(api)
    deliver_due()
    retry = attempts(api, endpoint)[1]
    if waits is None:
        assert start + 4 <= retry["next_attempt_at"] <= start + 6
    else:
        assert retry["next_attempt_at"] == start + waits


def test_a_redirect_is_a_failure_and_is_not_followed(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/moved"))
    receiver.answer("/moved", status=301, headers={"Location": receiver.url("/hook")})
    rename_customer(api)
    deliver_due()
    failed, retry = attempts(api, endpoint)
    assert (failed["status"], failed["response_status"]) == ("failed", 301)
    assert (retry["attempt"], retry["status"]) == (2, "pending")
    assert [request.path for request in receiver.received()] == ["/moved"]


def test_410_gone_disables_the_endpoint_without_a_retry(api, receiver, start):
    gone = make_endpoint(api, receiver.url("/gone"))
    healthy = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/gone", status=410)
    rename_customer(api)
    deliver_due()

    [attempt] = attempts(api, gone)
    assert (attempt["status"], attempt["response_status"], attempt["next_attempt_at"]) == ("failed", 410, None)
    shown = api.get(f"/v1/webhook_endpoints/{gone['id']}").get_json()
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", DISABLED_GONE)
    assert [a["status"] for a in attempts(api, healthy)] == ["succeeded"]

    rename_customer(api, "Newer")
    clock.advance(DAY)
    deliver_due()
    assert len(attempts(api, gone)) == 1 and len(receiver.received("/gone")) == 1
    assert len(receiver.received("/hook")) == 2


def test_an_endpoint_failing_for_over_five_days_is_disabled_and_the_merchant_reads_why(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hook", status=500)
    customer_id = api.post("/v1/customers", json={"name": "v0"}).get_json()["id"]
    for day in (0, 2, 4):
        move_to(start + day * DAY)
        rename_customer(api, f"day {day}", customer_id)
        deliver_due()
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()["status"] == "enabled"

    move_to(start + 5 * DAY + 1)
    rename_customer(api, "v5", customer_id)
    deliver_due()

    shown = api.get(f"/v1/webhook_endpoints/{endpoint['id']}").get_json()
    assert shown["status"] == "disabled"
    assert shown["disabled_reason"].startswith(DISABLED_FAILING)
    assert "HTTP 500" in shown["disabled_reason"]
    assert datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%d") in shown["disabled_reason"]
    sent = len(receiver.received())
    clock.advance(DAY)
    deliver_due()
    assert len(receiver.received()) == sent  # its queued retries wait


def test_one_success_clears_the_failure_count(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hook", status=500)
    customer_id = api.post("/v1/customers", json={"name": "v0"}).get_json()["id"]
    rename_customer(api, "v1", customer_id)
    deliver_due()
    assert endpoint_row(endpoint).failing_since == start

    move_to(start + 4 * DAY)
    receiver.answer("/hook")
    rename_customer(api, "v2", customer_id)
    deliver_due()
    row = endpoint_row(endpoint)
    assert (row.consecutive_failures, row.failing_since) == (0, None)

    receiver.answer("/hook", status=500)
    move_to(start + 6 * DAY)
    rename_customer(api, "v3", customer_id)
    deliver_due()
    row = endpoint_row(endpoint)
    assert (row.status, row.consecutive_failures, row.failing_since) == ("enabled", 1, start + 6 * DAY)


def test_a_disabled_endpoints_queued_deliveries_wait_and_go_out_when_it_is_enabled_again(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    event = rename_customer(api)
    api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "disabled"})
    assert deliver_due() == 0 and receiver.received() == []

    api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"status": "enabled"})
    deliver_due()
    [request] = receiver.received()
    assert verify(endpoint["secret"], request) == event


def test_the_response_excerpt_is_the_first_500_bytes_as_text(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hook", status=500, body=b"\x00" + "é".encode() * 600)
    rename_customer(api)
    deliver_due()
    # 500 bytes: the NUL (shown as U+FFFD, as PostgreSQL text cannot hold it), 249 é, and half an é, dropped.
    assert attempts(api, endpoint)[0]["response_excerpt"] == "\ufffd" + "é" * ((EXCERPT_BYTES - 1) // 2)


def test_a_host_no_longer_allowed_is_not_contacted(api, receiver, start):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    rename_customer(api)
    # What a DNS change would do to a checked host: it now points into a private network.
    endpoint_row(endpoint).url = "https://10.0.0.1/hook"
    db.session.commit()
    deliver_due()
    failed, retry = attempts(api, endpoint)
    assert failed["status"] == "failed" and failed["response_status"] is None
    assert failed["response_excerpt"].startswith("not sent: ") and "10.0.0.1" in failed["response_excerpt"]
    assert retry["status"] == "pending"
    assert receiver.received() == []


# ---------------------------------------------------------------------------------------------------------------
# Resend, rollback, independence


def test_resend_queues_new_deliveries_that_are_delivered(api, receiver):
    endpoint = make_endpoint(api, receiver.url("/hook"))
    event = rename_customer(api)
    deliver_due()

    resent = api.post(f"/v1/events/{event['id']}/resend").get_json()["data"]
    deliver_due()

    assert [(a["id"], a["status"]) for a in attempts(api, endpoint)][1:] == [(resent[0]["id"], "succeeded")]
    first, again = receiver.received()
    assert first.webhook_id == again.webhook_id == event["id"]
    assert verify(endpoint["secret"], again) == event


def test_a_request_that_rolls_back_after_emitting_sends_nothing(app, api, receiver):
    @csrf.exempt
    @app.post("/test/rename-then-fail/<customer_id>")
    def rename_then_fail(customer_id):
        customer = db.session.get(Customer, customer_id)
        customer.name = "Never"
        emit(customer.merchant_id, "customer.updated", customer.to_api(), Origin("api"))
        raise RuntimeError("the request fails after its change was made")

    make_endpoint(api, receiver.url("/hook"))
    customer = api.post("/v1/customers", json={"name": "Kept"}).get_json()

    assert api.post(f"/test/rename-then-fail/{customer['id']}").status_code == 500

    db.session.expire_all()
    assert db.session.get(Customer, customer["id"]).name == "Kept"
    assert db.session.scalars(db.select(Event)).all() == []
    assert db.session.scalars(db.select(WebhookDelivery)).all() == []
    assert deliver_due() == 0 and receiver.received() == []
    event = rename_customer(api, "Committed", customer["id"])
    deliver_due()
    assert [request.webhook_id for request in receiver.received()] == [event["id"]]


def test_a_hanging_endpoint_does_not_delay_a_healthy_one(app, api, receiver):
    app.config["WEBHOOK_TIMEOUT"] = 3
    hanging = make_endpoint(api, receiver.url("/hang"))
    healthy = make_endpoint(api, receiver.url("/hook"))
    receiver.answer("/hang", delay=5)
    with DeliveryPool() as pool:
        first = rename_customer(api, "v1")
        started = time.monotonic()
        pool.step()
        [delivered] = receiver.wait_for(1, "/hook")
        assert delivered.monotonic - started < 1.5  # well before the hanging send's 3 s

        second = rename_customer(api, "v2", first["data"]["object"]["id"])  # while the first hangs
        started = time.monotonic()
        while len(receiver.received("/hook")) < 2:
            pool.step()
            pool.wait(0.01)
        assert time.monotonic() - started < 1.5
        assert [r.webhook_id for r in receiver.received("/hook")] == [first["id"], second["id"]]
        assert len(receiver.wait_for(2, "/hang", timeout=1)) == 2  # both sent, both still hanging
    assert [(a["attempt"], a["status"]) for a in attempts(api, healthy)] == [(1, "succeeded"), (1, "succeeded")]
    timed_out = [a for a in attempts(api, hanging) if a["attempt"] == 1]
    assert [(a["status"], a["response_excerpt"]) for a in timed_out] == [("failed", "no answer within 3 s")] * 2
