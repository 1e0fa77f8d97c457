"""The baselines: what a bare Flask + Jinja + SQLAlchemy app does for the same work, served by the same gunicorn.

    BENCH_DATABASE_URL=... BENCH_PAGE_BYTES=12309 gunicorn bench.baseline_app:app

- `GET /overview`: the portal overview's five SELECTs, as the portal issues them (the session with its customer
  and merchant, the portal configuration, the latest-and-open invoices, the subscriptions with both plans, the
  default payment method), rendered by one Jinja template with the portal page's markup and the same rows: the
  subscription cards, the latest invoices, the payment method and billing details, in English, money and dates
  by str.format and strftime. A comment tops the page up to `BENCH_PAGE_BYTES` (the portal page's size) if it
  falls short, by a few hundred bytes. The session id comes from the portal's cookie; nothing is checked or
  translated.
- `POST /sessions`: parses a JSON body, inserts one `portal_sessions` row and commits; answers the id as JSON.

No Flask extension, no ORM: SQLAlchemy Core `text()` on one engine, rows read as mappings.
"""
import json
import os
import secrets
import time

from flask import Flask, jsonify, render_template, request
from jinja2 import DictLoader
from sqlalchemy import create_engine, text

URL = os.environ["BENCH_DATABASE_URL"]
for _prefix in ("postgres://", "postgresql://"):
    if URL.startswith(_prefix):
        URL = "postgresql+psycopg://" + URL[len(_prefix):]
PAGE_BYTES = int(os.environ.get("BENCH_PAGE_BYTES", "0"))

engine = create_engine(URL)
app = Flask(__name__)

SESSION = text(
    "SELECT s.id, s.merchant_id, s.customer_id, s.return_url, s.locale, s.flow, s.created, s.sort_key, s.expires_at,"
    " s.redeemed_at, s.browser_hash, s.revoked_at, c.id AS c_id, c.merchant_id AS c_merchant_id, c.email, c.name,"
    " c.phone, c.address, c.preferred_locale, c.default_payment_method_id, c.metadata, c.credit_balance,"
    " c.created AS c_created, c.sort_key AS c_sort_key, m.id AS m_id, m.name AS m_name, m.email AS m_email,"
    " m.invoice_prefix, m.last_invoice_number, m.address AS m_address, m.created AS m_created"
    " FROM portal_sessions s LEFT OUTER JOIN customers c ON c.id = s.customer_id"
    " LEFT OUTER JOIN merchants m ON m.id = s.merchant_id WHERE s.id = :id")
CONFIG = text("SELECT merchant_id, settings, updated FROM portal_configurations WHERE merchant_id = :merchant")
INVOICE_COLUMNS = ("id, merchant_id, customer_id, subscription_id, number, status, currency, subtotal, tax, total,"
                   " amount_paid, period_start, period_end, paid_at, attempt_count, next_payment_attempt, created,"
                   " sort_key")
INVOICES = text(
    f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE merchant_id = :merchant AND customer_id = :customer"
    " AND (status = 'open' OR id IN (SELECT id FROM invoices WHERE customer_id = :customer"
    " ORDER BY sort_key DESC LIMIT 5 OFFSET 0)) ORDER BY sort_key DESC")
PLAN_COLUMNS = ("id, merchant_id, name, description, amount, currency, interval, interval_count, active, created,"
                " sort_key")
SUBSCRIPTIONS = text(
    "SELECT s.id, s.merchant_id, s.customer_id, s.plan_id, s.status, s.billing_anchor, s.period_index,"
    " s.current_period_start, s.current_period_end, s.trial_end, s.cancel_at_period_end, s.canceled_at,"
    " s.ended_at, s.cancellation_reason, s.cancellation_comment, s.paused_at, s.pause_resumes_at,"
    " s.pending_plan_id, s.pending_effective_at, s.created, s.sort_key, "
    + ", ".join(f"pending.{c} AS pending_{c}" for c in PLAN_COLUMNS.split(", ")) + ", "
    + ", ".join(f"p.{c} AS plan_{c}" for c in PLAN_COLUMNS.split(", "))
    + " FROM subscriptions s LEFT OUTER JOIN plans pending ON pending.id = s.pending_plan_id"
    " LEFT OUTER JOIN plans p ON p.id = s.plan_id"
    " WHERE s.merchant_id = :merchant AND s.customer_id = :customer ORDER BY s.sort_key DESC")
METHOD = text(
    "SELECT id, merchant_id, customer_id, type, status, processor_token, card_brand, card_last4, card_exp_month,"
    " card_exp_year, mm_provider, mm_country, mm_phone_last4, link_reference, default_when_active, created,"
    " sort_key, detached_at FROM payment_methods WHERE id = :id")
INSERT_SESSION = text(
    "INSERT INTO portal_sessions (id, merchant_id, customer_id, return_url, locale, created, sort_key, expires_at)"
    " VALUES (:id, :merchant, :customer, :return_url, 'auto', :now, :sort_key, :expires)")

