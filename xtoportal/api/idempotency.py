"""`Idempotency-Key`: replay the first response for 24 h, 409 on a changed body or a request still in flight.

The key is claimed in its own committed transaction before the request runs, so a racing duplicate hits the
unique constraint and is told the key is in use. Requests refused as invalid (400) and server errors release
the key; every other response (200, 402, 404, 409…) is stored and replayed.
"""
import hashlib
import hmac

from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..extensions import db
from ..models import IdempotencyRecord
from .errors import ApiError, invalid
from .parsing import storable

RETENTION = 24 * 3600
MAX_KEY_LENGTH = 255


def _fingerprint() -> str:
    """Keyed, so a stored fingerprint cannot be brute-forced back into a body (a card number, say)."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), digestmod=hashlib.sha256)
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def claim_key() -> Response | None:
    """Before a POST runs: claim its key, or answer with the replay or the 409 at once."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not storable(key):
        raise invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters, none of them NUL.")
    fingerprint = _fingerprint()
    now = clock.now()
    db.session.execute(db.delete(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == g.merchant_id, IdempotencyRecord.key == key,
        IdempotencyRecord.created < now - RETENTION))
    record = IdempotencyRecord(merchant_id=g.merchant_id, key=key, fingerprint=fingerprint, created=now)
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalars(db.select(IdempotencyRecord).filter_by(merchant_id=g.merchant_id, key=key)).one()
        if existing.fingerprint != fingerprint:
            raise ApiError(409, "idempotency_error", "This Idempotency-Key was used with a different request.",
                           code="idempotency_key_reused")
        if existing.response_status is None:
            raise ApiError(409, "idempotency_error", "A request with this Idempotency-Key is still in progress.",
                           code="idempotency_key_in_use")
        replay = Response(existing.response_body, status=existing.response_status, mimetype="application/json")
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    g.idempotency_record_id = record.id
    g.idempotency_key = key
    return None


def store_response(response: Response) -> Response:
    """After the request: keep its response for replay, or release the key."""
    record_id = g.pop("idempotency_record_id", None)
    if record_id is None:
        return response
    db.session.rollback()  # anything the request left uncommitted is not part of its result
    record = db.session.get(IdempotencyRecord, record_id)
    if record is not None:
        if response.status_code == 400 or response.status_code >= 500:
            db.session.delete(record)
        else:
            record.response_status = response.status_code
            record.response_body = response.get_data(as_text=True)
        db.session.commit()
    return response
