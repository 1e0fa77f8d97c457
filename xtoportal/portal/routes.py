"""Portal pages: opening a link, the overview, the page shown once a session has ended, and the portal's frame
(what every page template gets, the checks that refuse a disabled feature or a preview). Response headers, the
portal's CSP among them, are set for every area in security_headers.py."""
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, wraps

from babel.dates import format_date
from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale, get_translations, gettext as _, ngettext
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy import bindparam, or_
from sqlalchemy.orm import aliased, lazyload

from .. import clock
from .. import portal_settings  # a module, not its names: portal_settings imports this package's return_urls
from ..billing.processor import PROVIDERS
from ..contact import countries
from ..extensions import db
from ..models import Invoice, PaymentMethod, Plan, Subscription
from ..security_headers import csp_nonce  # the portal theme's <style> carries it
from . import bp, payment_methods, subscriptions  # modules: their deep-link destinations are read at call time
from .access import (
    LIVE, cookie_portal_session, forget_portal_identity, open_portal_link, portal_login_required,
    refusal_page, refused_page, remember_browser,
)

bp.before_request(forget_portal_identity)

# Which navigation entry a page belongs to, by the module its view lives in (paying is reached from the overview).
_SECTIONS = {"routes": "overview", "invoices": "invoices", "payment_methods": "payment_methods", "details": "details",
             "subscriptions": "overview"}
_ENDPOINT_SECTIONS = {"portal.pay_invoice": "overview", "portal.submit_payment": "overview"}
CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
               "verve": "Verve"}


@dataclass(frozen=True)
class NavItem:
    section: str
    url: str
    label: str


def portal_nav() -> list[NavItem]:
    """The sections this customer may open: a disabled feature is absent (its route refuses it too)."""
    config = g.get("portal_config")
    if g.get("customer") is None or config is None:
        return []
    items = [NavItem("overview", url_for("portal.overview"), _("Overview"))]
    if config.allows("invoice_history"):
        items.append(NavItem("invoices", url_for("portal.invoices"), _("Billing history")))
    if config.allows("payment_method_update"):
        items.append(NavItem("payment_methods", url_for("portal.payment_methods"), _("Payment methods")))
    if config.allows("customer_update"):
        items.append(NavItem("details", url_for("portal.billing_details"), _("Billing details")))
    return items


def current_section() -> str | None:
    """The navigation entry of this page, marked aria-current."""
    if request.endpoint in _ENDPOINT_SECTIONS:
        return _ENDPOINT_SECTIONS[request.endpoint]
    view = current_app.view_functions.get(request.endpoint or "")
    return _SECTIONS.get(view.__module__.rsplit(".", 1)[-1]) if view is not None else None


@bp.context_processor
def portal_page_context():
    config = g.get("portal_config")
    locale = get_locale()
    return {
        "theme": portal_settings.portal_theme(config) if config is not None else None,
        "return_url": g.get("return_url"),
        **page_translations(get_translations()),
        "format_day": lambda timestamp: format_day(timestamp, locale),
        "billing_interval": billing_interval,
        "describe_method": describe_method,
        "address_lines": address_lines,
        "csp_nonce": csp_nonce,
        "portal_nav": portal_nav,
        "current_section": current_section,
        "invoice_state": invoice_state,
        "is_due": is_due,
    }


