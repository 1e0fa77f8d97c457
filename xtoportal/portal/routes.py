"""Portal pages: opening a link, the overview, and the page shown once a session has ended."""
from datetime import UTC, datetime

from flask import abort, g, redirect, render_template, url_for
from flask_babel import format_date, ngettext

from .. import clock
from .. import portal_settings  # a module, not its names: portal_settings imports this package's return_urls
from ..extensions import db
from . import bp
from .access import (
    LIVE, cookie_portal_session, forget_portal_identity, open_portal_link, portal_login_required,
    portal_subscriptions, refusal_page, remember_browser,
)


bp.before_request(forget_portal_identity)


@bp.after_request
def private_page_headers(response):
    """Portal pages hold one customer's data and, on the link URL, a token: never cached, never sent as Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


@bp.context_processor
def portal_page_context():
    config = g.get("portal_config")
    return {
        "theme": portal_settings.portal_theme(config) if config is not None else None,
        "return_url": g.get("return_url"),
        "format_day": format_day,
        "billing_interval": billing_interval,
    }


def format_day(timestamp: int | None) -> str:
    """A Unix timestamp as a date in the page's locale, e.g. "Mar 5, 2025" / "5 mars 2025"."""
    return format_date(datetime.fromtimestamp(timestamp, UTC), "medium") if timestamp is not None else ""


def billing_interval(plan) -> str:
    """"month", "3 months"…: what the price is per, in the page's locale."""
    count = plan.interval_count or 1
    words = {
        "day": ngettext("day", "%(num)d days", count),
        "week": ngettext("week", "%(num)d weeks", count),
        "month": ngettext("month", "%(num)d months", count),
        "year": ngettext("year", "%(num)d years", count),
    }
    return words.get(plan.interval, plan.interval)


@bp.get("/")
@portal_login_required
def overview():
    return render_template("portal/overview.html", customer=g.customer, subscriptions=portal_subscriptions())


@bp.get("/expired")
def expired():
    """Where htmx is sent when a session ends mid-page; a browser still inside goes back to the overview."""
    session = cookie_portal_session()
    if session is not None and session.status_at(clock.now()) == LIVE:
        return redirect(url_for(".overview"), 303)
    return refusal_page("ended", session)


@bp.get("/<token>")
def open_link(token):
    """Trade the link's token for a cookie and land on a URL without it."""
    if not token.startswith("sess_"):
        abort(404)
    outcome = open_portal_link(token)
    if outcome.kind not in ("entered", "reentered"):
        return refusal_page(outcome.kind, outcome.session)
    db.session.commit()
    response = redirect(url_for(".overview"), 303)
    if outcome.browser_secret is not None:
        remember_browser(response, outcome.session, outcome.browser_secret)
    return response
