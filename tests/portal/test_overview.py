"""The landing page: who the customer is, their subscriptions and what happens next, how they pay, their details
and latest invoices, in the merchant's colours, with a way back."""
import re

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import PortalSession

from tests.factories import make_card, make_customer, make_plan, make_wallet

from .conftest import link_path
from .factories import make_subscription
from .test_invoices import count_queries, make_invoice


def _overview(browser, create_session, **fields) -> str:
    browser.get(link_path(create_session(**fields)))
    response = browser.get("/portal/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_overview_shows_the_customer_and_a_way_back(browser, create_session):
    page = _overview(browser, create_session)
    assert "Ama Mensah" in page and "ama@example.com" in page
    assert 'href="https://acme.example/account"' in page
    assert "Back to Acme" in page


def test_customer_name_is_escaped(browser, api, create_session, customer):
    api.post(f"/v1/customers/{customer.id}", json={"name": "<script>alert(1)</script>"})
    page = _overview(browser, create_session)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_merchant_name_is_escaped_in_translated_sentences(browser, api, create_session):
    api.post("/v1/customer_portal/configuration", json={"branding": {"business_name": "<b>Acme</b>"}})
    page = _overview(browser, create_session)
    assert "<b>Acme</b>" not in page
    assert "Back to &lt;b&gt;Acme&lt;/b&gt;" in page


def test_a_customer_without_a_name_is_greeted_by_email(browser, api, merchant):
    customer = make_customer(merchant[0], name=None, email="kofi@example.com")
    session = api.post("/v1/customer_portal/sessions",
                       json={"customer_id": customer.id, "return_url": "https://acme.example/"}).get_json()
    browser.get(link_path(session))
    assert '<h1 class="customer-name">kofi@example.com</h1>' in browser.get("/portal/").get_data(as_text=True)


def test_overview_lists_the_customers_subscriptions(browser, create_session, customer, merchant):
    pro = make_plan(merchant[0], name="Pro", amount=5000, currency="ghs")
    team = make_plan(merchant[0], name="Team Quarterly", amount=250000, currency="ugx", interval_count=3)
    make_subscription(customer, pro, anchor=1_700_000_000)
    make_subscription(customer, team, status="past_due", anchor=1_700_000_000)
    page = _overview(browser, create_session)
    assert "Pro" in page and "GH₵50.00" in page and "/ month" in page
    assert "Team Quarterly" in page and "USh 250,000" in page and "/ 3 months" in page
    assert "Active" in page and "Past due" in page
    assert "Renews on Dec 14, 2023 for GH₵50.00." in page
    assert page.index("Team Quarterly") < page.index(">Pro<")  # newest first


def test_overview_says_what_happens_next_for_each_status(browser, create_session, customer, merchant):
    plan = make_plan(merchant[0])
    make_subscription(customer, plan, anchor=1_700_000_000, cancel_at_period_end=True)
    make_subscription(customer, plan, status="trialing", anchor=1_700_000_000, trial_end=1_700_500_000)
    make_subscription(customer, plan, status="paused", anchor=1_700_000_000, pause_resumes_at=1_702_000_000)
    make_subscription(customer, plan, status="canceled", anchor=1_700_000_000, ended_at=1_700_100_000)
    page = _overview(browser, create_session)
    assert "Ends on Dec 14, 2023. You won't be charged again." in page
    assert "Trial ends on Nov 20, 2023. Your first payment of GH₵50.00 is due then." in page
    assert "Resumes on Dec 8, 2023, with a payment of GH₵50.00." in page
    assert "Ended on Nov 16, 2023" in page
    assert page.index("Ended subscriptions") < page.index("Ended on Nov 16, 2023")


def test_overview_never_shows_another_customers_subscriptions(browser, create_session, merchant):
    other = make_customer(merchant[0], name="Kofi Boateng")
    make_subscription(other, make_plan(merchant[0], name="Secret Plan"))
    page = _overview(browser, create_session)
    assert "Secret Plan" not in page and "Kofi Boateng" not in page
    assert "You have no subscriptions with Acme." in page


def test_overview_wears_the_merchants_branding(browser, api, create_session):
    api.post("/v1/customer_portal/configuration", json={
        "branding": {"business_name": "Acme Cloud", "primary_color": "#FFD400", "accent_color": "#123456",
                     "logo_url": "https://cdn.acme.example/logo.png"},
        "business_profile": {"support_email": "help@acme.example"},
    })
    page = _overview(browser, create_session)
    assert "--brand: #ffd400;" in page
    assert "--on-brand: #111827;" in page  # dark text on a light brand colour
    assert "--accent: #123456;" in page and "--on-accent: #ffffff;" in page
    assert 'src="https://cdn.acme.example/logo.png"' in page and 'alt="Acme Cloud"' in page
    assert "Back to Acme Cloud" in page
    assert 'href="mailto:help@acme.example"' in page


def test_the_stylesheet_is_served(browser):
    response = browser.get("/static/css/portal.css")
    assert response.status_code == 200 and b"--brand" in response.data
    response.close()


def test_a_scheduled_plan_change_is_spelled_out_with_its_date_and_price(browser, create_session, customer, merchant):
    business = make_plan(merchant[0], name="Business", amount=40000)
    starter = make_plan(merchant[0], name="Starter", amount=5000)
    make_subscription(customer, business, anchor=1_700_000_000, pending_plan_id=starter.id,
                      pending_effective_at=1_702_592_000)
    page = _overview(browser, create_session)
    assert "Switches to Starter (GH₵50.00 / month) on Dec 14, 2023." in page
    assert "Renews on Dec 14, 2023 for GH₵50.00." in page  # the next charge is the new plan's price


def test_a_subscription_waiting_for_payment_offers_to_pay_its_invoice(browser, create_session, customer, merchant):
    subscription = make_subscription(customer, make_plan(merchant[0]), status="incomplete")
    invoice = make_invoice(customer, status="open", subscription=subscription)
    page = _overview(browser, create_session)
    assert "Payment needed" in page and "Your first payment hasn't gone through yet." in page
    assert f'<a class="button button-primary" href="/portal/invoices/{invoice.id}/pay">Pay GH₵50.00</a>' in page
    assert "unpaid invoice" not in page  # the card offers it; no second banner for the same invoice


def test_an_unpaid_invoice_without_a_subscription_is_called_out_at_the_top(browser, create_session, customer):
    invoice = make_invoice(customer, amount=123456, status="open", created=1_700_000_000)
    page = _overview(browser, create_session)
    assert "You have an unpaid invoice" in page and "GH₵1,234.56" in page
    assert page.index("unpaid invoice") < page.index("Subscriptions")
    assert f'href="/portal/invoices/{invoice.id}/pay">Pay now</a>' in page


def test_an_old_unpaid_invoice_is_shown_even_past_the_latest_five(browser, create_session, customer):
    old = make_invoice(customer, status="open", created=1_690_000_000)
    for day in range(6):
        make_invoice(customer, created=1_700_000_000 + day * 86400)
    page = _overview(browser, create_session)
    assert old.number in page and f"/portal/invoices/{old.id}/pay" in page


def test_overview_shows_the_default_card(browser, create_session, customer):
    make_card(customer, number="5555555555554444")
    page = _overview(browser, create_session)
    assert "Mastercard •••• 4444" in page and "Expires 12/2040" in page and "Default" in page


def test_overview_shows_a_default_mobile_money_wallet(browser, create_session, customer):
    make_card(customer)
    make_wallet(customer, phone="+233240000000", provider="mtn_momo")
    page = _overview(browser, create_session)
    assert "MTN MoMo •••• 0000" in page and "Visa" not in page


def test_overview_without_a_payment_method_offers_to_add_one(browser, create_session):
    page = _overview(browser, create_session)
    assert "No payment method on file." in page
    assert 'href="/portal/payment-methods">Add a payment method</a>' in page


def test_overview_shows_billing_details_with_the_country_named(browser, api, create_session, customer):
    api.post(f"/v1/customers/{customer.id}", json={
        "phone": "+233244123456",
        "address": {"line1": "14 Oxford Street", "city": "Accra", "postal_code": "GA-123", "country": "GH"}})
    page = _overview(browser, create_session)
    assert "+233 24 412 3456" in page  # shown as people read it
    assert "14 Oxford Street<br>GA-123 Accra<br>Ghana" in page
    assert 'href="/portal/details">Edit' in page


def test_account_credit_is_mentioned(browser, create_session, customer):
    customer.credit_balance = {"ghs": 1250}
    db.session.commit()
    assert "Account credit: GH₵12.50, applied to your next invoices." in _overview(browser, create_session)


def test_overview_lists_the_latest_five_invoices_newest_first(browser, create_session, customer):
    invoices = [make_invoice(customer, created=1_700_000_000 + day * 86400) for day in range(7)]
    page = _overview(browser, create_session)
    shown = re.findall(r'<span class="invoice-number">([^<]+)</span>', page)
    assert shown == [invoice.number for invoice in reversed(invoices)][:5]
    assert 'href="/portal/invoices">View all' in page
    assert f'href="/portal/invoices/{invoices[-1].id}/pdf"' in page


def test_a_customer_with_only_ended_subscriptions_still_sees_invoices_and_details(browser, create_session,
                                                                               customer, merchant):
    subscription = make_subscription(customer, make_plan(merchant[0], name="Legacy"), status="canceled",
                                     ended_at=1_700_000_000)
    invoice = make_invoice(customer, subscription=subscription)
    page = _overview(browser, create_session)
    assert "You have no active subscription with Acme." in page
    assert "Legacy" in page and invoice.number in page and "ama@example.com" in page


def test_navigation_links_only_the_sections_the_merchant_allows(browser, api, create_session):
    page = _overview(browser, create_session)
    nav = page[page.index('<nav class="portal-nav"'):page.index("</nav>")]
    assert 'href="/portal/" aria-current="page">Overview' in nav
    for href in ("/portal/invoices", "/portal/payment-methods", "/portal/details"):
        assert f'href="{href}"' in nav
    api.post("/v1/customer_portal/configuration", json={"features": {
        "invoice_history": {"enabled": False}, "payment_method_update": {"enabled": False},
        "customer_update": {"enabled": False}}})
    page = _overview(browser, create_session)
    assert '<nav class="portal-nav"' not in page  # only the overview is left: no navigation needed
    assert "/portal/payment-methods" not in page and "/portal/details" not in page and "Manage" not in page


def test_overview_makes_at_most_six_queries_whatever_the_data(browser, create_session, customer, merchant):
    browser.get(link_path(create_session()))
    make_subscription(customer, make_plan(merchant[0]))
    make_invoice(customer)
    with count_queries() as small:
        assert browser.get("/portal/").status_code == 200
    plans = [make_plan(merchant[0], name=f"Plan {i}") for i in range(2)]
    for plan in plans:
        make_subscription(customer, plan, pending_plan_id=plans[0].id, pending_effective_at=1_900_000_000)
    make_card(customer)
    for i in range(23):
        make_invoice(customer, status="open" if i % 4 == 0 else "paid", created=1_700_000_000 + i)
    with count_queries() as large:
        assert browser.get("/portal/").status_code == 200
    assert len(large) <= 6 and len(large) <= len(small) + 1, large  # + 1: the default payment method


def test_portal_pages_forbid_framing_inline_script_and_other_origins(browser, create_session):
    browser.get(link_path(create_session()))
    response = browser.get("/portal/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self' https://acme.example" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    page = response.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in page
    assert "<script>" not in page and " on" + "click=" not in page
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"  # flask-wtf needs the Referer


def test_htmx_is_served_from_us_and_swaps_validation_errors(browser, create_session):
    page = _overview(browser, create_session)
    assert re.search(r'<script src="/static/vendor/htmx-2\.0\.11\.min\.js\?v=[0-9a-f]{12}" defer></script>', page)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', page).group(1)
    assert '{"code": "422", "swap": true}' in config and '"allowEval": false' in config
    assert config.index('"422"') < config.index('"[45].."')  # the first matching rule wins
    assert 'hx-history="false"' in page and '"X-CSRFToken": "' in page


def test_the_overview_in_a_session_that_ends_mid_page_sends_htmx_to_the_expired_page(browser, create_session):
    with clock.frozen(1_700_000_000):
        browser.get(link_path(create_session()))
        clock.advance(1801)
        response = browser.get("/portal/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.headers["HX-Redirect"] == "/portal/expired"
    assert db.session.scalars(db.select(PortalSession)).one().status_at(1_700_001_801) == "expired"


def test_billing_details_show_the_phone_in_international_format(app):
    from xtoportal.contact import display_phone
    assert display_phone("+233244123456") == "+233 24 412 3456"
    assert display_phone("not a number") == "not a number"
