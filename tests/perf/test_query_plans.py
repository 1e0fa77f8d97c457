"""The portal's overview and billing history read through indexes on PostgreSQL, whatever the data size.

A database of 2,000 customers and 20,000 invoices (plus one customer with 2,000 invoices of their own) is loaded with
COPY in a second or two and analysed; every SELECT the pages really send, with its real parameters, is then planned
by PostgreSQL (EXPLAIN). A Seq Scan of a big table there means a page that slows down as the database grows; the
million-invoice figures of `make bench` come from the same plans.
"""
import pytest
from sqlalchemy import text

from bench import data, plans
from xtoportal.extensions import db

pytestmark = pytest.mark.postgres

CUSTOMERS, INVOICES, HEAVY = 2_000, 20_000, 2_000
BIG = 1_000  # rows: a Seq Scan of a table this size is flagged
BIG_TABLES = {"customers", "invoices", "invoice_lines", "subscriptions", "payment_methods"}


@pytest.fixture
def loaded(postgres_app):
    merchant_id, secret, featured = data.populate(CUSTOMERS, INVOICES, heavy=HEAVY)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    heavy = db.session.execute(text(
        "SELECT customer_id FROM invoices GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1")).scalar()
    db.session.rollback()
    return postgres_app, secret, featured, heavy


def planned(app, secret, customer_id):
    found = plans.explain(db.engine, plans.portal_statements(app, secret, customer_id), big=BIG)
    assert {plan.page.split("?")[0] for plan in found} == {"/portal/", "/portal/invoices"}
    return found


def test_no_portal_statement_scans_a_big_table(loaded):
    app, secret, featured, _ = loaded
    found = planned(app, secret, featured)
    scanned = {(plan.page, table) for plan in found for table in plan.seq_scans}
    assert not scanned, "\n\n".join(plan.text for plan in found if plan.seq_scans)
    # Every table the pages read a customer's data from is big enough here for a Seq Scan of it to be flagged.
    assert all(_rows(name) >= BIG for name in BIG_TABLES)


def test_a_customer_with_thousands_of_invoices_pages_its_history_off_the_index(loaded):
    app, secret, _, heavy = loaded
    found = planned(app, secret, heavy)
    assert not [plan.seq_scans for plan in found if plan.seq_scans]
    first_page = next(plan for plan in found if plan.page == "/portal/invoices" and "FROM invoices" in plan.sql)
    # Read backwards off (customer_id, sort_key, id) and stopped after a page: no sort of 2,000 rows.
    assert "Index Scan Backward using ix_invoices_customer_page" in first_page.text, first_page.text
    assert "Sort" not in first_page.text, first_page.text


def _rows(table: str) -> float:
    return db.session.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar()
