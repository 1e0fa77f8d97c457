"""The customer portal under /portal."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")

from . import details, invoices, payment_methods, routes, subscriptions  # noqa: E402,F401  (routes register on import)
