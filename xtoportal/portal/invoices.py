"""Portal invoices: the billing history, invoice PDFs, and paying an open invoice (cards settle at once, mobile money
waits for the handset while the page polls)."""
from flask import Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext
from sqlalchemy import tuple_
from sqlalchemy.orm import lazyload

from .. import clock
from .. import invoice_pdf  # the module: it imports portal_settings, which imports this package
from ..billing import payments
from ..events import Origin
from ..extensions import db
from ..models import Invoice, Payment, PaymentMethod
from . import bp
from .access import portal_invoice_or_404, portal_login_required, portal_payment_method_or_404
from .access import wants_fragment
from .routes import changes_refused_in_preview, feature_required, is_due

PORTAL = Origin("portal")
PAGE_SIZE = 10
NO_HISTORY = lazy_gettext("Billing history isn't available for this account.")

# Why a payment failed, in the customer's words, by the processor's failure code.
FAILURE_REASONS = {
    "card_declined": lazy_gettext("Your card was declined."),
    "insufficient_funds": lazy_gettext("Your card has insufficient funds."),
    "expired_card": lazy_gettext("Your card has expired."),
    "declined": lazy_gettext("The payment was declined on your phone."),
    "timed_out": lazy_gettext("Your phone didn't answer in time, so the payment was cancelled."),
}


# Billing history

def invoice_page(customer, after: str | None, size: int = PAGE_SIZE) -> tuple[list[Invoice], bool]:
    """One page of the customer's invoices, newest first, after the invoice `after` (a cursor); and whether more
    follow. An unknown cursor gives an empty page."""
    query = (db.select(Invoice).options(lazyload(Invoice.lines))
             .where(Invoice.merchant_id == customer.merchant_id, Invoice.customer_id == customer.id))
    if after:
        cursor = (db.select(Invoice.sort_key)
                  .where(Invoice.id == after, Invoice.customer_id == customer.id).scalar_subquery())
        # A row-value comparison: the index (customer_id, sort_key, id) answers it directly, backwards, no sort.
        query = query.where(tuple_(Invoice.sort_key, Invoice.id) < tuple_(cursor, after))
    rows = list(db.session.scalars(query.order_by(Invoice.sort_key.desc(), Invoice.id.desc()).limit(size + 1)))
    return rows[:size], len(rows) > size


@bp.get("/invoices")
@portal_login_required
@feature_required("invoice_history", NO_HISTORY)
def invoices():
    """Every invoice, ten at a time: "Show more" appends the next rows with htmx, or follows `?after=` without it."""
    after = request.args.get("after") or None
    if after is not None and (len(after) > 40 or "\x00" in after):  # no invoice id (PostgreSQL refuses NUL)
        after = "in_unknown"  # an unknown cursor: the empty page
    page, has_more = invoice_page(g.customer, after)
    fragment = wants_fragment()
    template = "portal/_invoice_rows.html" if fragment else "portal/invoices.html"
    return render_template(template, invoices=page, has_more=has_more, after=after, fragment=fragment)


@bp.get("/invoices/<id>/pdf")
@portal_login_required
@feature_required("invoice_history", NO_HISTORY)
def invoice_pdf_download(id):
    """The invoice as a PDF attachment, in the portal's language (rendered once, then served from storage)."""
    invoice = portal_invoice_or_404(id)
    pdf = invoice_pdf.invoice_pdf(invoice, g.locale)
    db.session.commit()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.pdf"'
    return response


# Paying an open invoice: one partial (`_pay_invoice.html`) whose step follows the invoice and its payment.

@bp.get("/invoices/<id>/pay")
@portal_login_required
def pay_invoice(id):
    """The pay step of an open invoice, or where the payment named by `?payment=` stands: a pending mobile-money
    payment is asked about on each poll, so the page moves on as soon as the handset answers."""
    invoice = portal_invoice_or_404(id)
    payment = method = None
    if request.args.get("payment"):
        payment, method = payment_on_invoice_or_404(invoice, request.args["payment"])
        if payment.status == "pending":
            payments.poll(payment, current_app.config["MOBILE_MONEY_TIMEOUT"], PORTAL, clock.now())
            if payment.status != "pending":
                db.session.commit()
    return pay_step(invoice, payment, method)


