"""The merchant dashboard under /dashboard: sign-in and roles (auth), Settings → Customer Portal with its live
preview and logo (settings, sample_portal, logos), customers and the support preview of their portal (customers,
support_preview), developers (API keys, webhooks, events) and the audit log."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Routes register on import.
from . import auth, customers, developers, routes, settings, support_preview  # noqa: E402,F401
