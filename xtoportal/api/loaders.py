"""Ownership in one place: every object the API touches is loaded here, scoped to the calling merchant.

Another merchant's object answers exactly like a missing one.
"""
from flask import g
from sqlalchemy.orm import lazyload

from ..extensions import db
from ..models import (
    Customer, Event, Invoice, PaymentMethod, Plan, PortalSession, Subscription, WebhookDelivery, WebhookEndpoint,
)
from .errors import not_found
from .parsing import storable

_KINDS = {
    Customer: "customer", Plan: "plan", Subscription: "subscription", Invoice: "invoice",
    PaymentMethod: "payment_method", PortalSession: "customer_portal.session", Event: "event",
    WebhookEndpoint: "webhook_endpoint", WebhookDelivery: "webhook_delivery",
}


def kind_of(model) -> str:
    """The API's name for a model's objects, as used in error messages."""
    return _KINDS[model]


def owned_or_404(model, id: str, param: str | None = None, lock: bool = False):
    """The merchant's `model` row with this id; 404 (or 400 naming `param` for a body id) otherwise."""
    query = db.select(model).where(model.id == id, model.merchant_id == g.merchant_id)
    if lock:
        # No joined loads under a lock, and the row read afresh: PostgreSQL re-reads a row changed by the
        # transaction we waited for without its joined rows (a subscription's plan would come back empty).
        query = (query.options(lazyload("*")).with_for_update(of=model)
                 .execution_options(populate_existing=True))
    # An id no database could store (a NUL, an unpaired surrogate) names nothing; PostgreSQL would raise on it.
    row = db.session.scalars(query).first() if isinstance(id, str) and storable(id) else None
    if row is None or getattr(row, "detached_at", None) is not None:
        raise not_found(_KINDS[model], str(id), param)
    return row


def customer_payment_method_or_404(customer: Customer, pm_id: str, param: str | None = None) -> PaymentMethod:
    """One of this customer's attached payment methods."""
    method = owned_or_404(PaymentMethod, pm_id, param)
    if method.customer_id != customer.id:
        raise not_found("payment_method", pm_id, param)
    return method