def page_translations(translations) -> dict:
    """`gettext` and `ngettext` for one page's templates, bound to its catalogue once.

    They do what Flask-Babel's template callables do (with Jinja's "newstyle" i18n: the text is escaped when the
    template autoescapes, then always %-formatted), minus finding the request's locale and catalogue again on every
    string: a portal page translates about a hundred. Jinja's `_` looks `gettext` up in the context, so it uses
    these too."""
    @pass_context
    def page_gettext(context, string, **variables):
        text = translations.ugettext(string)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    @pass_context
    def page_ngettext(context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables

    return {"gettext": page_gettext, "ngettext": page_ngettext}


def format_day(timestamp: int | None, locale=None) -> str:
    """A Unix timestamp as a date in the page's locale (`locale`, else the request's), e.g. "Mar 5, 2025" /
    "5 mars 2025". Dates are UTC days, as Flask-Babel's default time zone gives them."""
    if timestamp is None:
        return ""
    return format_date(datetime.fromtimestamp(timestamp, UTC).date(), "medium", locale=locale or get_locale())


def billing_interval(plan) -> str:
    """"month", "3 months"…: what the price is per, in the page's locale."""
    count = plan.interval_count or 1
    words = {  # only the one asked for is translated
        "day": lambda: ngettext("day", "%(num)d days", count),
        "week": lambda: ngettext("week", "%(num)d weeks", count),
        "month": lambda: ngettext("month", "%(num)d months", count),
        "year": lambda: ngettext("year", "%(num)d years", count),
    }
    word = words.get(plan.interval)
    return word() if word is not None else plan.interval


def describe_method(method: PaymentMethod) -> str:
    """"Visa •••• 4242" or "MTN MoMo •••• 0000": how a customer recognises a payment method."""
    if method.type == "card":
        brand = CARD_BRANDS.get(method.card_brand or "", _("Card"))
        return f"{brand} •••• {method.card_last4}"
    provider = PROVIDERS.get(method.mm_provider or "")
    return f"{provider.name if provider else _('Mobile money')} •••• {method.mm_phone_last4}"


def address_lines(address: dict | None) -> list[str]:
    """An address as the lines of an envelope, the country named in the page's locale."""
    address = address or {}
    names = countries(g.get("locale") or "en")
    city_line = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    lines = [address.get("line1"), address.get("line2"), city_line, address.get("state"),
             names.get(address.get("country") or "", address.get("country"))]
    return [line for line in lines if line]


# Checks a route applies before doing anything; templates hide the same things by asking the same questions.

def feature_required(name: str, refusal):
    """Refuse (403 page saying `refusal`, a lazy_gettext string) a route whose feature the merchant disables."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if not g.portal_config.allows(name):
                return refused_page(str(refusal))
            return view(*args, **kwargs)
        return checked
    return decorate


def changes_refused_in_preview(view):
    """Refuse (403 page) anything that changes data while support staff preview a customer's portal."""
    @wraps(view)
    def checked(*args, **kwargs):
        if g.get("portal_preview"):
            return refused_page(_("This is a read-only preview: payments and changes are made by the customer."))
        return view(*args, **kwargs)
    return checked


@dataclass(frozen=True)
class SubscriptionCard:
    """One subscription as the overview shows it: what is charged next and when, what is scheduled, what is due."""

    subscription: Subscription
    pending_plan: Plan | None
    open_invoice: Invoice | None
    next_charge_at: int | None
    next_charge_amount: int | None


# The overview's statements are built once, their customer a parameter: building a statement per request (and an
# alias of Plan, which SQLAlchemy adapts afresh each time) cost more than running it.
_PENDING_PLAN = aliased(Plan, name="pending_plan")
_SUBSCRIPTION_CARDS = (
    db.select(Subscription, _PENDING_PLAN)
    .outerjoin(_PENDING_PLAN, _PENDING_PLAN.id == Subscription.pending_plan_id)
    .where(Subscription.merchant_id == bindparam("merchant_id"), Subscription.customer_id == bindparam("customer_id"))
    .order_by(Subscription.sort_key.desc())
)


def subscription_cards(customer, due_invoices: list[Invoice]) -> list[SubscriptionCard]:
    """The customer's subscriptions, newest first, each with its scheduled plan (one query) and its unpaid invoice."""
    rows = db.session.execute(
        _SUBSCRIPTION_CARDS, {"merchant_id": customer.merchant_id, "customer_id": customer.id}).all()
    unpaid = {invoice.subscription_id: invoice for invoice in due_invoices}  # newest first, so the oldest wins
    cards = []
    for subscription, pending_plan in rows:
        next_at, next_plan = None, None
        if subscription.status in ("active", "trialing", "past_due") and not subscription.cancel_at_period_end:
            next_at = subscription.current_period_end
            switching = pending_plan is not None and (subscription.pending_effective_at or 0) <= next_at
            next_plan = pending_plan if switching else subscription.plan
        elif subscription.status == "paused" and subscription.pause_resumes_at:
            next_at, next_plan = subscription.pause_resumes_at, subscription.plan
        cards.append(SubscriptionCard(subscription, pending_plan, unpaid.get(subscription.id), next_at,
                                      next_plan.amount if next_plan else None))
    return cards


@cache
def _overview_invoices_statement(latest: int):
    newest = (db.select(Invoice.id).where(Invoice.customer_id == bindparam("customer_id"))
              .order_by(Invoice.sort_key.desc()).limit(latest))  # a literal LIMIT, as the planner likes it
    return (db.select(Invoice).options(lazyload(Invoice.lines))
            .where(Invoice.merchant_id == bindparam("merchant_id"), Invoice.customer_id == bindparam("customer_id"),
                   or_(Invoice.status == "open", Invoice.id.in_(newest)))
            .order_by(Invoice.sort_key.desc()))


def overview_invoices(customer, latest: int) -> list[Invoice]:
    """The `latest` newest invoices and every older one still open, newest first, in one query."""
    return list(db.session.scalars(_overview_invoices_statement(latest),
                                   {"merchant_id": customer.merchant_id, "customer_id": customer.id}))


def is_due(invoice: Invoice) -> bool:
    """An invoice the customer can pay now."""
    return invoice.status == "open" and invoice.amount_due > 0


def invoice_state(invoice: Invoice) -> str:
    """The badge an invoice wears: its status, or `past_due` for an open one whose payment already failed."""
    return "past_due" if invoice.status == "open" and invoice.attempt_count else invoice.status


LATEST_INVOICES = 5


@bp.get("/")
@portal_login_required
def overview():
    """Subscriptions and what happens next, the default payment method, billing details and the latest invoices."""
    customer = g.customer
    recent = overview_invoices(customer, LATEST_INVOICES)
    due = [invoice for invoice in recent if is_due(invoice)]
    cards = subscription_cards(customer, due)
    on_cards = {card.open_invoice.id for card in cards if card.open_invoice is not None}
    return render_template(
        "portal/overview.html", customer=customer,
        due_invoices=[invoice for invoice in due if invoice.id not in on_cards],  # the cards offer the others
        current=[card for card in cards if card.subscription.status != "canceled"],
        ended=[card for card in cards if card.subscription.status == "canceled"],
        latest_invoices=recent[:LATEST_INVOICES], default_method=default_payment_method(customer),
    )


def default_payment_method(customer) -> PaymentMethod | None:
    """The customer's default payment method if it is still attached."""
    if not customer.default_payment_method_id:
        return None
    method = db.session.get(PaymentMethod, customer.default_payment_method_id)
    return method if method is not None and method.detached_at is None else None


@bp.get("/expired")
def expired():
    """Where htmx is sent when a session ends mid-page; a browser still inside goes back to the overview."""
    session = cookie_portal_session()
    if session is not None and session.status_at(clock.now()) == LIVE:
        return redirect(url_for(".overview"), 303)
    return refusal_page("ended", session)


def landing_page(session) -> str:
    """Where opening a link lands: the task its `flow` deep-links into while that is still to do, else the overview."""
    return (payment_methods.flow_destination(session) or subscriptions.flow_destination(session)
            or url_for(".overview"))


@bp.get("/<token>")
def open_link(token):
    """Trade the link's token for a cookie and land on a URL without it."""
    if not token.startswith("sess_"):
        abort(404)
    outcome = open_portal_link(token)
    if outcome.kind not in ("entered", "reentered"):
        response = current_app.make_response(refusal_page(outcome.kind, outcome.session))
    else:
        db.session.commit()
        response = redirect(landing_page(outcome.session), 303)
        if outcome.browser_secret is not None:
            remember_browser(response, outcome.session, outcome.browser_secret)
    response.headers["Referrer-Policy"] = "no-referrer"  # this URL holds the token: never let it leave as Referer
    return response