@bp.post("/invoices/<id>/pay")
@portal_login_required
@changes_refused_in_preview
def submit_payment(id):
    """Charge an open invoice to one of the customer's active payment methods (Post/Redirect/Get without htmx)."""
    invoice = locked(portal_invoice_or_404(id))
    in_flight = pending_payment(invoice)
    if in_flight is not None or not is_due(invoice):  # a second click, or another tab, got there first
        return pay_outcome(invoice, in_flight)
    method_id = request.form.get("payment_method", "")
    if not method_id:
        return pay_step(invoice, error=_("Choose how you'd like to pay."), status=422)
    method = portal_payment_method_or_404(method_id)
    if method.status != PaymentMethod.ACTIVE:
        return pay_step(invoice, error=_("This payment method isn't ready yet: choose another one."), status=422)
    payment = payments.collect(invoice, method, PORTAL, clock.now())
    db.session.commit()
    return pay_outcome(invoice, payment, method)


def pay_outcome(invoice: Invoice, payment: Payment | None, method: PaymentMethod | None = None):
    """After a POST: the next step itself for htmx, a redirect to it otherwise (so a reload never pays twice)."""
    if wants_fragment():
        if payment is not None and method is None:
            payment, method = payment_on_invoice_or_404(invoice, payment.id)
        return pay_step(invoice, payment, method)
    return redirect(url_for(".pay_invoice", id=invoice.id, payment=payment.id if payment else None), 303)


def pay_step(invoice: Invoice, payment: Payment | None = None, method: PaymentMethod | None = None,
             error: str | None = None, status: int = 200):
    """Render the pay partial in the state the invoice and payment are in: the whole page, or the partial alone."""
    choosing = is_due(invoice) and (payment is None or payment.status == "failed")
    methods = payable_methods() if choosing else []
    selected = request.form.get("payment_method") or g.customer.default_payment_method_id
    context = {
        "invoice": invoice, "payment": payment, "paid_with": method, "methods": methods, "error": error,
        "selected_method": selected if any(m.id == selected for m in methods) else (methods[0].id if methods else None),
        "failure_reason": FAILURE_REASONS.get(payment.failure_code or "", _("The payment didn't go through."))
        if payment is not None and payment.status == "failed" else None,
        "timeout_minutes": max(current_app.config["MOBILE_MONEY_TIMEOUT"] // 60, 1),
        "fragment": wants_fragment(),
    }
    template = "portal/_pay_invoice.html" if context["fragment"] else "portal/pay_invoice.html"
    return render_template(template, **context), status


def payable_methods() -> list[PaymentMethod]:
    """The customer's active, attached payment methods: the default first, then the newest."""
    methods = list(db.session.scalars(
        db.select(PaymentMethod)
        .where(PaymentMethod.merchant_id == g.merchant.id, PaymentMethod.customer_id == g.customer.id,
               PaymentMethod.status == PaymentMethod.ACTIVE, PaymentMethod.detached_at.is_(None))
        .order_by(PaymentMethod.sort_key.desc())
    ))
    return sorted(methods, key=lambda m: m.id != g.customer.default_payment_method_id)


def payment_on_invoice_or_404(invoice: Invoice, id: str) -> tuple[Payment, PaymentMethod]:
    """A payment made on `invoice` (so on this customer's invoice) and its method; 404 for anything else.

    The payment row comes locked, so a poll and the worker never both settle it; while the worker holds it, it is
    read as it stands (still pending: the next poll sees the answer).
    """
    if len(id) > 40 or "\x00" in id:  # no payment id (PostgreSQL refuses NUL)
        abort(404)
    query = (db.select(Payment, PaymentMethod).join(PaymentMethod, PaymentMethod.id == Payment.payment_method_id)
             .where(Payment.id == id, Payment.invoice_id == invoice.id))
    row = db.session.execute(query.with_for_update(of=Payment, skip_locked=True)).first()
    if row is None:
        row = db.session.execute(query).first()
    if row is None:
        abort(404)
    return row.Payment, row.PaymentMethod


def pending_payment(invoice: Invoice) -> Payment | None:
    """The payment of `invoice` still waiting for a handset, if any: never start a second one beside it."""
    return db.session.scalars(
        db.select(Payment).where(Payment.invoice_id == invoice.id, Payment.status == "pending").limit(1)).first()


def locked(invoice: Invoice) -> Invoice:
    """`invoice` re-read under a row lock, so two submits of the same invoice pay it once."""
    return db.session.scalars(
        db.select(Invoice).where(Invoice.id == invoice.id).with_for_update(of=Invoice)
        .execution_options(populate_existing=True)
    ).one()
