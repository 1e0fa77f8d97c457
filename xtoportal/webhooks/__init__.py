"""Webhook endpoints: creating, changing, turning on and off, deleting — the same for the API and the dashboard.

Callers validate first (the URL with `urls.check_endpoint_url`, event types against `events.EVENT_TYPES`);
secrets and signatures live in `signing`. Nothing here commits.
"""
from ..extensions import db
from ..models import WebhookDelivery, WebhookEndpoint
from .signing import new_secret

ENABLED, DISABLED = "enabled", "disabled"

# Why an endpoint is disabled, as the merchant reads it in `disabled_reason`.
DISABLED_BY_HAND = "disabled by hand"
DISABLED_GONE = "the endpoint answered 410 Gone"
DISABLED_FAILING = "too many consecutive failed deliveries"


def create_endpoint(merchant_id: str, url: str, enabled_events: list[str], description: str | None) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret, added to the session."""
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id, url=url, enabled_events=list(enabled_events), description=description,
        status=ENABLED, secret=new_secret(), consecutive_failures=0,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def update_endpoint(endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    """Apply validated `changes` among `url`, `enabled_events`, `description` and `status`."""
    for field in ("url", "enabled_events", "description"):
        if field in changes:
            setattr(endpoint, field, list(changes[field]) if field == "enabled_events" else changes[field])
    if changes.get("status") == ENABLED:
        enable_endpoint(endpoint)
    elif changes.get("status") == DISABLED:
        disable_endpoint(endpoint, DISABLED_BY_HAND)
    return endpoint


def disable_endpoint(endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop queueing events for `endpoint`; an endpoint already disabled keeps its first reason."""
    if endpoint.status != DISABLED:
        endpoint.status, endpoint.disabled_reason = DISABLED, reason


def enable_endpoint(endpoint: WebhookEndpoint) -> None:
    """Queue events for `endpoint` again, with a clean slate: no reason, no failures counted."""
    if endpoint.status != ENABLED:
        endpoint.status, endpoint.disabled_reason, endpoint.consecutive_failures = ENABLED, None, 0
        endpoint.failing_since = None


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Delete `endpoint` and its delivery log, so no pending delivery is left pointing at nothing.

    The foreign key cascades on PostgreSQL; SQLite does not enforce foreign keys here, hence the explicit delete.
    """
    db.session.execute(db.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
