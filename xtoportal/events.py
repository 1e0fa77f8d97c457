"""Writing events to the outbox, in the same transaction as the change they describe."""
from dataclasses import dataclass

from . import clock
from .extensions import db
from .models import Event, WebhookDelivery, WebhookEndpoint

EVENT_TYPES = (
    "subscription.created",
    "subscription.updated",
    "subscription.cancellation_scheduled",
    "subscription.canceled",
    "subscription.paused",
    "subscription.resumed",
    "customer.updated",
    "customer.payment_method_updated",
    "invoice.created",
    "invoice.paid",
    "invoice.payment_failed",
)


@dataclass(frozen=True)
class Origin:
    """What caused a change: `api`, `portal`, `dashboard` or `billing`, and the API's idempotency key if any."""

    source: str
    idempotency_key: str | None = None


BILLING = Origin("billing")


def emit(merchant_id: str, type: str, obj: dict, origin: Origin, previous_attributes: dict | None = None) -> Event:
    """Add an event and its pending webhook deliveries to the current transaction (the caller commits)."""
    assert type in EVENT_TYPES, type
    data = {"object": obj, "previous_attributes": previous_attributes or {}}
    event = Event(
        merchant_id=merchant_id, type=type, object_id=obj["id"], data=data,
        request_source=origin.source, idempotency_key=origin.idempotency_key,
    )
    db.session.add(event)
    db.session.flush()
    queue_deliveries(event)
    return event


def queue_deliveries(event: Event, endpoints: list[WebhookEndpoint] | None = None) -> list[WebhookDelivery]:
    """A pending delivery of `event` to each enabled endpoint that takes its type."""
    if endpoints is None:
        endpoints = db.session.scalars(
            db.select(WebhookEndpoint).filter_by(merchant_id=event.merchant_id, status="enabled")
        ).all()
    deliveries = [
        WebhookDelivery(merchant_id=event.merchant_id, event_id=event.id, endpoint_id=endpoint.id,
                        attempt=1, status="pending", next_attempt_at=clock.now())
        for endpoint in endpoints if endpoint.takes(event.type)
    ]
    db.session.add_all(deliveries)
    return deliveries


def changed_fields(before: dict, after: dict) -> dict:
    """`previous_attributes`: the top-level fields of `before` whose value differs in `after`."""
    return {key: value for key, value in before.items() if after.get(key) != value}
