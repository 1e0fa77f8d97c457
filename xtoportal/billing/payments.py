"""Collecting invoices from payment methods, and what a payment's outcome does to its subscription."""
from ..events import Origin, emit
from ..extensions import db
from ..models import Invoice, Payment, PaymentMethod, Subscription
from .invoices import mark_paid
from .processor import PaymentProcessor, SimulatedProcessor

RETRY_DELAYS = (24 * 3600, 3 * 24 * 3600, 5 * 24 * 3600)  # after the 1st, 2nd and 3rd failed attempt


def processor() -> PaymentProcessor:
    """The payment processor in use: the simulator, until a real provider's adapter is configured."""
    return SimulatedProcessor()


def collect(invoice: Invoice, method: PaymentMethod | None, origin: Origin, now: int,
            missing_method_fails: bool = True, announce: bool = True) -> Payment | None:
    """Charge the invoice's amount due. Cards settle now; mobile money stays `pending` until the handset answers.

    Returns the payment (None when nothing was charged: nothing due, or no usable method). A first invoice
    without a method simply stays open (`missing_method_fails=False`); a renewal without one is a failed attempt.
    `announce=False` changes the subscription's status without its own `subscription.updated` (a new subscription
    announces its settled status in `subscription.created`).
    """
    if invoice.status == "paid":  # settled already (credit balance, or nothing to pay)
        invoice_paid(invoice, origin, announce)
        return None
    if invoice.status != "open" or invoice.amount_due == 0:
        return None
    if method is None or method.status != PaymentMethod.ACTIVE or method.detached_at is not None:
        if missing_method_fails:
            record_failure(invoice, None, "no_payment_method", origin, now)
        return None
    result = processor().charge(method.processor_token, invoice.amount_due, invoice.currency, now)
    payment = Payment(merchant_id=invoice.merchant_id, invoice_id=invoice.id, payment_method_id=method.id,
                      amount=invoice.amount_due, currency=invoice.currency, status="pending",
                      reference=result.reference, created=now)
    db.session.add(payment)
    settle(payment, invoice, result.status, result.failure_code, origin, now, announce)
    return payment


def poll(payment: Payment, timeout: int, origin: Origin, now: int) -> None:
    """Ask the processor about a pending payment and settle it once the answer is in."""
    result = processor().poll_charge(payment.reference, now, timeout)
    if result.status != "pending":
        settle(payment, db.session.get(Invoice, payment.invoice_id), result.status, result.failure_code, origin, now)


def settle(payment: Payment, invoice: Invoice, status: str, failure_code: str | None, origin: Origin,
           now: int, announce: bool = True) -> None:
    if status == "pending":
        return
    payment.status, payment.failure_code, payment.decided_at = status, failure_code, now
    if status == "succeeded":
        if invoice.status == "open":
            mark_paid(invoice, now)
            emit(invoice.merchant_id, "invoice.paid", invoice.to_api(), origin)
            invoice_paid(invoice, origin, announce)
    else:
        record_failure(invoice, payment, failure_code, origin, now)


def record_failure(invoice: Invoice, payment: Payment | None, failure_code: str | None, origin: Origin,
                   now: int) -> None:
    """A failed attempt: `invoice.payment_failed`, the next retry scheduled, a renewal's subscription past due."""
    invoice.attempt_count += 1
    delays = RETRY_DELAYS
    invoice.next_payment_attempt = now + delays[invoice.attempt_count - 1] if invoice.attempt_count <= len(delays) else None
    body = invoice.to_api()
    body["last_payment_error"] = {"code": failure_code, "payment_method_id": payment.payment_method_id if payment else None}
    emit(invoice.merchant_id, "invoice.payment_failed", body, origin)
    subscription = db.session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    if subscription is not None and subscription.status == "active":
        _set_status(subscription, "past_due", origin)


def invoice_paid(invoice: Invoice, origin: Origin, announce: bool = True) -> None:
    """An incomplete or past-due subscription becomes active once its invoice is paid."""
    subscription = db.session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    if subscription is not None and subscription.status in ("incomplete", "past_due"):
        still_open = db.session.scalar(
            db.select(db.func.count()).select_from(Invoice)
            .where(Invoice.subscription_id == subscription.id, Invoice.status == "open", Invoice.id != invoice.id)
        )
        if not still_open:
            _set_status(subscription, "active", origin, announce)


def _set_status(subscription: Subscription, status: str, origin: Origin, announce: bool = True) -> None:
    previous = subscription.status
    subscription.status = status
    if announce:
        emit(subscription.merchant_id, "subscription.updated", subscription.to_api(), origin,
             previous_attributes={"status": previous})
