"""Customers: search by email, name or id; one customer's subscriptions, invoices, payment methods and events;
and the door into a support preview of their portal."""
from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import or_
from sqlalchemy.orm import lazyload

from ..extensions import db
from ..models import Customer, Event, Invoice, PaymentMethod, Subscription
from . import bp
from .auth import requires
from .loaders import merchant_row_or_404, merchant_rows, newest_first_page
from .support_preview import end_preview, start_preview

RECENT = 25
MAX_QUERY = 200


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_search(text: str):
    """The merchant's customers whose email or name contains `text`, or whose id is `text` (case-insensitive)."""
    query = merchant_rows(Customer)
    text = text.replace("\x00", "").strip()[:MAX_QUERY]  # PostgreSQL refuses NUL in a query; nobody searches for it
    if text:
        pattern = _like(text)
        query = query.where(or_(Customer.id == text, Customer.email.ilike(pattern, escape="\\"),
                                Customer.name.ilike(pattern, escape="\\")))
    return query


@bp.get("/customers")
@requires("view")
def customers():
    text = request.args.get("q", "")
    rows, next_cursor = newest_first_page(customer_search(text), Customer)
    latest = _latest_subscriptions([row.id for row in rows])
    template = "dashboard/_customer_rows.html" if request.headers.get("HX-Request") == "true" \
        else "dashboard/customers.html"
    return render_template(template, customers=rows, latest=latest, q=text, next_cursor=next_cursor)


def _latest_subscriptions(customer_ids: list[str]) -> dict:
    """Each customer's newest subscription, in one query."""
    if not customer_ids:
        return {}
    latest = {}
    for subscription in db.session.scalars(
            merchant_rows(Subscription).where(Subscription.customer_id.in_(customer_ids))
            .order_by(Subscription.sort_key.desc())):
        latest.setdefault(subscription.customer_id, subscription)
    return latest


@bp.get("/customers/<id>")
@requires("view")
def customer(id):
    customer = merchant_row_or_404(Customer, id)
    subscriptions = db.session.scalars(
        merchant_rows(Subscription).where(Subscription.customer_id == customer.id)
        .order_by(Subscription.sort_key.desc())).all()
    invoices = db.session.scalars(
        merchant_rows(Invoice).where(Invoice.customer_id == customer.id).options(lazyload(Invoice.lines))
        .order_by(Invoice.sort_key.desc()).limit(RECENT)).all()
    methods = db.session.scalars(
        merchant_rows(PaymentMethod).where(PaymentMethod.customer_id == customer.id)
        .order_by(PaymentMethod.detached_at.is_not(None), PaymentMethod.sort_key.desc())).all()
    related = [customer.id, *(s.id for s in subscriptions), *(i.id for i in invoices), *(m.id for m in methods)]
    events = db.session.scalars(
        merchant_rows(Event).where(Event.object_id.in_(related)).order_by(Event.sort_key.desc()).limit(RECENT)).all()
    return render_template("dashboard/customer.html", customer=customer, subscriptions=subscriptions,
                           invoices=invoices, payment_methods=methods, events=events)


@bp.post("/customers/<id>/preview")
@requires("preview_portal")
def preview_customer_portal(id):
    customer = merchant_row_or_404(Customer, id)
    start_preview(customer)
    db.session.commit()
    return redirect(url_for("portal.overview"), 303)


@bp.post("/preview/end")
@requires("view")
def end_customer_preview():
    customer_id = end_preview()
    flash("Preview ended.")
    if customer_id:
        return redirect(url_for(".customer", id=customer_id), 303)
    return redirect(url_for(".customers"), 303)
