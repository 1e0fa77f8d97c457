"""Who the customer is: the one place that trades a link for a browser cookie, reads that cookie back, and
loads the objects a portal customer may see.

The cookie is `<session id>.<browser secret>`; only the secret's SHA-256 is stored, so a database reader cannot
forge a browser, and a link opened in a second browser finds the session already bound to the first.
"""
import hmac
import secrets
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, g, make_response, render_template, request, url_for
from flask_babel import refresh as refresh_babel
from sqlalchemy import bindparam
from sqlalchemy.orm import joinedload, lazyload

from .. import clock
from ..extensions import db
from ..models import (
    Invoice, PaymentMethod, PortalConfiguration, PortalSession, Subscription, sha256,
)
from ..web import LOCALES
from .tokens import ExpiredPortalToken, InvalidPortalToken, verify_portal_token

COOKIE_NAME = "xtoportal_portal"
COOKIE_PATH = "/portal"
LIVE = "redeemed"  # the status of a session a browser is inside
# What a portal request knows about who it acts for, all set here.
PORTAL_GLOBALS = ("portal_session", "customer", "merchant", "portal_config", "return_url", "locale",
                  "loaded_portal_config")


@dataclass(frozen=True)
class LinkOutcome:
    """What opening a portal link did: `entered` (new cookie), `reentered`, or why not (`used`, `ended`, `invalid`)."""

    kind: str
    session: PortalSession | None = None
    browser_secret: str | None = None


def open_portal_link(token: str) -> LinkOutcome:
    """Redeem a link for this browser, once; the caller commits and sets the cookie with `remember_browser`."""
    try:
        session = db.session.get(PortalSession, verify_portal_token(token))
    except InvalidPortalToken:
        return LinkOutcome("invalid")
    except ExpiredPortalToken as exc:
        session = db.session.get(PortalSession, exc.session_id)
        return LinkOutcome("ended", session) if session else LinkOutcome("invalid")
    if session is None:
        return LinkOutcome("invalid")
    status = session.status_at(clock.now())
    if status in ("expired", "revoked"):
        return LinkOutcome("ended", session)
    if status == LIVE:
        return LinkOutcome("reentered", session) if _cookie_holds(session) else LinkOutcome("used", session)
    browser_secret = _redeem(session)
    if browser_secret is None:  # another browser, or a revoke, got there first
        return LinkOutcome("used" if session.status_at(clock.now()) == LIVE else "ended", session)
    return LinkOutcome("entered", session, browser_secret)


