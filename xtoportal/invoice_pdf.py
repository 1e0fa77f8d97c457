"""Invoice PDFs: WeasyPrint over a dedicated template fed pre-formatted values, rendered once per invoice state and
language and then served from the database (`InvoiceDocument`).

An invoice that is final (paid, void, uncollectible) never changes, so its bytes are kept for good; an open one is
kept too, and rendered again once its status moves on (the stored `rendered_status` no longer matches).
"""
import base64
from datetime import UTC, datetime
from functools import cache

from babel.dates import format_date
from flask import render_template
from flask_babel import force_locale
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from . import clock, portal_settings  # a module: portal_settings imports the portal package
from .billing.money import format_money
from .contact import countries
from .extensions import db
from .models import InvoiceDocument, Merchant, MerchantLogo, PortalConfiguration

LOCALES = ("en", "fr")
ADDRESS_ORDER = ("line1", "line2", "city_line", "state", "country")


@cache
def font_configuration() -> FontConfiguration:
    """One FontConfiguration per process: a new one per render costs time and grows memory (~0.25 MB each)."""
    return FontConfiguration()




def invoice_pdf(invoice, locale: str = "en") -> bytes:
    """The invoice as PDF in `locale` (en or fr): the stored bytes when they match the invoice's status, else a
    fresh render, stored for next time (the caller commits)."""
    stored = db.session.get(InvoiceDocument, (invoice.id, locale))
    if stored is not None and stored.rendered_status == invoice.status:
        return stored.pdf
    pdf = render_invoice_pdf(invoice, locale)
    if invoice.status != "draft":
        store_document(invoice, locale, pdf)
    return pdf


def render_invoice_pdf(invoice, locale: str = "en") -> bytes:
    """Render the invoice now, whatever is stored."""
    # Nothing is loaded from outside (a merchant-set URL would make each render a request to it): the logo is
    # inlined as a data: URL. A fetcher keeps per-request state, so each render gets its own.
    inline_only = URLFetcher(allowed_protocols=("data",), allow_redirects=False)
    return HTML(string=invoice_html(invoice, locale), url_fetcher=inline_only).write_pdf(
        font_config=font_configuration())


def invoice_html(invoice, locale: str = "en") -> str:
    """The HTML WeasyPrint lays out (also what the benchmark renders bare)."""
    with force_locale(locale):
        return render_template("pdf/invoice.html", invoice=invoice_context(invoice, locale))


def store_document(invoice, locale: str, pdf: bytes) -> None:
    """Keep `pdf` as the invoice's document in `locale`; an upsert, so two first downloads at once both succeed."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"invoice_id": invoice.id, "locale": locale, "rendered_status": invoice.status, "pdf": pdf,
              "created": clock.now()}
    statement = insert(InvoiceDocument).values(**values)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["invoice_id", "locale"],
        set_={"rendered_status": statement.excluded.rendered_status, "pdf": statement.excluded.pdf,
              "created": statement.excluded.created},
    ))
    stored = db.session.get(InvoiceDocument, (invoice.id, locale))
    if stored is not None:  # the identity map holds the old row: let it follow what was written
        db.session.expire(stored)


def _day(timestamp: int | None, locale: str) -> str | None:
    if timestamp is None:
        return None
    return format_date(datetime.fromtimestamp(timestamp, UTC).date(), "long", locale=locale)


def _period(start: int, end: int, locale: str) -> str:
    return f"{_day(start, locale)} – {_day(end, locale)}"


def _address(address: dict | None, locale: str) -> list[str]:
    address = dict(address or {})
    address["city_line"] = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    country = address.get("country")
    address["country"] = countries(locale).get(country, country) if country else None
    return [address[key] for key in ADDRESS_ORDER if address.get(key)]


def _logo_data_url(merchant_id: str) -> str | None:
    logo = db.session.get(MerchantLogo, merchant_id)
    if logo is None:
        return None
    return f"data:{logo.mimetype};base64,{base64.b64encode(logo.content).decode()}"


def invoice_context(invoice, locale: str) -> dict:
    """Everything the template shows, already formatted in `locale`: the template computes nothing."""
    merchant = db.session.get(Merchant, invoice.merchant_id)
    configuration = db.session.get(PortalConfiguration, invoice.merchant_id)
    theme = portal_settings.portal_theme(configuration) if configuration is not None else {}
    money = lambda amount: format_money(amount, invoice.currency, locale)  # noqa: E731
    customer = invoice.customer
    return {
        "locale": locale,
        "number": invoice.number,
        "status": invoice.status,
        "issued": _day(invoice.created, locale),
        "period": _period(invoice.period_start, invoice.period_end, locale),
        "paid_at": _day(invoice.paid_at, locale),
        "seller": {
            "display_name": theme.get("business_name") or merchant.name,
            "legal_name": merchant.name,
            "email": theme.get("support_email") or merchant.email,
            "address": _address(merchant.address, locale),
        },
        "buyer": {"name": customer.name, "email": customer.email, "phone": customer.phone,
                  "address": _address(customer.address, locale)},
        "logo": _logo_data_url(invoice.merchant_id),
        "primary_color": theme.get("primary_color", "#1a56db"),
        "on_primary_color": theme.get("on_primary_color", "#ffffff"),
        "accent_color": theme.get("accent_color", "#0e9f6e"),
        "lines": [
            {"description": line.description, "quantity": line.quantity, "unit_amount": money(line.amount),
             "amount": money(line.amount * line.quantity), "period": _period(line.period_start, line.period_end, locale),
             "proration": line.proration}
            for line in invoice.lines
        ],
        "has_proration": any(line.proration for line in invoice.lines),
        "currency": invoice.currency.upper(),
        "subtotal": money(invoice.subtotal),
        "tax": money(invoice.tax),
        "total": money(invoice.total),
        "amount_paid": money(invoice.amount_paid),
        "amount_due": money(invoice.amount_due),
    }
