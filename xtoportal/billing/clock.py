"""The billing clock: everything that happens because time passed. Run by `xtoportal worker`.

Each item is claimed with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL inside its own transaction and checked
again once locked, so any number of workers can run against one database and nothing is billed twice.
(SQLite serialises writers, and one worker is the supported setup there.)
"""
import logging

from sqlalchemy import or_
from sqlalchemy.orm import lazyload

from .. import clock
from ..events import BILLING
from ..extensions import db
from ..models import Invoice, Payment, PaymentMethod, Subscription
from . import payments
from .subscriptions import advance, default_method, end

log = logging.getLogger(__name__)
BATCH = 200
MAX_CATCH_UP = 400  # periods one subscription may advance in one pass (a worker that was down for a while)


def run_due_billing(mobile_money_timeout: int, now: int | None = None) -> int:
    """One pass over everything due at `now`; returns how many steps were taken."""
    now = clock.now() if now is None else now
    done = 0
    done += _each(_pending_wallet_ids(), PaymentMethod, lambda m: _refresh_wallet(m, mobile_money_timeout, now))
    done += _each(_pending_payment_ids(), Payment, lambda p: _poll_payment(p, mobile_money_timeout, now))
    done += _each(_due_subscription_ids(now), Subscription, lambda s: _advance_all(s, now))
    done += _each(_due_retry_ids(now), Invoice, lambda i: _retry(i, now))
    return done


def _each(ids: list[str], model, step) -> int:
    done = 0
    for id in ids:
        try:
            row = locked(model, id, skip_locked=True)
            if row is not None and step(row):
                done += 1
            db.session.commit()
        except Exception:  # one broken row must not stop the clock for every other merchant
            db.session.rollback()
            log.exception("billing step failed for %s %s", model.__name__, id)
    return done


def locked(model, id: str, skip_locked: bool = False):
    """The row, locked until commit and read afresh (None if missing, or locked elsewhere with `skip_locked`).

    The query loads no relationship: PostgreSQL re-reads a row another transaction changed meanwhile without
    its joined rows (a subscription's plan would come back empty); relationships load afterwards.
    """
    return db.session.scalars(
        db.select(model).options(lazyload("*")).where(model.id == id)
        .with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)
    ).first()


def _pending_wallet_ids() -> list[str]:
    return list(db.session.scalars(
        db.select(PaymentMethod.id).where(PaymentMethod.status == PaymentMethod.PENDING,
                                          PaymentMethod.detached_at.is_(None)).limit(BATCH)))


def _refresh_wallet(method: PaymentMethod, timeout: int, now: int) -> bool:
    if method.status != PaymentMethod.PENDING:
        return False
    from .payment_methods import refresh_wallet_link
    refresh_wallet_link(method, now, timeout, BILLING)
    return method.status != PaymentMethod.PENDING


def _pending_payment_ids() -> list[str]:
    return list(db.session.scalars(db.select(Payment.id).where(Payment.status == "pending").limit(BATCH)))


def _poll_payment(payment: Payment, timeout: int, now: int) -> bool:
    if payment.status != "pending":
        return False
    payments.poll(payment, timeout, BILLING, now)
    return payment.status != "pending"


def _due_subscription_ids(now: int) -> list[str]:
    return list(db.session.scalars(
        db.select(Subscription.id).where(or_(
            Subscription.status.in_(("trialing", "active", "past_due")) & (Subscription.current_period_end <= now),
            (Subscription.status == "paused") & (Subscription.pause_resumes_at <= now),
        )).limit(BATCH)))


def _advance_all(subscription: Subscription, now: int) -> bool:
    steps = 0
    while steps < MAX_CATCH_UP and advance(subscription, BILLING, now):
        steps += 1
    return steps > 0


def _due_retry_ids(now: int) -> list[str]:
    return list(db.session.scalars(
        db.select(Invoice.id).where(Invoice.status == "open", Invoice.next_payment_attempt <= now).limit(BATCH)))


def _retry(invoice: Invoice, now: int) -> bool:
    """Charge a failed invoice again; after the last retry the invoice is uncollectible and its subscription ends."""
    if invoice.status != "open" or invoice.next_payment_attempt is None or invoice.next_payment_attempt > now:
        return False
    invoice.next_payment_attempt = None
    pending = db.session.scalar(db.select(Payment.id).where(Payment.invoice_id == invoice.id,
                                                           Payment.status == "pending").limit(1))
    if pending:
        return False
    payment = payments.collect(invoice, default_method(invoice.customer), BILLING, now)
    if payment is not None and payment.status == "pending":
        return True  # a handset is being asked; its answer settles the invoice
    if invoice.status == "open" and invoice.next_payment_attempt is None:
        invoice.status = "uncollectible"
        # Locked and read afresh: a worker renewing this subscription right now holds it, and its changes win.
        subscription = locked(Subscription, invoice.subscription_id) if invoice.subscription_id else None
        if subscription is not None and subscription.status in ("past_due", "incomplete"):
            end(subscription, BILLING, now)
    return True
