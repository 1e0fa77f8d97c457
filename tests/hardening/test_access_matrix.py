"""Every route of the app, as every kind of caller: each gets exactly the answer it should, and a refused change
writes nothing.

The routes come from `app.url_map`, so a route added without a line in ROUTES fails the first test. Who may do what
inside one area is tested beside it (tests/dashboard/test_roles.py: each role on each dashboard route;
tests/portal/test_access.py: the portal cookie); this is the cross-area view: an API key on portal pages, a portal
session on the dashboard, another merchant or another customer naming A1's objects, an expired session, a support
preview trying to change something.
"""
from dataclasses import dataclass, field
from typing import Callable

import pytest
from flask import url_for

from tests.dashboard.conftest import settings_form
from tests.dashboard.test_roles import MUTATING as DASHBOARD_MUTATING, RESTRICTED_PAGES
from xtoportal.extensions import db
from xtoportal.models import PortalConfiguration

from .conftest import RETURN_URL, World, table_snapshot

READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Case:
    """One request to a route: its URL arguments (names of A1's objects in World.objects), query, body, and the
    status its rightful caller gets (merchant A's key on /v1, A1's live session on /portal, A's owner on
    /dashboard, anyone on a public route)."""

    ok: int = 200
    args: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    body: dict | Callable | None = None
    # What merchant B's key or B's owner get from a route that names no object in its path (None: the same as the
    # rightful caller — it acts on B's own data then). A route naming one of A's objects in its path is a 404.
    other_merchant: int | None = None


def _settings(world: World):
    return settings_form(db.session.get(PortalConfiguration, world.a.id).document)


CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
# In the order they run: reads first, then changes, each on an object still in the state it needs; what ends a
# browser's session (preview start and end, sign-out) comes last.
ROUTES: dict[tuple[str, str], Case] = {
    # Public.
    ("index", "GET"): Case(),
    ("healthz", "GET"): Case(),
    ("static", "GET"): Case(args={"filename": "static_file"}),
    ("brand.logo", "GET"): Case(args={"merchant_id": "logo_merchant", "digest": "logo_digest"}),
    ("api.openapi", "GET"): Case(),
    # The API: reads.
    ("api.list_customers", "GET"): Case(),
    ("api.get_customer", "GET"): Case(args={"id": "customer"}),
    ("api.list_payment_methods", "GET"): Case(args={"id": "customer"}),
    ("api.list_events", "GET"): Case(),
    ("api.get_event", "GET"): Case(args={"id": "event"}),
    ("api.list_invoices", "GET"): Case(query={"customer_id": "customer"}, other_merchant=400),
    ("api.get_invoice", "GET"): Case(args={"id": "invoice_paid"}),
    ("api.get_invoice_pdf", "GET"): Case(args={"id": "invoice_paid"}),
    ("api.list_plans", "GET"): Case(),
    ("api.get_plan", "GET"): Case(args={"id": "plan"}),
    ("api.list_subscriptions", "GET"): Case(query={"customer_id": "customer"}, other_merchant=400),
    ("api.get_subscription", "GET"): Case(args={"id": "active"}),
    ("api.get_portal_configuration", "GET"): Case(),
    ("api.get_portal_session", "GET"): Case(args={"id": "session"}),
    ("api.list_webhook_endpoints", "GET"): Case(),
    ("api.get_webhook_endpoint", "GET"): Case(args={"id": "endpoint"}),
    ("api.list_webhook_deliveries", "GET"): Case(args={"id": "endpoint"}),
    # The API: changes.
    ("api.update_customer_route", "POST"): Case(args={"id": "customer"}, body={"metadata": {"checked": "yes"}}),
    ("api.create_customer", "POST"): Case(body={"email": "new@example.com"}),
    ("api.create_plan", "POST"): Case(body={"name": "Extra", "amount": 100, "currency": "ghs", "interval": "month"}),
    ("api.update_plan", "POST"): Case(args={"id": "plan"}, body={"description": "Changed"}),
    ("api.attach_payment_method", "POST"): Case(args={"id": "customer"}, body={**CARD, "set_default": False}),
    ("api.detach_payment_method", "DELETE"): Case(args={"id": "customer", "pm": "wallet"}),
    ("api.create_subscription", "POST"): Case(body=lambda w: {"customer_id": w.a1.id, "plan_id": w.objects["plan"]},
                                               other_merchant=400),
    ("api.update_subscription", "POST"): Case(args={"id": "active"}, body=lambda w: {"plan_id": w.objects["plan"]}),
    ("api.cancel_subscription", "POST"): Case(args={"id": "active"}, body={"at_period_end": True}),
    ("api.resume_subscription", "POST"): Case(args={"id": "paused"}, body={}),
    ("api.pause_subscription", "POST"): Case(args={"id": "paused"}, body={}),
    ("api.create_portal_session", "POST"): Case(body=lambda w: {"customer_id": w.a1.id, "return_url": RETURN_URL},
                                                 other_merchant=400),
    ("api.revoke_portal_session", "POST"): Case(args={"id": "session"}, body={}),
    ("api.update_portal_configuration_route", "POST"): Case(body={}),
    ("api.resend_event", "POST"): Case(args={"id": "event"}, body={}),
    ("api.create_webhook_endpoint", "POST"): Case(body={"url": "http://127.0.0.1:9/new"}),
    ("api.update_webhook_endpoint", "POST"): Case(args={"id": "endpoint"}, body={"description": "Changed"}),
    ("api.rotate_webhook_endpoint_secret", "POST"): Case(args={"id": "endpoint"}, body={}),
    ("api.delete_webhook_endpoint", "DELETE"): Case(args={"id": "endpoint"}),
    # The portal: pages.
    ("portal.overview", "GET"): Case(),
    ("portal.invoices", "GET"): Case(),
    ("portal.invoice_pdf_download", "GET"): Case(args={"id": "invoice_paid"}),
    ("portal.pay_invoice", "GET"): Case(args={"id": "invoice_open"}),
    ("portal.payment_methods", "GET"): Case(),
    ("portal.payment_method", "GET"): Case(args={"id": "card"}, ok=303),  # the list, at this method
    ("portal.wallet_approval", "GET"): Case(args={"id": "wallet"}),
    ("portal.confirm_removal", "GET"): Case(args={"id": "wallet"}),
    ("portal.new_card", "GET"): Case(),
    ("portal.new_mobile_money", "GET"): Case(),
    ("portal.billing_details", "GET"): Case(),
    ("portal.change_plan", "GET"): Case(args={"id": "active"}),
    ("portal.cancel_subscription", "GET"): Case(args={"id": "active"}),
    ("portal.pause_subscription", "GET"): Case(args={"id": "active"}),
    ("portal.resubscribe", "GET"): Case(args={"id": "canceled"}),
    ("portal.expired", "GET"): Case(ok=303),  # a browser still inside goes back to the overview
    ("portal.open_link", "GET"): Case(args={"token": "token"}, ok=303),  # A1's browser is let back in
    # The portal: changes (sent empty, with a valid CSRF token: the rightful customer gets the form's answer).
    ("portal.update_billing_details", "POST"): Case(ok=422),
    ("portal.add_card", "POST"): Case(ok=422),
    ("portal.add_mobile_money", "POST"): Case(ok=422),
    ("portal.submit_payment", "POST"): Case(args={"id": "invoice_open"}, ok=422),
    ("portal.make_default", "POST"): Case(args={"id": "card"}, ok=303),
    ("portal.remove_payment_method", "POST"): Case(args={"id": "wallet"}, ok=303),
    ("portal.confirm_plan_change", "POST"): Case(args={"id": "active"}, ok=422),
    ("portal.withdraw_plan_change", "POST"): Case(args={"id": "active"}),  # nothing scheduled: the flow again
    ("portal.answer_cancel_survey", "POST"): Case(args={"id": "active"}, ok=422),
    ("portal.confirm_cancel", "POST"): Case(args={"id": "active"}, ok=303),  # the survey may be skipped
    ("portal.undo_cancel", "POST"): Case(args={"id": "active"}, ok=303),
    ("portal.confirm_pause", "POST"): Case(args={"id": "active"}, ok=422),
    ("portal.resume_subscription", "POST"): Case(args={"id": "paused"}, ok=303),
    ("portal.confirm_resubscribe", "POST"): Case(args={"id": "canceled"}, ok=422),
    # The dashboard: pages.
    ("dashboard.index", "GET"): Case(ok=303),
    ("dashboard.sign_in", "GET"): Case(ok=303),  # signed in already: on to the dashboard
    ("dashboard.customers", "GET"): Case(),
    ("dashboard.customer", "GET"): Case(args={"id": "customer"}),
    ("dashboard.developers", "GET"): Case(),
    ("dashboard.events", "GET"): Case(),
    ("dashboard.event", "GET"): Case(args={"id": "event"}),
    ("dashboard.webhook_endpoint", "GET"): Case(args={"id": "endpoint"}),
    ("dashboard.portal_settings", "GET"): Case(),
    ("dashboard.audit_log", "GET"): Case(),
    # The dashboard: changes.
    ("dashboard.sign_in", "POST"): Case(ok=422),  # no email or password
    ("dashboard.preview_portal_settings", "POST"): Case(body=_settings),
    ("dashboard.save_portal_settings", "POST"): Case(body=_settings, ok=303),
    ("dashboard.upload_logo", "POST"): Case(ok=422),
    ("dashboard.remove_logo", "POST"): Case(ok=303),
    ("dashboard.create_api_key", "POST"): Case(),
    ("dashboard.revoke_api_key", "POST"): Case(args={"id": "api_key"}, ok=303),
    ("dashboard.create_webhook_endpoint", "POST"): Case(ok=422),
    ("dashboard.reveal_webhook_secret", "POST"): Case(args={"id": "endpoint"}),
    ("dashboard.rotate_webhook_secret", "POST"): Case(args={"id": "endpoint"}, body={"overlap": "0"}),
    ("dashboard.set_webhook_status", "POST"): Case(args={"id": "endpoint"}, body={"status": "disabled"}, ok=303),
    ("dashboard.resend_event", "POST"): Case(args={"id": "event"}, ok=303),
    ("dashboard.delete_webhook_endpoint", "POST"): Case(args={"id": "endpoint"}, ok=303),
    ("dashboard.preview_customer_portal", "POST"): Case(args={"id": "customer"}, ok=303),
    ("dashboard.end_customer_preview", "POST"): Case(ok=303),
    ("dashboard.sign_out", "POST"): Case(ok=303),
}

