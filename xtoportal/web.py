"""App-wide routes, template filters and the locale choice."""
from functools import lru_cache

from flask import g, jsonify, request
from sqlalchemy import text

from .billing.money import format_money
from .contact import display_phone
from .extensions import db

LOCALES = ("en", "fr")


def select_locale() -> str:
    """The portal session's locale when one is set, else the browser's preference."""
    return getattr(g, "locale", None) or request.accept_languages.best_match(LOCALES) or "en"


def init_app(app) -> None:
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/", "index", index)

    app.add_template_filter(display_phone, "phone")

    @app.template_filter("money")
    def money_filter(amount: int, currency: str) -> str:
        return _formatted_money(amount, currency, select_locale())


# format_money is pure and parses the locale and looks up the currency's symbol on every call; a page shows the same
# few prices and totals over and over, so the answers are kept (bounded: amounts are unbounded).
_formatted_money = lru_cache(maxsize=4096)(format_money)


def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means "not healthy", never a 500 page
        db.session.rollback()
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


def index():
    return jsonify(service="xtoportal", docs="/v1/openapi.json", health="/healthz")
