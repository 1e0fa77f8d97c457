import pytest

from tests.factories import make_card, make_customer, make_plan


@pytest.fixture
def invoice(api, merchant):
    customer = make_customer(merchant[0], name="Ama <b>Mensah</b>")
    make_card(customer)
    sub = api.post("/v1/subscriptions", json={"customer_id": customer.id, "plan_id": make_plan(merchant[0]).id})
    return api.get(f"/v1/invoices?subscription_id={sub.get_json()['id']}").get_json()["data"][0]


def test_invoice_has_number_lines_and_totals(api, invoice):
    body = api.get(f"/v1/invoices/{invoice['id']}").get_json()
    assert body["object"] == "invoice" and body["number"] == "ACME-000001"
    assert body["subtotal"] == body["total"] == 5000 and body["tax"] == 0
    assert body["amount_paid"] == 5000 and body["amount_due"] == 0 and body["paid_at"] is not None
    [line] = body["lines"]
    assert line["amount"] == 5000 and line["quantity"] == 1 and line["proration"] is False


def test_invoice_pdf_is_a_real_pdf_attachment(api, invoice):
    response = api.get(f"/v1/invoices/{invoice['id']}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == 'attachment; filename="invoice-ACME-000001.pdf"'


def test_invoice_pdf_in_french_and_unknown_locale_is_400(api, invoice):
    assert api.get(f"/v1/invoices/{invoice['id']}/pdf?locale=fr").data.startswith(b"%PDF-")
    response = api.get(f"/v1/invoices/{invoice['id']}/pdf?locale=de")
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "locale"


def test_other_merchants_invoice_and_pdf_are_404(other_api, invoice):
    assert other_api.get(f"/v1/invoices/{invoice['id']}").status_code == 404
    assert other_api.get(f"/v1/invoices/{invoice['id']}/pdf").status_code == 404


def test_list_filters_by_customer_and_unknown_subscription_is_400(api, invoice):
    listed = api.get(f"/v1/invoices?customer_id={invoice['customer_id']}").get_json()
    assert [i["id"] for i in listed["data"]] == [invoice["id"]]
    response = api.get("/v1/invoices?subscription_id=sub_nope")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "resource_missing"
