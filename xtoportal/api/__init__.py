"""The merchant API under /v1: authentication, idempotency, errors; one module per resource (rate limits:
xtoportal/rate_limits.py)."""
from flask import Blueprint, g, request

from .. import clock
from ..extensions import db
from ..events import Origin
from ..models import ApiKey, sha256
from . import idempotency
from .errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/v1")
PUBLIC_ENDPOINTS = {"api.openapi"}
LAST_USED_RESOLUTION = 60  # seconds: record use at most once a minute per key, not a write per request


def api_origin() -> Origin:
    """Events caused by this API request carry its idempotency key."""
    return Origin("api", g.get("idempotency_key"))


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError(401, "authentication_error", "No API key provided. Send 'Authorization: Bearer sk_test_…'.",
                       code="api_key_missing")
    scheme, _, secret = header.partition(" ")
    key = None
    if scheme.lower() == "bearer" and secret.startswith("sk_test_"):
        key = db.session.scalars(db.select(ApiKey).filter_by(secret_hash=sha256(secret.strip()))).first()
    if key is None or key.revoked_at is not None:
        raise ApiError(401, "authentication_error", "Invalid API key provided.", code="api_key_invalid")
    g.merchant_id = key.merchant_id
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        db.session.commit()
    return idempotency.claim_key()


@bp.after_request
def finish(response):
    return idempotency.store_response(response)


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    db.session.rollback()
    return error.response()


from . import (  # noqa: E402,F401  (routes register on import)
    customers, events, invoices, openapi, payment_methods, plans, portal_configuration, portal_sessions,
    subscriptions, webhook_endpoints,
)
