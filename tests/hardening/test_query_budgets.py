"""Query budgets: every portal page makes at most 6 SQL queries and every dashboard page at most 10, whatever the
data size — each page is measured on a small world and on one five times larger (subscriptions, invoices,
payment methods, customers, events), and must make the same number of queries on both (no query per row).

The pages come from the URL map (through the access matrix's table, which fails on a route it does not know), each
fetched by its rightful caller: A1's live portal session (and support staff previewing A1), A's owner.
"""
import pytest

from tests.query_counting import counting_queries
from xtoportal.extensions import db

from .test_access_matrix import ROUTES, build_request

BUDGETS = {"portal": 6, "dashboard": 10}
# The customer, and support staff previewing that customer's portal (the same pages, entered another way).
CALLERS = {"portal": ("a1_live", "preview_a1"), "dashboard": ("owner_a",)}
LARGE = 5


def page_query_counts(app, world) -> dict[str, int]:
    """{"endpoint caller": queries} for every GET page of the portal and the dashboard that answers 200 with HTML."""
    counts = {}
    for (endpoint, method), case in ROUTES.items():
        area = endpoint.split(".")[0]
        if method != "GET" or area not in BUDGETS:
            continue
        with app.test_request_context():
            path, _ = build_request(world, endpoint, method, case)
        for caller in CALLERS[area]:
            db.session.remove()  # a server starts each request with an empty session: nothing cached from before
            with counting_queries() as queries:
                response = world.browsers[caller].get(path)
            response.close()
            if response.status_code == 200 and response.mimetype == "text/html":
                counts[f"{endpoint} {caller}"] = queries.count
    return counts


@pytest.fixture
def small_and_large(app, world_factory):
    """Both worlds in one database: the large one is measured with the small one's rows still there."""
    small = page_query_counts(app, world_factory(1))
    large = page_query_counts(app, world_factory(LARGE))
    return small, large


def test_every_portal_and_dashboard_page_stays_within_its_query_budget_whatever_the_data(small_and_large):
    small, large = small_and_large
    print("\nqueries per page (small world / 5x world):")
    for endpoint in small:
        print(f"  {endpoint:45} {small[endpoint]:3} {large.get(endpoint, '-'):>3}")
    assert small.keys() == large.keys()
    assert {e.split(".")[0] for e in small} == set(BUDGETS), small  # both areas were measured
    over = {e: (small[e], large[e]) for e in small if max(small[e], large[e]) > BUDGETS[e.split(".")[0]]}
    growing = {e: (small[e], large[e]) for e in small if small[e] != large[e]}
    assert not over, f"over budget (small, large): {over}"
    assert not growing, f"more queries with more data (small, large): {growing}"
