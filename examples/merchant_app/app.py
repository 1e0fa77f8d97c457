"""An example merchant app: an account page whose "Manage billing" button opens the Xtopay customer portal,
and a webhook receiver. Run it with `flask --app examples/merchant_app/app.py run --port 5001` (see README.md).
"""
import logging
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask_wtf import CSRFProtect

from xtoportal.client import WebhookVerificationError, Xtopay, XtopayError, verify_webhook

bp = Blueprint("merchant", __name__)
csrf = CSRFProtect()


def create_app(overrides: dict | None = None) -> Flask:
    """The app, configured from the environment (XTOPAY_API_KEY, XTOPAY_BASE_URL, APP_URL…) and `overrides`."""
    app = Flask(__name__, root_path=str(Path(__file__).resolve().parent))
    app.config.update(
        # Without SECRET_KEY a random one is used, so sessions and CSRF tokens reset on restart: fine for a demo.
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32),
        # Cookies are per host, not per port: beside Xtopay on 127.0.0.1:5000 (whose dashboard and portal use
        # Flask's default "session" cookie), the shop on 127.0.0.1:5001 needs its own name, or each app's
        # sign-in and CSRF session overwrites the other's.
        SESSION_COOKIE_NAME="shopwise_session",
        XTOPAY_API_KEY=os.environ.get("XTOPAY_API_KEY"),
        XTOPAY_BASE_URL=os.environ.get("XTOPAY_BASE_URL", "http://127.0.0.1:5000"),
        XTOPAY_CUSTOMER_ID=os.environ.get("XTOPAY_CUSTOMER_ID"),
        XTOPAY_WEBHOOK_SECRET=os.environ.get("XTOPAY_WEBHOOK_SECRET"),
        APP_URL=os.environ.get("APP_URL", "http://127.0.0.1:5001"),
    )
    app.config.update(overrides or {})
    app.logger.setLevel(logging.INFO)  # print received webhooks in the terminal running `flask run`
    for name in ("XTOPAY_API_KEY", "XTOPAY_CUSTOMER_ID"):
        if not app.config[name]:
            raise RuntimeError(f"Set {name} (see examples/merchant_app/README.md).")
    app.config["APP_URL"] = app.config["APP_URL"].rstrip("/")
    app.extensions["xtopay"] = Xtopay(app.config["XTOPAY_API_KEY"], base_url=app.config["XTOPAY_BASE_URL"])
    app.extensions["webhook_events"] = ReceivedEvents()
    csrf.init_app(app)
    app.register_blueprint(bp)
    return app


def xtopay() -> Xtopay:
    return current_app.extensions["xtopay"]


def current_user() -> SimpleNamespace:
    """The signed-in user. A real app loads it from its session and database; this one is always Ama."""
    return SimpleNamespace(name="Ama Mensah", email="ama@example.com",
                           xtopay_customer_id=current_app.config["XTOPAY_CUSTOMER_ID"])


class ReceivedEvents:
    """The last webhook events received, newest first, each once: retries carry the same event id."""

    def __init__(self, keep: int = 50):
        self._events: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def record(self, event: dict) -> bool:
        """Keep the event; False when it was already received (a retry), so it is not handled twice."""
        with self._lock:
            if event["id"] in self._events:
                return False
            self._events[event["id"]] = event
            while len(self._events) > self._keep:
                self._events.popitem(last=False)
            return True

    def newest_first(self) -> list[dict]:
        with self._lock:
            return list(reversed(self._events.values()))


@bp.get("/")
def index():
    return redirect(url_for("merchant.account"))


@bp.get("/account")
def account():
    return render_template("account.html", user=current_user(),
                           events=current_app.extensions["webhook_events"].newest_first())


# The whole integration: create a portal session for the signed-in customer and send the browser there.
@bp.post("/billing/portal")
def manage_billing():
    session = xtopay().customer_portal.create_session(
        customer_id=current_user().xtopay_customer_id,
        return_url=f"{current_app.config['APP_URL']}/account",
    )
    return redirect(session.url, code=303)


@bp.post("/webhooks")
@csrf.exempt  # signed by Xtopay instead; a CSRF token cannot come from another server
def receive_webhook():
    secret = current_app.config["XTOPAY_WEBHOOK_SECRET"]
    if not secret:
        return "Webhooks are not configured: set XTOPAY_WEBHOOK_SECRET.\n", 503
    try:
        event = verify_webhook(request.get_data(), request.headers, secret)
    except WebhookVerificationError as exc:
        current_app.logger.warning("refused a webhook: %s", exc)
        return "Invalid signature.\n", 400
    if current_app.extensions["webhook_events"].record(event):
        current_app.logger.info("webhook %s %s (source: %s)", event.id, event.type,
                                   (event.get("request") or {}).get("source"))
    return "", 204


@bp.app_errorhandler(XtopayError)
def billing_unavailable(error: XtopayError):
    """Any failed API call: tell the user billing is unavailable, log what the merchant needs to debug it."""
    current_app.logger.error("Xtopay API call failed: %r", error)
    return render_template("account.html", user=current_user(), error=error,
                           events=current_app.extensions["webhook_events"].newest_first()), 502
