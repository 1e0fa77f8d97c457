"""The landing page: who the customer is, their subscriptions, in the merchant's colours, with a way back."""
from tests.factories import make_customer, make_plan

from .conftest import link_path
from .factories import make_subscription


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
    assert "Renews on Dec 14, 2023" in page
    assert page.index("Team Quarterly") < page.index(">Pro<")  # newest first


def test_overview_says_what_happens_next_for_each_status(browser, create_session, customer, merchant):
    plan = make_plan(merchant[0])
    make_subscription(customer, plan, anchor=1_700_000_000, cancel_at_period_end=True)
    make_subscription(customer, plan, status="trialing", anchor=1_700_000_000, trial_end=1_700_500_000)
    make_subscription(customer, plan, status="paused", anchor=1_700_000_000, pause_resumes_at=1_702_000_000)
    make_subscription(customer, plan, status="canceled", anchor=1_700_000_000, ended_at=1_700_100_000)
    page = _overview(browser, create_session)
    assert "Ends on Dec 14, 2023" in page
    assert "Trial ends on Nov 20, 2023" in page
    assert "Resumes on Dec 8, 2023" in page
    assert "Ended on Nov 16, 2023" in page


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
