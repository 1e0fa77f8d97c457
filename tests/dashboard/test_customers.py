"""Customers: search by email, name or id; a customer's page with subscriptions, invoices, payment methods and
events; every page within a small, fixed number of SQL queries."""
from tests.factories import make_card, make_customer, make_plan
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.events import Origin
from xtoportal.extensions import db

MAX_QUERIES = 10


def subscribe(customer, plan):
    """A real subscription with its first invoice paid and its events, made by the billing engine."""
    subscription = billing.create_subscription(customer, plan, Origin("api"), clock.now())
    db.session.commit()
    return subscription


def test_search_finds_customers_by_part_of_the_email_or_name_or_by_id(as_owner, acme):
    ama = make_customer(acme, name="Ama Mensah", email="ama@example.com")
    kofi = make_customer(acme, name="Kofi Boateng", email="kofi.b@example.org")
    by_email = as_owner.text("/dashboard/customers?q=EXAMPLE.ORG")
    assert kofi.id in by_email and ama.id not in by_email
    by_name = as_owner.text("/dashboard/customers?q=mensah")
    assert ama.id in by_name and kofi.id not in by_name
    by_id = as_owner.text(f"/dashboard/customers?q={kofi.id}")
    assert kofi.id in by_id and ama.id not in by_id
    everyone = as_owner.text("/dashboard/customers")
    assert everyone.index("Kofi Boateng") < everyone.index("Ama Mensah")  # newest first


def test_search_wildcards_are_taken_literally(as_owner, acme):
    make_customer(acme, name="Ama Mensah", email="ama@example.com")
    assert "No customer matches “%”." in as_owner.text("/dashboard/customers?q=%25")
    assert "No customer matches “_”." in as_owner.text("/dashboard/customers?q=_")


def test_search_answers_htmx_with_the_rows_alone(as_owner, acme):
    make_customer(acme, name="Ama Mensah", email="ama@example.com")
    fragment = as_owner.get("/dashboard/customers?q=ama", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<div id="customer-rows">') and "<html" not in fragment
    assert "Ama Mensah" in fragment


def test_customers_are_paged(as_owner, acme):
    for number in range(27):
        make_customer(acme, name=f"Customer {number:02d}", email=f"c{number}@example.com")
    first = as_owner.text("/dashboard/customers")
    assert "Customer 26" in first and "Customer 02" in first and "Customer 01" not in first
    cursor = first.split("before=")[1].split('"')[0]
    second = as_owner.text(f"/dashboard/customers?before={cursor}")
    assert "Customer 01" in second and "Customer 00" in second and "Customer 02" not in second


def test_a_customer_page_shows_subscriptions_invoices_payment_methods_and_events(as_owner, acme):
    customer = make_customer(acme, name="Ama Mensah", email="ama@example.com", phone="+233244123456")
    make_card(customer)
    subscription = subscribe(customer, make_plan(acme, name="Pro", amount=15000))
    page = as_owner.text(f"/dashboard/customers/{customer.id}")
    assert "<h1>Ama Mensah</h1>" in page and "+233244123456" in page
    assert "Pro" in page and subscription.id in page and "badge-active" in page
    assert "ACME-000001" in page and "GH₵150.00" in page
    assert "Visa •••• 4242" in page and ">default<" in page
    assert "subscription.created" in page and "invoice.paid" in page
    assert "Preview portal" in page


def test_another_merchants_customer_is_not_found(as_owner, make_merchant):
    stranger = make_customer(make_merchant("Globex")[0], name="Globex Customer")
    assert as_owner.get(f"/dashboard/customers/{stranger.id}").status_code == 404
    results = as_owner.text(f"/dashboard/customers?q={stranger.id}")
    assert "Globex Customer" not in results and f"No customer matches “{stranger.id}”." in results


def test_customer_pages_stay_within_ten_queries_however_much_there_is(as_owner, acme, count_queries):
    plans = [make_plan(acme, name=f"Plan {n}", amount=1000 * (n + 1)) for n in range(3)]
    busy = None
    for number in range(30):
        customer = make_customer(acme, name=f"Customer {number}", email=f"c{number}@example.com")
        make_card(customer)
        for plan in plans if number % 3 == 0 else plans[:1]:
            subscribe(customer, plan)
        busy = busy or customer
    busy_page = f"/dashboard/customers/{busy.id}"
    counts = {}
    for path in ("/dashboard/customers", "/dashboard/customers?q=customer", busy_page):
        db.session.remove()  # a server starts each request with an empty session: nothing is cached
        with count_queries() as queries:
            as_owner.text(path)
        counts[path] = queries.count
    assert all(count <= MAX_QUERIES for count in counts.values()), counts
