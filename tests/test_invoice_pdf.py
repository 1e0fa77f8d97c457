"""Invoice PDFs: what they show (in English and French), and that a rendered invoice is stored and served again."""
import hashlib
import re
from io import BytesIO

import pytest
from PIL import Image
from pypdf import PdfReader

from xtoportal import invoice_pdf as pdfs
from xtoportal.billing.invoices import Line, create_invoice, mark_paid
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import InvoiceDocument, MerchantLogo, PortalConfiguration

from tests.factories import make_customer

T0 = 1_700_000_000
DAY = 86400


def text_of(pdf: bytes) -> str:
    """The PDF's text with its spacing flattened (French uses narrow no-break spaces)."""
    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \u00a0\u202f]+", " ", text)


@pytest.fixture
def acme(merchant):
    acme = merchant[0]
    acme.name = "Acme Cloud Ltd"
    acme.address = {"line1": "4 Liberation Road", "city": "Accra", "country": "GH"}
    config = db.session.get(PortalConfiguration, acme.id)
    config.settings = {"branding": {"business_name": "Acme", "primary_color": "#b45309"},
                       "business_profile": {"support_email": "billing@acme.example"}}
    db.session.commit()
    return acme


@pytest.fixture
def buyer(acme):
    return make_customer(acme, name="Ama Mensah", email="ama@example.com", phone="+233244123456",
                         address={"line1": "14 Oxford Street", "city": "Accra", "country": "GH"})


def make_invoice(customer, lines, status="open"):
    invoice = create_invoice(customer, "ghs", lines, Origin("api"), T0)
    if status == "paid":
        mark_paid(invoice, T0 + 60)
    db.session.commit()
    return invoice


@pytest.fixture
def proration_invoice(buyer):
    return make_invoice(buyer, [
        Line("Unused time on Starter", -2833, T0, T0 + 17 * DAY, proration=True),
        Line("Remaining time on Business", 125289, T0, T0 + 17 * DAY, proration=True),
    ], status="paid")


def test_the_pdf_shows_seller_buyer_lines_totals_and_pages(app, proration_invoice):
    text = text_of(pdfs.invoice_pdf(proration_invoice, "en"))
    for expected in ("Acme Cloud Ltd", "4 Liberation Road", "Ghana", "billing@acme.example",  # the seller
                     "BILL TO", "Ama Mensah", "14 Oxford Street", "+233244123456",  # the buyer
                     "ACME-000001", "Issued", "November 14, 2023",
                     "Unused time on Starter", "-GH₵28.33", "Remaining time on Business", "GH₵1,252.89",
                     "PRORATION", "Subtotal", "Tax", "GH₵0.00", "Total", "GH₵1,224.56", "Amount paid",
                     "Amount due", "PAID", "Page 1 / 1"):
        assert expected in text, expected


def test_an_open_invoice_is_stamped_due(app, buyer):
    invoice = make_invoice(buyer, [Line("Pro", 5000, T0, T0 + 30 * DAY)])
    text = text_of(pdfs.invoice_pdf(invoice, "en"))
    assert "DUE" in text and "PAID" not in text and "GH₵50.00" in text


def test_the_pdf_in_french(app, proration_invoice):
    text = text_of(pdfs.invoice_pdf(proration_invoice, "fr"))
    for expected in ("FACTURE", "FACTURÉ À", "14 novembre 2023", "1 224,56 GHS", "-28,33 GHS", "PAYÉE",
                     "Montant dû", "Proratisation".upper(), "Page 1 / 1"):
        assert expected in text, expected


def test_a_paid_invoice_is_rendered_once_then_served_from_storage(app, proration_invoice):
    first = pdfs.invoice_pdf(proration_invoice, "en")
    db.session.commit()
    stored = db.session.get(InvoiceDocument, (proration_invoice.id, "en"))
    assert stored.pdf == first and stored.rendered_status == "paid"
    stored.pdf = b"%PDF-the stored bytes"
    db.session.commit()
    assert pdfs.invoice_pdf(proration_invoice, "en") == b"%PDF-the stored bytes"


def test_each_language_is_stored_on_its_own(app, proration_invoice):
    english, french = pdfs.invoice_pdf(proration_invoice, "en"), pdfs.invoice_pdf(proration_invoice, "fr")
    db.session.commit()
    assert english != french
    rows = db.session.scalars(db.select(InvoiceDocument).filter_by(invoice_id=proration_invoice.id)).all()
    assert sorted(row.locale for row in rows) == ["en", "fr"]


def test_an_open_invoice_is_rendered_again_once_it_is_paid(app, buyer):
    invoice = make_invoice(buyer, [Line("Pro", 5000, T0, T0 + 30 * DAY)])
    due = pdfs.invoice_pdf(invoice, "en")
    db.session.commit()
    assert pdfs.invoice_pdf(invoice, "en") == due  # unchanged: the stored bytes
    mark_paid(invoice, T0 + 3600)
    db.session.commit()
    paid = pdfs.invoice_pdf(invoice, "en")
    db.session.commit()
    assert "PAID" in text_of(paid) and "DUE" not in text_of(paid)
    assert db.session.get(InvoiceDocument, (invoice.id, "en")).rendered_status == "paid"


def test_storing_the_same_document_twice_is_not_an_error(app, proration_invoice):
    # Two first downloads at once both render, then both store: the second simply replaces the first.
    pdfs.store_document(proration_invoice, "en", b"%PDF-one")
    pdfs.store_document(proration_invoice, "en", b"%PDF-two")
    db.session.commit()
    assert db.session.get(InvoiceDocument, (proration_invoice.id, "en")).pdf == b"%PDF-two"


def test_a_draft_is_rendered_but_never_stored(app, buyer):
    invoice = make_invoice(buyer, [Line("Pro", 5000, T0, T0 + 30 * DAY)])
    invoice.status = "draft"
    db.session.commit()
    assert pdfs.invoice_pdf(invoice, "en").startswith(b"%PDF-")
    db.session.commit()
    assert db.session.get(InvoiceDocument, (invoice.id, "en")) is None


def test_the_merchants_logo_is_embedded_and_no_url_is_ever_fetched(app, acme, proration_invoice):
    image = BytesIO()
    Image.new("RGB", (120, 40), "#b45309").save(image, "PNG")
    db.session.add(MerchantLogo(merchant_id=acme.id, content=image.getvalue(), mimetype="image/png",
                                digest=hashlib.sha256(image.getvalue()).hexdigest()))
    config = db.session.get(PortalConfiguration, acme.id)
    config.settings = {**config.settings, "branding": {**config.settings["branding"],
                                                       "logo_url": "https://cdn.acme.example/logo.png"}}
    db.session.commit()
    html = pdfs.invoice_html(proration_invoice, "en")
    assert 'src="data:image/png;base64,' in html and "cdn.acme.example" not in html
    reader = PdfReader(BytesIO(pdfs.invoice_pdf(proration_invoice, "en")))
    assert len(reader.pages[0].images) == 1


def test_names_are_escaped_in_the_html_the_pdf_is_made_from(app, acme):
    customer = make_customer(acme, name="<img src=https://evil.example/x>", email="x@example.com")
    invoice = make_invoice(customer, [Line("<b>Pro</b>", 5000, T0, T0 + 30 * DAY)])
    html = pdfs.invoice_html(invoice, "en")
    assert "<img src=https://evil.example" not in html and "&lt;b&gt;Pro&lt;/b&gt;" in html


def test_one_font_configuration_serves_every_render(app):
    assert pdfs.font_configuration() is pdfs.font_configuration()