def _redeem(session: PortalSession) -> str | None:
    """Bind the session to a new browser secret, unless something else changed it since we read it."""
    browser_secret = secrets.token_urlsafe(32)
    now = clock.now()
    # A conditional UPDATE, not read-then-write: of two browsers opening the link at once only one row-count is 1.
    result = db.session.execute(
        db.update(PortalSession)
        .where(PortalSession.id == session.id, PortalSession.redeemed_at.is_(None),
               PortalSession.revoked_at.is_(None), PortalSession.expires_at > now)
        .values(redeemed_at=now, browser_hash=sha256(browser_secret))
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(session)
    return browser_secret if result.rowcount == 1 else None


COOKIE_GRACE = 3600


def remember_browser(response, session: PortalSession, browser_secret: str) -> None:
    """Set the portal cookie: HttpOnly, SameSite=Lax, only under /portal, Secure when served over https.

    It outlives the session by an hour on purpose: the session itself ends at `expires_at` (checked on every
    request), and the cookie lets a late request still get the expired page with its way back to the merchant.
    """
    response.set_cookie(
        COOKIE_NAME, f"{session.id}.{browser_secret}",
        max_age=max(session.expires_at - clock.now(), 0) + COOKIE_GRACE, path=COOKIE_PATH,
        secure=request.is_secure or current_app.config["PUBLIC_URL"].startswith("https://"), httponly=True,
        samesite="Lax",
    )


def _cookie_parts() -> tuple[str, str] | None:
    session_id, dot, browser_secret = request.cookies.get(COOKIE_NAME, "").partition(".")
    if not dot or not session_id.startswith("sess_") or not browser_secret or len(session_id) > 40:
        return None
    return session_id, browser_secret


def _cookie_holds(session: PortalSession) -> bool:
    parts = _cookie_parts()
    return (parts is not None and parts[0] == session.id and session.browser_hash is not None
            and hmac.compare_digest(sha256(parts[1]), session.browser_hash))


# One query for the session, its customer, merchant and portal configuration: every portal page starts here, so
# it is built once (the session id a parameter) rather than on every request.
_SESSION_WITH_CONFIGURATION = (
    db.select(PortalSession, PortalConfiguration)
    .options(joinedload(PortalSession.customer), joinedload(PortalSession.merchant))
    .outerjoin(PortalConfiguration, PortalConfiguration.merchant_id == PortalSession.merchant_id)
    .where(PortalSession.id == bindparam("session_id"))
)


def cookie_portal_session() -> PortalSession | None:
    """The session this browser's cookie proves it redeemed, whatever its status now; None without a valid cookie."""
    parts = _cookie_parts()
    if parts is None:
        return None
    row = db.session.execute(_SESSION_WITH_CONFIGURATION, {"session_id": parts[0]}).first()
    if row is None or not _cookie_holds(row[0]):
        return None
    g.loaded_portal_config = row[1]  # for `_show_merchant`, this request only
    return row[0]


def current_portal_session() -> PortalSession | None:
    """The session this browser is inside right now: a valid cookie, not expired, not revoked."""
    session = cookie_portal_session()
    return session if session is not None and session.status_at(clock.now()) == LIVE else None


def portal_login_required(view):
    """Portal routes run only inside a live session, with g.portal_session, g.customer, g.merchant,
    g.portal_config and g.locale set; otherwise the customer sees why (or htmx is sent to the expired page).

    A support preview gets in too: the dashboard sets g.portal_preview before any portal code runs (and refuses
    every request but GET/HEAD itself), with an in-memory session for the previewed customer.
    """
    @wraps(view)
    def guarded(*args, **kwargs):
        preview_session = getattr(g.get("portal_preview"), "portal_session", None)
        if preview_session is not None:
            g.loaded_portal_config = g.portal_preview.portal_config
            enter_portal_session(preview_session)
            return view(*args, **kwargs)
        session = cookie_portal_session()
        if session is None or session.status_at(clock.now()) != LIVE:
            return refuse_entry(session)
        enter_portal_session(session)
        return view(*args, **kwargs)
    return guarded


def refuse_entry(session: PortalSession | None):
    """No way in: 403 without a session, 410 once it ended; htmx is redirected rather than left failing silently."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url_for("portal.expired")
        return response
    return refusal_page("no_session" if session is None else "ended", session)


def refusal_page(kind: str, session: PortalSession | None):
    """The page that says why a link or session does not open: `invalid`, `no_session` (403), `used`, `ended` (410).

    With a known session it shows the merchant's name and a link back to its return_url, never customer data.
    """
    if session is not None:
        _show_merchant(session)
    status = 403 if kind in ("invalid", "no_session") else 410
    return render_template("portal/refused.html", kind=kind), status


def enter_portal_session(session: PortalSession) -> None:
    """Make `session`'s customer the one this request acts for."""
    _show_merchant(session)
    g.portal_session = session
    g.customer = session.customer


def _show_merchant(session: PortalSession) -> None:
    g.merchant = session.merchant
    g.portal_config = _portal_configuration(session.merchant_id)
    g.return_url = session.return_url
    g.locale = portal_locale(session)
    refresh_babel()  # Flask-Babel caches the locale per context; it must see this one


def _portal_configuration(merchant_id: str) -> PortalConfiguration | None:
    """The merchant's portal configuration: the one loaded with this request's session, else read now.

    (The identity map holds rows weakly, so the loaded row is kept in `g` rather than looked up again.)
    """
    loaded = g.pop("loaded_portal_config", None)
    if loaded is not None and loaded.merchant_id == merchant_id:
        return loaded
    return db.session.get(PortalConfiguration, merchant_id)


def forget_portal_identity() -> None:
    """Start a request as nobody: `g` outlives a request when an app context is shared (tests, previews)."""
    for name in PORTAL_GLOBALS:
        g.pop(name, None)
    refresh_babel()


def portal_locale(session: PortalSession) -> str:
    """The session's locale; `auto` follows the browser's Accept-Language, then the customer's preference."""
    if session.locale in LOCALES:
        return session.locale
    preferred = session.customer.preferred_locale if session.customer else None
    return request.accept_languages.best_match(LOCALES) or (preferred if preferred in LOCALES else "en")


# Loaders: everything a portal route touches comes through here, scoped to the customer of the session.

def _customer_owned(model, id: str, lock: bool = False):
    if not isinstance(id, str) or len(id) > 40 or "\x00" in id:  # no id looks like that (PostgreSQL refuses NUL)
        abort(404)
    query = db.select(model).where(model.id == id, model.merchant_id == g.merchant.id,
                                   model.customer_id == g.customer.id)
    if lock:  # as in the API's loader: no joined loads under a lock, the row read afresh
        query = (query.options(lazyload("*")).with_for_update(of=model)
                 .execution_options(populate_existing=True))
    row = db.session.scalars(query).first()
    if row is None or getattr(row, "detached_at", None) is not None:
        abort(404)
    return row


def portal_subscription_or_404(id: str, lock: bool = False) -> Subscription:
    """One of this customer's subscriptions; 404 for anyone else's."""
    return _customer_owned(Subscription, id, lock)


def portal_invoice_or_404(id: str) -> Invoice:
    """One of this customer's invoices; 404 for anyone else's."""
    return _customer_owned(Invoice, id)


def portal_payment_method_or_404(id: str, lock: bool = False) -> PaymentMethod:
    """One of this customer's attached payment methods; 404 for anyone else's or a detached one."""
    return _customer_owned(PaymentMethod, id, lock)


def portal_subscriptions() -> list[Subscription]:
    """This customer's subscriptions, newest first."""
    return list(db.session.scalars(
        db.select(Subscription)
        .where(Subscription.merchant_id == g.merchant.id, Subscription.customer_id == g.customer.id)
        .order_by(Subscription.sort_key.desc())
    ))


def wants_fragment() -> bool:
    """An htmx request for a part of the page (a boosted navigation or a history restore wants the whole page)."""
    headers = request.headers
    return (headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def refused_page(message: str):
    """403 inside a live session for a task the customer may not use: why, and the way back to the overview."""
    return render_template("portal/refused.html", kind="refused", message=message), 403
