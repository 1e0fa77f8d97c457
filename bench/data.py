"""Benchmark data: one merchant, `customers` customers and `invoices` invoices, loaded in bulk.

The measured customer ("featured") looks like the demo's main customer: three subscriptions (one active with a
scheduled downgrade, one past due with an open invoice, one canceled), 24 invoices of one to three lines over two
years, a default card and a mobile-money wallet. Every other customer has two subscriptions (one canceled), one
card and its share of the invoices, one line each, so a million invoices take seconds: rows go in with
PostgreSQL's COPY (psycopg's `cursor.copy`) or one `executemany` on SQLite, never through the ORM.

The schema is the real one (the Alembic migrations), rebuilt from nothing: `reset_database` drops everything in
the database, so it refuses a PostgreSQL database whose name does not contain "bench".
"""
import json
import logging
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from xtoportal import create_app
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant
from xtoportal.models import ApiKey, Plan

DAY = 86400
MONTH = 30 * DAY
NOW = 1_790_000_000  # a fixed "now" in 2026: the same rows every run
FEATURED_INVOICES = 24
PLANS = [  # (name, amount, interval)
    ("Starter", 5_000, "month"), ("Pro", 15_000, "month"), ("Business", 40_000, "month"),
    ("Starter (yearly)", 50_000, "year"), ("Pro (yearly)", 150_000, "year"),
]


@dataclass(frozen=True)
class Dataset:
    url: str
    merchant_id: str
    secret_key: str
    customer_id: str  # the featured customer
    customers: int
    invoices: int
    timings: dict  # seconds: "load" (schema and rows), "vacuum" (VACUUM ANALYZE)


@contextmanager
def quiet():
    """No INFO logging meanwhile (Alembic's migration lines, the app's request lines): the benchmark prints its own."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def bench_settings(url: str) -> dict:
    """The configuration every benchmark process of the app uses: the rate limits are still counted on every
    request, but set so high that they never answer 429."""
    return {"DATABASE_URL": url, "SECRET_KEYS": "bench-secret-key", "API_RATE_LIMIT": "1000000 per second",
            "PORTAL_SESSION_RATE_LIMIT": "1000000 per second"}


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql"))


def engine_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_url(name: str) -> str:
    """A throw-away SQLite database file."""
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='xtoportal-bench-')) / name}"


def reset_database(url: str) -> None:
    """An empty database at `url`: created if missing (PostgreSQL), emptied if not. Only a "bench" database."""
    if not is_postgres(url):
        Path(make_url(url).database).unlink(missing_ok=True)
        return
    name = make_url(engine_url(url)).database
    if "bench" not in (name or ""):
        raise SystemExit(f"refusing to wipe PostgreSQL database {name!r}: benchmark databases must contain 'bench'")
    server = create_engine(make_url(engine_url(url)).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:
        user = make_url(engine_url(url)).username
        raise SystemExit(f"cannot create the benchmark database {name!r} ({exc.orig}); create it once as the "
                         f"postgres user: createdb -O {user} {name}") from None
    finally:
        server.dispose()
    engine = create_engine(engine_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(url: str, customers: int, invoices: int) -> Dataset:
    """Reset the database, migrate it, and load the data; returns what the benchmarks need to reach it."""
    started = time.perf_counter()
    reset_database(url)
    app = create_app(bench_settings(url))
    with app.app_context(), quiet():
        from flask_migrate import upgrade
        upgrade()
        merchant_id, secret, featured = populate(customers, invoices)
        loaded = time.perf_counter()
        if is_postgres(url):
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        timings = {"load": loaded - started, "vacuum": time.perf_counter() - loaded}
        db.engine.dispose()
    return Dataset(url, merchant_id, secret, featured, customers, invoices, timings)


def populate(customers: int, invoices: int, heavy: int = 0) -> tuple[str, str, str]:
    """Load a merchant with `customers` customers and `invoices` invoices into the app's migrated database (in an
    app context), plus one more customer with `heavy` invoices if asked; returns the merchant's id, its secret
    key and the featured customer's id."""
    merchant, secret = create_merchant("Kente Cloud", f"bench-owner-{secrets.token_hex(4)}@example.com",
                                       "bench-password-1")
    merchant.address = {"line1": "4 Liberation Road", "city": "Accra", "country": "GH"}
    plans = [Plan(merchant_id=merchant.id, name=name, amount=amount, currency="ghs", interval=interval,
                  interval_count=1, active=True, created=NOW - 800 * DAY) for name, amount, interval in PLANS]
    db.session.add_all(plans)
    db.session.commit()
    merchant_id = merchant.id
    rows = _Rows(merchant_id, merchant.invoice_prefix, [plan.id for plan in plans])
    featured = rows.featured_customer()
    db.session.close()  # no snapshot held open while loading: VACUUM can then mark every page all-visible
    raw = db.engine.raw_connection()
    try:
        for _ in rows.other_customers(customers - 1, invoices - FEATURED_INVOICES):
            _load(raw, rows)  # a batch at a time: a million invoices never sit in memory at once
        if heavy:
            for _ in rows.other_customers(1, heavy):
                pass
        _load(raw, rows)
        raw.commit()
    finally:
        raw.close()
    db.session.execute(db.text("UPDATE merchants SET last_invoice_number = :n WHERE id = :id"),
                       {"n": rows.invoice_number, "id": merchant_id})
    db.session.commit()
    return merchant_id, secret, featured