# The portal overview's markup (layout, subscription cards, invoice rows, payment method, billing details) with
# the same rows in it, written plainly: English only, amounts and dates formatted with str.format and strftime,
# links by string formatting, the features all on. What the app adds on top (translation, locale-aware money and
# dates, url_for, the merchant's settings and theme, CSP nonce, CSRF token) is what the comparison measures.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Billing · {{ merchant }}</title>
  <link rel="stylesheet" href="/static/css/portal.css">
  <link rel="stylesheet" href="/static/css/portal-forms.css">
  <link rel="stylesheet" href="/static/css/portal-flows.css">
  <script src="/static/vendor/htmx-2.0.11.min.js" defer></script>
  <script src="/static/js/portal.js" defer></script>
</head>
<body>
  <main class="page">
<div class="portal">
  <a class="skip-link" href="#portal-main">Skip to content</a>
  <header class="portal-bar">
    <a class="portal-back" href="{{ customer.return_url }}" rel="noreferrer"><span aria-hidden="true">←</span> Back to {{ merchant }}</a>
    <div class="portal-brand"><span class="portal-monogram" aria-hidden="true">{{ merchant[:1] }}</span>
      <span class="portal-name">{{ merchant }}</span></div>
  </header>
  <nav class="portal-nav" aria-label="Billing sections">
    <ul role="list">
      <li><a href="/portal/" aria-current="page">Overview</a></li>
      <li><a href="/portal/invoices">Billing history</a></li>
      <li><a href="/portal/payment-methods">Payment methods</a></li>
      <li><a href="/portal/details">Billing details</a></li>
    </ul>
  </nav>
  <div class="portal-main" id="portal-main" tabindex="-1">
<section class="portal-account">
  <p class="eyebrow">Billing account</p>
  <h1 class="customer-name">{{ customer.name }}</h1>
  <p class="customer-email">{{ customer.email }}</p>
</section>
<div class="overview-grid">
  <div class="overview-main">
{% for title, cards in (("Subscriptions", current), ("Ended subscriptions", ended)) if cards %}
    <section class="portal-section">
      <h2>{{ title }}</h2>
{% for s in cards %}
<article class="card subscription subscription-{{ s.status }}" id="{{ s.id }}">
  <div class="subscription-head">
    <h3 class="subscription-plan">{{ s.plan_name }}</h3>
    <span class="badge badge-{{ s.status }}">{{ labels.get(s.status, s.status) }}</span>
  </div>
  <p class="price">
    <span class="amount">{{ s.plan_amount|money(s.plan_currency) }}</span>
    <span class="per">/ {{ s.plan_interval }}</span>
  </p>
  <div class="subscription-next">
    {% if s.status == "canceled" %}<p>Ended on {{ (s.ended_at or s.canceled_at)|day }}</p>
    {% elif s.status == "past_due" %}<p class="warning-text">Your last payment failed. Pay the open invoice to keep your subscription.</p>
    {% else %}<p>Renews on {{ s.current_period_end|day }} for {{ (s.pending_amount if s.pending_id else s.plan_amount)|money(s.plan_currency) }}.</p>{% endif %}
    {% if s.pending_id and s.status != "canceled" %}<p class="scheduled">Switches to {{ s.pending_name }} ({{ s.pending_amount|money(s.pending_currency) }} / {{ s.pending_interval }}) on {{ s.pending_effective_at|day }}.</p>{% endif %}
  </div>
  <div class="subscription-actions">
    {% set unpaid = open_invoices.get(s.id) %}
    {% if unpaid %}<a class="button button-primary" href="/portal/invoices/{{ unpaid.id }}/pay">Pay {{ (unpaid.total - unpaid.amount_paid)|money(unpaid.currency) }}</a>{% endif %}
    {% if s.status == "canceled" %}<a class="button button-secondary button-small" href="/portal/subscriptions/{{ s.id }}/resubscribe">Subscribe again</a>
    {% else %}<a class="button button-secondary button-small" href="/portal/subscriptions/{{ s.id }}/plan">Change plan</a>
      <a class="button button-secondary button-small" href="/portal/subscriptions/{{ s.id }}/pause">Pause</a>
      <a class="button button-secondary button-small" href="/portal/subscriptions/{{ s.id }}/cancel">Cancel subscription</a>{% endif %}
  </div>
</article>
{% endfor %}
    </section>
{% endfor %}
    <section class="portal-section">
      <div class="section-head"><h2>Latest invoices</h2><a href="/portal/invoices">View all<span class="visually-hidden"> invoices</span></a></div>
      <ul class="card invoice-list" role="list">
{% for i in invoices[:5] %}
<li class="invoice-row" id="{{ i.id }}">
  <span class="invoice-date">{{ i.created|day }}</span>
  <span class="invoice-amount">{{ i.total|money(i.currency) }}</span>
  <span class="invoice-meta">
    <span class="invoice-number">{{ i.number }}</span>
    <span class="badge badge-invoice-{{ i.status }}">{{ labels.get(i.status, i.status) }}</span>
  </span>
  <span class="invoice-actions">
    {% if i.status == "open" %}<a class="button button-primary button-small" href="/portal/invoices/{{ i.id }}/pay">Pay<span class="visually-hidden"> {{ i.number }}</span></a>{% endif %}
    <a class="invoice-pdf" href="/portal/invoices/{{ i.id }}/pdf" download>
      <svg aria-hidden="true" viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M12 3v12"/><path d="m7 10 5 5 5-5"/><path d="M5 21h14"/></svg>
      PDF<span class="visually-hidden"> of invoice {{ i.number }}</span>
    </a>
  </span>
