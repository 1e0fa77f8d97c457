"""Endpoint secrets and Standard Webhooks signatures (`standardwebhooks` verifies what this produces, as it stands).

A rotated secret keeps signing next to the new one until its overlap ends, so a receiver can switch secrets
whenever it likes within that window without rejecting a single delivery.
"""
import base64
import secrets
from datetime import datetime, timezone

from standardwebhooks import Webhook

from ..models import WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
DEFAULT_ROTATION_OVERLAP = 24 * 3600
MAX_ROTATION_OVERLAP = 7 * 24 * 3600


def new_secret() -> str:
    """A fresh endpoint secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def rotate_secret(endpoint: WebhookEndpoint, now: int, overlap: int = DEFAULT_ROTATION_OVERLAP) -> str:
    """Give `endpoint` a new secret; the current one still signs for `overlap` seconds (0: stops at once).

    Only two secrets sign at a time: rotating again during an overlap drops the oldest at once.
    """
    if not 0 <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValueError(f"overlap must be between 0 and {MAX_ROTATION_OVERLAP} seconds")
    if overlap:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + overlap
    else:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = None, None
    endpoint.secret = new_secret()
    return endpoint.secret


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    data = body.decode() if isinstance(body, bytes) else body
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=timezone.utc), data)


def signing_secrets(endpoint: WebhookEndpoint, now: int) -> list[str]:
    """The secrets that sign a delivery sent at `now`: the current one, then a rotated-out one still in overlap."""
    active = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and now < endpoint.previous_secret_expires_at:
        active.append(endpoint.previous_secret)
    return active


def signature_headers(endpoint: WebhookEndpoint, event_id: str, body: str | bytes, now: int) -> dict[str, str]:
    """`webhook-id` (the event id, the same on every attempt), `webhook-timestamp` and `webhook-signature`."""
    signatures = " ".join(sign(secret, event_id, now, body) for secret in signing_secrets(endpoint, now))
    return {"webhook-id": event_id, "webhook-timestamp": str(now), "webhook-signature": signatures}