PUBLIC = frozenset({"index", "healthz", "static", "brand.logo", "api.openapi"})
ACTORS = ("anonymous", "key_b", "key_a", "a1_live", "a2_live", "a1_expired", "preview_a1", "support_a", "owner_a",
          "owner_b")
API_KEYS = {"key_a": "rightful", "key_b": "other_merchant"}
PORTAL_SESSIONS = {"a1_live": "rightful", "a2_live": "other_customer", "a1_expired": "expired",
                   "preview_a1": "preview"}
STAFF = {"owner_a": "rightful", "support_a": "support", "preview_a1": "support", "owner_b": "other_merchant"}
# Who may see A1's name, email and invoices in an answer.
MAY_SEE_A1 = frozenset({"key_a", "a1_live", "preview_a1", "support_a", "owner_a"})


def route_methods(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def expected_status(actor: str, endpoint: str, method: str, case: Case) -> int:
    """The one status `actor` must get: the rules of each area, in one place."""
    if endpoint in PUBLIC:
        return case.ok
    names_an_object = bool(case.args)
    if endpoint.startswith("api."):
        role = API_KEYS.get(actor)
        if role is None:
            return 401
        if role == "other_merchant":
            return 404 if names_an_object else (case.other_merchant or case.ok)
        return case.ok
    if endpoint.startswith("portal."):
        role = PORTAL_SESSIONS.get(actor)
        if endpoint == "portal.open_link":  # A1's link, already redeemed by A1's browser
            return case.ok if role == "rightful" else 410
        if role == "preview" and method not in READS:
            return 403  # refused before any portal code runs
        if endpoint == "portal.expired":
            return case.ok if role in ("rightful", "other_customer") else 410
        if role is None:
            return 403
        if role == "expired":
            return 410
        if role == "other_customer" and names_an_object:
            return 404
        return case.ok
    role = STAFF.get(actor)
    if endpoint == "dashboard.sign_in":
        return case.ok if method == "POST" or role is not None else 200
    if role is None:
        return 303  # to the sign-in page
    if role == "other_merchant":
        return 404 if names_an_object else (case.other_merchant or case.ok)
    if role == "support":
        allowed = (DASHBOARD_MUTATING.get(endpoint, frozenset()) if method not in READS
                   else RESTRICTED_PAGES.get(endpoint, {"support"}))
        return case.ok if "support" in allowed else 403
    return case.ok


def build_request(world: World, endpoint: str, method: str, case: Case) -> tuple[str, dict]:
    arguments = {name: world.objects[key] for name, key in case.args.items()}
    query = {name: world.objects[key] for name, key in case.query.items()}
    path = url_for(endpoint, **arguments, **query)
    body = case.body(world) if callable(case.body) else case.body
    return path, ({"json": body} if endpoint.startswith("api.") else {"data": body})


def test_every_route_of_the_app_is_in_the_matrix(app):
    routes = route_methods(app)
    missing = routes - set(ROUTES)
    assert not missing, f"add these routes to ROUTES in {__name__} with what each caller gets: {sorted(missing)}"
    assert not set(ROUTES) - routes, f"routes that no longer exist: {sorted(set(ROUTES) - routes)}"


@pytest.mark.parametrize("actor", ACTORS)
def test_each_caller_gets_exactly_what_it_should_on_every_route(app, world, actor):
    browser = world.browsers[actor]
    private = world.private_texts if actor not in MAY_SEE_A1 else ()
    wrong = []
    for (endpoint, method), case in ROUTES.items():
        expected = expected_status(actor, endpoint, method, case)
        with app.test_request_context():
            path, body = build_request(world, endpoint, method, case)
        refused = expected in (400, 401, 403, 404, 410) or (expected == 303 and endpoint.startswith("dashboard.")
                                                              and STAFF.get(actor) is None)
        before = table_snapshot() if refused and method not in READS else None
        response = browser.open(method, path, **body)
        db.session.remove()
        text = response.get_data().decode("utf-8", "replace")
        response.close()
        if response.status_code != expected:
            wrong.append(f"{method} {path}: {response.status_code}, expected {expected}")
            continue
        if before is not None and table_snapshot() != before:
            wrong.append(f"{method} {path}: refused with {expected} but wrote to the database")
        leaked = [secret for secret in private if secret in text]
        if leaked:
            wrong.append(f"{method} {path}: shows {leaked} to {actor}")
        if expected == 303 and endpoint.startswith("dashboard.") and STAFF.get(actor) is None:
            if not response.headers["Location"].startswith("/dashboard/sign-in"):
                wrong.append(f"{method} {path}: redirected to {response.headers['Location']}, not to sign-in")
        if actor == "preview_a1" and endpoint.startswith("portal.") and method not in READS:
            if "A preview is read-only" not in text:
                wrong.append(f"{method} {path}: refused, but not by the preview's read-only guard")
        if expected == 401:
            assert response.get_json()["error"]["code"] == "api_key_missing", path
        if expected in (400, 404) and endpoint.startswith("api."):  # A's ids, in the path or the body/query
            assert response.get_json()["error"]["code"] == "resource_missing", path
    assert not wrong, f"{actor}:\n" + "\n".join(wrong)
