"""Billing history and invoice PDFs in the portal: every invoice, newest first, ten at a time, with or without htmx."""
import html
import re
from io import BytesIO

import pytest
from pypdf import PdfReader

from xtoportal import clock
from xtoportal.billing.invoices import Line, create_invoice, mark_paid
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import InvoiceDocument

from tests.factories import make_customer, make_plan
from tests.query_counting import counting_queries

from .conftest import link_path
from .factories import make_subscription

HTMX = {"HX-Request": "true"}
DAY = 86400


def make_invoice(customer, amount=5000, currency="ghs", status="paid", created=None, subscription=None,
                 description="Pro", proration=False, attempts=0):
    """An invoice made by the billing engine (real number, lines, totals), then put in `status`."""
    now = clock.now() if created is None else created
    invoice = create_invoice(customer, currency, [Line(description, amount, now, now + 30 * DAY, proration)],
                             Origin("api"), now, subscription_id=subscription.id if subscription else None)
    if status == "paid":
        mark_paid(invoice, now)
    elif status != "open":
        invoice.status = status
    invoice.attempt_count = attempts
    db.session.commit()
    return invoice


count_queries = counting_queries  # the SQL statements run inside the block (tests/query_counting.py)


def page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def invoice_numbers(page: str) -> list[str]:
    return re.findall(r'<span class="invoice-number">([^<]+)</span>', page)


@pytest.fixture
def history(inside, customer):
    """23 invoices of the customer inside the portal, one a day, oldest first; returns (browser, invoices)."""
    browser, _ = inside
    invoices = [make_invoice(customer, amount=1000 + i, created=1_700_000_000 + i * DAY) for i in range(23)]
    return browser, invoices


def test_history_lists_the_newest_ten_with_a_real_show_more_link(history):
    browser, invoices = history
    page = page_of(browser.get("/portal/invoices"))
    assert invoice_numbers(page) == [invoice.number for invoice in reversed(invoices)][:10]
    tenth = invoices[-10]
    assert f'href="/portal/invoices?after={tenth.id}"' in page
    assert f'hx-get="/portal/invoices?after={tenth.id}"' in page
    assert 'hx-target="closest li"' in page and 'hx-swap="outerHTML"' in page
    assert "Show more invoices" in page


def test_show_more_without_javascript_is_the_next_page(history):
    browser, invoices = history
    newest_first = [invoice.number for invoice in reversed(invoices)]
    second = page_of(browser.get(f"/portal/invoices?after={invoices[-10].id}"))
    assert invoice_numbers(second) == newest_first[10:20]
    assert "<html" in second and "Newest invoices" in second
    third = page_of(browser.get(f"/portal/invoices?after={invoices[-20].id}"))
    assert invoice_numbers(third) == newest_first[20:]
    assert "Show more invoices" not in third


def test_show_more_with_htmx_answers_only_the_rows_to_append(history):
    browser, invoices = history
    fragment = page_of(browser.get(f"/portal/invoices?after={invoices[-10].id}", headers=HTMX))
    assert "<html" not in fragment and "<nav" not in fragment
    assert fragment.lstrip().startswith("<li")
    assert invoice_numbers(fragment) == [invoice.number for invoice in reversed(invoices)][10:20]
    assert f'hx-get="/portal/invoices?after={invoices[-20].id}"' in fragment
    assert "data-autofocus" in fragment  # the first new row takes the focus the clicked button had


def test_a_boosted_navigation_to_history_gets_the_whole_page(history):
    browser, _ = history
    page = page_of(browser.get("/portal/invoices", headers={**HTMX, "HX-Boosted": "true"}))
    assert "<html" in page and "Billing history" in page


def test_history_shows_status_badges_and_amounts(inside, customer):
    browser, _ = inside
    make_invoice(customer, amount=123456, status="paid", created=1_700_000_000)
    make_invoice(customer, amount=2000, status="open", created=1_700_100_000)
    make_invoice(customer, amount=3000, status="open", attempts=1, created=1_700_200_000)
    make_invoice(customer, amount=4000, status="void", created=1_700_300_000)
    make_invoice(customer, amount=5000, status="uncollectible", created=1_700_400_000)
    page = page_of(browser.get("/portal/invoices"))
    badges = re.findall(r'<span class="badge badge-invoice-(\w+)">([^<]+)</span>', page)
    assert badges == [("uncollectible", "Unpaid"), ("void", "Void"), ("past_due", "Past due"), ("open", "Due"),
                      ("paid", "Paid")]
    assert "GH₵1,234.56" in page and "Nov 14, 2023" in page
    assert page.count(">Pay<") == 2  # the two invoices still due