</li>
{% endfor %}
      </ul>
    </section>
  </div>
  <aside class="overview-side">
    <section class="portal-section">
      <div class="section-head"><h2>Payment method</h2><a href="/portal/payment-methods">Manage<span class="visually-hidden"> payment methods</span></a></div>
      <div class="card">
        {% if method %}<p class="method"><span class="method-icon method-{{ method.type }}" aria-hidden="true"></span>
          <span><strong>{{ method.card_brand|title }} •••• {{ method.card_last4 }}</strong>
            <span class="muted method-detail">Expires {{ "%02d/%d"|format(method.card_exp_month, method.card_exp_year) }} · Default</span></span></p>
        {% else %}<p class="empty">No payment method on file.</p>{% endif %}
      </div>
    </section>
    <section class="portal-section">
      <div class="section-head"><h2>Billing details</h2><a href="/portal/details">Edit<span class="visually-hidden"> billing details</span></a></div>
      <div class="card">
        <dl class="details">
          <div><dt>Name</dt><dd>{{ customer.name }}</dd></div>
          <div><dt>Email</dt><dd>{{ customer.email }}</dd></div>
          <div><dt>Phone</dt><dd>{{ customer.phone }}</dd></div>
          <div><dt>Address</dt><dd>{% for line in address %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</dd></div>
        </dl>
      </div>
    </section>
  </aside>
</div>
  </div>
  <footer class="portal-footer"><p class="portal-powered">Secure billing by Xtopay</p></footer>
</div>
  </main>
<!-- {{ padding }} -->
</body>
</html>"""
LABELS = {"trialing": "Trial", "active": "Active", "past_due": "Past due", "paused": "Paused", "canceled": "Canceled",
          "draft": "Draft", "open": "Due", "paid": "Paid", "void": "Void", "uncollectible": "Unpaid"}
SYMBOLS = {"ghs": "GH₵", "ngn": "₦", "kes": "KSh ", "usd": "$"}


@app.template_filter("money")
def money(amount: int, currency: str) -> str:
    return f"{SYMBOLS.get(currency, currency.upper() + ' ')}{amount / 100:,.2f}"


@app.template_filter("day")
def day(timestamp: int) -> str:
    return time.strftime("%b %d, %Y", time.gmtime(timestamp))


app.jinja_loader = DictLoader({"overview.html": PAGE})  # compiled once and cached, as a file template is
_padding: list[str] = []  # found on the first request: the data, so the page's size, is the same on every one


def _page(**context) -> str:
    if not _padding:
        missing = PAGE_BYTES - len(render_template("overview.html", padding="", **context).encode())
        _padding.append("x" * max(missing, 0))
    return render_template("overview.html", padding=_padding[0], **context)


@app.get("/overview")
def overview():
    session_id = request.cookies.get("xtoportal_portal", "").partition(".")[0]
    with engine.connect() as conn:
        session = conn.execute(SESSION, {"id": session_id}).mappings().first()
        if session is None:
            return "no session", 403
        merchant, customer = session["merchant_id"], session["customer_id"]
        conn.execute(CONFIG, {"merchant": merchant}).mappings().first()
        invoices = conn.execute(INVOICES, {"merchant": merchant, "customer": customer}).mappings().all()
        subscriptions = conn.execute(SUBSCRIPTIONS, {"merchant": merchant, "customer": customer}).mappings().all()
        method = conn.execute(METHOD, {"id": session["default_payment_method_id"]}).mappings().first()
    address = json.loads(session["address"]) if isinstance(session["address"], str) else session["address"] or {}
    context = {
        "merchant": session["m_name"], "customer": session, "invoices": invoices, "method": method,
        "current": [s for s in subscriptions if s["status"] != "canceled"],
        "ended": [s for s in subscriptions if s["status"] == "canceled"],
        "open_invoices": {i["subscription_id"]: i for i in invoices if i["status"] == "open"},
        "address": [address.get("line1"), address.get("city"), address.get("country")], "labels": LABELS,
    }
    return _page(**context)


@app.post("/sessions")
def create_session():
    body = request.get_json()
    now = int(time.time())
    session_id = "sess_" + secrets.token_urlsafe(16)
    with engine.begin() as conn:
        conn.execute(INSERT_SESSION, {
            "id": session_id, "merchant": body["merchant_id"], "customer": body["customer_id"],
            "return_url": body["return_url"], "now": now, "sort_key": time.time_ns() // 1000, "expires": now + 1800,
        })
    return jsonify({"id": session_id, "object": "customer_portal.session"})
