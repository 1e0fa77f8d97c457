"""Invoices: gap-free per-merchant numbering, lines, totals and the customer's credit."""
from dataclasses import dataclass

from sqlalchemy import update

from ..events import Origin, emit
from ..extensions import db
from ..models import Customer, Invoice, InvoiceLine, Merchant


@dataclass(frozen=True)
class Line:
    description: str
    amount: int
    period_start: int
    period_end: int
    proration: bool = False
    quantity: int = 1
    plan_id: str | None = None


def next_invoice_number(merchant_id: str) -> str:
    """ACME-000042: the merchant row is locked by the UPDATE until commit, so numbers never repeat or skip."""
    row = db.session.execute(
        update(Merchant).where(Merchant.id == merchant_id)
        .values(last_invoice_number=Merchant.last_invoice_number + 1)
        .returning(Merchant.invoice_prefix, Merchant.last_invoice_number)
    ).one()
    return f"{row.invoice_prefix}-{row.last_invoice_number:06d}"


def create_invoice(customer: Customer, currency: str, lines: list[Line], origin: Origin, now: int,
                   subscription_id: str | None = None) -> Invoice:
    """An open invoice for `lines`. Customer credit pays what it can; a negative total becomes credit."""
    subtotal = sum(line.amount * line.quantity for line in lines)
    invoice = Invoice(
        merchant_id=customer.merchant_id, customer_id=customer.id, subscription_id=subscription_id,
        number=next_invoice_number(customer.merchant_id), status="open", currency=currency,
        subtotal=subtotal, tax=0, total=subtotal, amount_paid=0,
        period_start=min(line.period_start for line in lines), period_end=max(line.period_end for line in lines),
        created=now,
    )
    invoice.lines = [
        InvoiceLine(position=i, description=line.description, amount=line.amount, quantity=line.quantity,
                    period_start=line.period_start, period_end=line.period_end, proration=line.proration,
                    plan_id=line.plan_id)
        for i, line in enumerate(lines)
    ]
    db.session.add(invoice)
    _settle_with_credit(customer, invoice, now)
    db.session.flush()
    emit(customer.merchant_id, "invoice.created", invoice.to_api(), origin)
    if invoice.status == "paid":
        emit(customer.merchant_id, "invoice.paid", invoice.to_api(), origin)
    return invoice


def _settle_with_credit(customer: Customer, invoice: Invoice, now: int) -> None:
    balances = dict(customer.credit_balance or {})
    credit = balances.get(invoice.currency, 0)
    if invoice.total < 0:
        balances[invoice.currency] = credit - invoice.total
    elif credit and invoice.total > 0:
        applied = min(credit, invoice.total)
        invoice.amount_paid = applied
        balances[invoice.currency] = credit - applied
    balances = {currency: amount for currency, amount in balances.items() if amount}
    if balances != (customer.credit_balance or {}):
        customer.credit_balance = balances
    if invoice.amount_due == 0:
        mark_paid(invoice, now)


def mark_paid(invoice: Invoice, now: int) -> None:
    invoice.status = "paid"
    invoice.paid_at = now
    invoice.amount_paid = max(invoice.total, 0)
    invoice.next_payment_attempt = None