def test_invoices_stay_reachable_after_the_subscription_is_canceled(inside, customer, merchant):
    browser, _ = inside
    subscription = make_subscription(customer, make_plan(merchant[0]), status="canceled", ended_at=1_700_000_000)
    old = make_invoice(customer, subscription=subscription, created=1_690_000_000)
    assert old.number in page_of(browser.get("/portal/invoices"))
    response = browser.get(f"/portal/invoices/{old.id}/pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")


def test_history_never_shows_another_customers_invoices(inside, customer, merchant):
    browser, _ = inside
    other = make_customer(merchant[0], name="Kofi Boateng", email="kofi@example.com")
    theirs = make_invoice(other)
    mine = make_invoice(customer)
    page = page_of(browser.get("/portal/invoices"))
    assert invoice_numbers(page) == [mine.number]
    # Another customer's invoice as a cursor pages nothing of theirs and reveals nothing.
    assert invoice_numbers(page_of(browser.get(f"/portal/invoices?after={theirs.id}"))) == []


def test_an_unknown_cursor_is_an_empty_page_not_an_error(history):
    browser, _ = history
    page = page_of(browser.get("/portal/invoices?after=in_doesnotexist"))
    assert invoice_numbers(page) == [] and "There are no older invoices." in page


def test_history_of_a_customer_without_invoices_says_so(inside):
    browser, _ = inside
    assert "No invoices yet." in page_of(browser.get("/portal/invoices"))


def test_history_makes_the_same_few_queries_with_3_or_300_invoices(inside, customer):
    browser, _ = inside
    for i in range(3):
        make_invoice(customer, created=1_700_000_000 + i)
    with count_queries() as few:
        page_of(browser.get("/portal/invoices"))
    for i in range(297):
        make_invoice(customer, created=1_700_001_000 + i)
    cursor = make_invoice(customer).id
    with count_queries() as many:
        page_of(browser.get(f"/portal/invoices?after={cursor}"))
    assert len(few) <= 6 and len(many) == len(few), (few, many)


# Invoice PDFs

def test_pdf_download_is_an_attachment_named_after_the_invoice(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer)
    response = browser.get(f"/portal/invoices/{invoice.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    text = PdfReader(BytesIO(response.data)).pages[0].extract_text()
    assert invoice.number in text and "Ama Mensah" in text and "GH₵50.00" in text


def test_pdf_is_stored_after_the_first_download(inside, customer):
    browser, _ = inside
    invoice = make_invoice(customer)
    first = browser.get(f"/portal/invoices/{invoice.id}/pdf").data
    stored = db.session.get(InvoiceDocument, (invoice.id, "en"))
    assert stored is not None and stored.pdf == first and stored.rendered_status == "paid"
    assert browser.get(f"/portal/invoices/{invoice.id}/pdf").data == first


def test_another_customers_pdf_is_a_404_identical_to_a_missing_one(inside, customer, merchant):
    browser, _ = inside
    theirs = make_invoice(make_customer(merchant[0], name="Kofi Boateng", email="kofi@example.com"))
    foreign = browser.get(f"/portal/invoices/{theirs.id}/pdf")
    missing = browser.get("/portal/invoices/in_doesnotexist0000000000/pdf")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.data.replace(theirs.id.encode(), b"") == missing.data.replace(b"in_doesnotexist0000000000", b"")
    assert b"Kofi" not in foreign.data


def test_another_merchants_invoice_is_a_404_everywhere(inside, make_merchant):
    browser, _ = inside
    globex = make_merchant("Globex")[0]
    theirs = make_invoice(make_customer(globex, email="x@globex.test"))
    for path in (f"/portal/invoices/{theirs.id}/pdf", f"/portal/invoices/{theirs.id}/pay"):
        assert browser.get(path).status_code == 404, path


def test_disabled_history_is_hidden_and_refused(inside, api, customer):
    browser, _ = inside
    invoice = make_invoice(customer)
    api.post("/v1/customer_portal/configuration", json={"features": {"invoice_history": {"enabled": False}}})
    overview = page_of(browser.get("/portal/"))
    assert "Billing history" not in overview and "/pdf" not in overview and invoice.number not in overview
    for path in ("/portal/invoices", f"/portal/invoices/{invoice.id}/pdf"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "Billing history isn't available for this account." in html.unescape(response.get_data(as_text=True))


def test_pages_outside_a_session_refuse_without_data(browser, customer):
    invoice = make_invoice(customer)
    for path in ("/portal/invoices", f"/portal/invoices/{invoice.id}/pdf"):
        response = browser.get(path)
        assert response.status_code == 403 and invoice.number not in response.get_data(as_text=True)


def test_an_expired_session_sends_show_more_to_the_expired_page(browser, create_session, customer):
    with clock.frozen(1_700_000_000):
        browser.get(link_path(create_session()))
        invoice = make_invoice(customer)
        clock.advance(1801)
        response = browser.get(f"/portal/invoices?after={invoice.id}", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/portal/expired"
    assert invoice.number not in response.get_data(as_text=True)
