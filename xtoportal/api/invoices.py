"""/v1/invoices: list, read, PDF."""
from flask import Response, g, jsonify, request

from ..extensions import db
from ..invoice_pdf import invoice_pdf
from ..models import Customer, Invoice, Subscription
from . import bp
from .errors import invalid
from .loaders import owned_or_404
from .pagination import choice_arg, paginate


@bp.get("/invoices")
def list_invoices():
    query = db.select(Invoice).where(Invoice.merchant_id == g.merchant_id)
    if "customer_id" in request.args:
        customer = owned_or_404(Customer, request.args["customer_id"], param="customer_id")
        query = query.where(Invoice.customer_id == customer.id)
    if "subscription_id" in request.args:
        subscription = owned_or_404(Subscription, request.args["subscription_id"], param="subscription_id")
        query = query.where(Invoice.subscription_id == subscription.id)
    status = choice_arg("status", Invoice.STATUSES)
    if status is not None:
        query = query.where(Invoice.status == status)
    return paginate(query, Invoice)


@bp.get("/invoices/<id>")
def get_invoice(id):
    return jsonify(owned_or_404(Invoice, id).to_api())


@bp.get("/invoices/<id>/pdf")
def get_invoice_pdf(id):
    invoice = owned_or_404(Invoice, id)
    locale = request.args.get("locale", "en")
    if locale not in ("en", "fr"):
        raise invalid("locale", "locale must be en or fr.")
    pdf = invoice_pdf(invoice, locale)
    db.session.commit()  # keeps the rendered copy of a final invoice for the next download
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.pdf"'
    return response