def reuse(url: str, customers: int, invoices: int) -> Dataset | None:
    """The dataset `build` left at `url` if it holds exactly these counts (migrated to the latest schema first, with
    a new API key: the first one was only ever shown once); None when it must be built again."""
    app = create_app(bench_settings(url))
    with app.app_context():
        try:
            count = {table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                     for table in ("merchants", "customers", "invoices")}
        except Exception:  # noqa: BLE001  (no tables yet, or not our schema: build it)
            return None
        finally:
            db.session.rollback()
        if count != {"merchants": 1, "customers": customers, "invoices": invoices}:
            return None
        from flask_migrate import upgrade
        with quiet():
            upgrade()
        merchant_id, customer_id = db.session.execute(text(
            "SELECT merchant_id, id FROM customers WHERE email = 'ama@example.com'")).one()  # the featured one
        key, secret = ApiKey.issue(merchant_id)
        db.session.add(key)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        db.engine.dispose()
    return Dataset(url, merchant_id, secret, customer_id, customers, invoices, {"load": 0.0, "vacuum": 0.0})


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(11)}"


class _Rows:
    """The rows of each table as tuples in the column order of `COLUMNS`, built in memory."""

    COLUMNS = {
        "customers": ("id", "merchant_id", "email", "name", "phone", "address", "preferred_locale",
                      "default_payment_method_id", "metadata", "credit_balance", "created", "sort_key"),
        "payment_methods": ("id", "merchant_id", "customer_id", "type", "status", "processor_token", "card_brand",
                            "card_last4", "card_exp_month", "card_exp_year", "mm_provider", "mm_country",
                            "mm_phone_last4", "default_when_active", "created", "sort_key"),
        "subscriptions": ("id", "merchant_id", "customer_id", "plan_id", "status", "billing_anchor", "period_index",
                          "current_period_start", "current_period_end", "cancel_at_period_end", "canceled_at",
                          "ended_at", "pending_plan_id", "pending_effective_at", "created", "sort_key"),
        "invoices": ("id", "merchant_id", "customer_id", "subscription_id", "number", "status", "currency",
                     "subtotal", "tax", "total", "amount_paid", "period_start", "period_end", "paid_at",
                     "attempt_count", "next_payment_attempt", "created", "sort_key"),
        "invoice_lines": ("invoice_id", "position", "description", "amount", "quantity", "period_start",
                          "period_end", "proration", "plan_id"),
    }

    def __init__(self, merchant_id: str, prefix: str, plan_ids: list[str]):
        self.merchant_id, self.prefix, self.plan_ids = merchant_id, prefix, plan_ids
        self.tables = {name: [] for name in self.COLUMNS}
        self.invoice_number = 0
        self.clock = NOW - 800 * DAY  # creation times, always increasing

    def _tick(self, seconds: int = 1) -> tuple[int, int]:
        self.clock += seconds
        return self.clock, self.clock * 1_000_000

    def _customer(self, name: str, email: str, default_method: str, address: dict) -> str:
        customer_id = _id("cus")
        created, sort_key = self._tick()
        self.tables["customers"].append((
            customer_id, self.merchant_id, email, name, "+233244123456", json.dumps(address), "en", default_method,
            "{}", "{}", created, sort_key))
        return customer_id

    def _card(self, method_id: str, customer_id: str) -> None:
        created, sort_key = self._tick()
        self.tables["payment_methods"].append((
            method_id, self.merchant_id, customer_id, "card", "active", f"tok_{secrets.token_hex(8)}", "visa",
            "4242", 12, 2030, None, None, None, False, created, sort_key))

    def _subscription(self, customer_id: str, plan: int, status: str, start: int, pending: int | None = None) -> str:
        subscription_id = _id("sub")
        created, sort_key = self._tick()
        period_start = NOW - (NOW - start) % MONTH
        self.tables["subscriptions"].append((
            subscription_id, self.merchant_id, customer_id, self.plan_ids[plan], status, start,
            (NOW - start) // MONTH, period_start, period_start + MONTH, False,
            NOW - 90 * DAY if status == "canceled" else None, NOW - 90 * DAY if status == "canceled" else None,
            self.plan_ids[pending] if pending is not None else None,
            period_start + MONTH if pending is not None else None, created, sort_key))
        return subscription_id

    def _invoice(self, customer_id: str, subscription_id: str, plan: int, at: int, status: str,
                 lines: int = 1) -> None:
        invoice_id = _id("in")
        self.invoice_number += 1
        amount = PLANS[plan][1]
        total = amount * lines
        self.clock = max(self.clock + 1, at)
        created, sort_key = self._tick()
        paid = status == "paid"
        self.tables["invoices"].append((
            invoice_id, self.merchant_id, customer_id, subscription_id, f"{self.prefix}-{self.invoice_number:06d}",
            status, "ghs", total, 0, total, total if paid else 0, at, at + MONTH, at + 60 if paid else None,
            1 if status == "open" else 0, at + 3 * DAY if status == "open" else None, created, sort_key))
        for position in range(lines):
            self.tables["invoice_lines"].append((
                invoice_id, position, PLANS[plan][0] if position == 0 else "Remaining time on " + PLANS[plan][0],
                amount, 1, at, at + MONTH, position > 0, self.plan_ids[plan]))

    def featured_customer(self) -> str:
        card = _id("pm")
        customer_id = self._customer("Ama Mensah", "ama@example.com", card,
                                     {"line1": "14 Oxford Street, Osu", "city": "Accra", "country": "GH"})
        self._card(card, customer_id)
        created, sort_key = self._tick()
        self.tables["payment_methods"].append((
            _id("pm"), self.merchant_id, customer_id, "mobile_money", "active", f"tok_{secrets.token_hex(8)}",
            None, None, None, None, "mtn", "GH", "0000", False, created, sort_key))
        start = NOW - 24 * MONTH
        business = self._subscription(customer_id, 2, "active", start, pending=1)
        starter = self._subscription(customer_id, 0, "past_due", start + 12 * MONTH)
        yearly = self._subscription(customer_id, 4, "canceled", start)
        for month in range(FEATURED_INVOICES):
            at = start + month * MONTH
            if month == 0:
                self._invoice(customer_id, yearly, 4, at, "paid")
            elif month % 2 or month < 12:
                self._invoice(customer_id, business, 2, at, "paid", lines=1 + month % 3)
            else:
                self._invoice(customer_id, starter, 0, at,
                              "open" if month == FEATURED_INVOICES - 2 else "paid")
        return customer_id

    def other_customers(self, count: int, invoices: int, batch: int = 2000):
        """Adds the rows of `count` customers sharing `invoices`; yields after every `batch` customers."""
        start = NOW - 24 * MONTH
        for n in range(count):
            if n and n % batch == 0:
                yield
            card = _id("pm")
            customer_id = self._customer(f"Customer {n}", f"customer{n}@example.com", card,
                                         {"line1": f"{n} High Street", "city": "Accra", "country": "GH"})
            self._card(card, customer_id)
            current = self._subscription(customer_id, n % 3, "active", start)
            self._subscription(customer_id, 3 + n % 2, "canceled", start)
            share = invoices // count + (1 if n < invoices % count else 0)
            for month in range(share):
                self._invoice(customer_id, current, n % 3, start + month * (MONTH // 2), "paid")


def _load(raw, rows: _Rows) -> None:
    """The rows built so far, each table in one COPY (PostgreSQL) or one executemany (SQLite), parents first;
    then forgotten."""
    cursor = raw.cursor()
    for table, columns in rows.COLUMNS.items():
        data = rows.tables[table]
        names = ", ".join(columns)
        if hasattr(cursor, "copy"):  # psycopg
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", data)
        data.clear()
    cursor.close()
