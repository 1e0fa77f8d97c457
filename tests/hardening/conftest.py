"""The hardening world: two merchants with their keys, staff, customers, subscriptions, invoices, payment methods and
portal sessions, and one browser per actor — what the access matrix, the header check and the query budgets walk
every route of the app with."""
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from flask import g

from tests.conftest import ApiClient
from tests.dashboard.conftest import sign_in_directly
from tests.dashboard.test_roles import png_bytes
from tests.factories import make_card, make_customer, make_plan, make_wallet
from tests.portal.test_invoices import make_invoice
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.dashboard.logos import reencode_logo, store_logo
from xtoportal.events import Origin, emit, queue_deliveries
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant, create_staff
from xtoportal.models import ApiKey, AuditEntry, Customer, Merchant, MerchantLogo, StaffUser
from xtoportal.webhooks import create_endpoint

PASSWORD = "correct horse battery"
RETURN_URL = "https://acme.example/account"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
# Every feature on, so a route answers for who is asking, never because the merchant turned its feature off.
ALL_FEATURES = {"features": {
    "invoice_history": {"enabled": True},
    "payment_method_update": {"enabled": True, "types": ["card", "mobile_money"]},
    "customer_update": {"enabled": True, "allowed_updates": ["email", "name", "phone", "address"]},
    "subscription_update": {"enabled": True},
    "subscription_cancel": {"enabled": True, "survey": {"enabled": True}, "pause_before_cancel": {"enabled": True}},
    "subscription_pause": {"enabled": True},
}}


class Browser:
    """One actor's browser: its own cookie jar, an optional API key, and a CSRF token for its own Flask session."""

    def __init__(self, app, secret: str | None = None, base_url: str = "http://localhost"):
        self.client = app.test_client()
        self.secret, self.base_url = secret, base_url
        self._token = None

    def _headers(self, headers=None) -> dict:
        auth = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**auth, **(headers or {})}

    def csrf_token(self) -> str:
        """A valid token for this browser's session, taken from a page that shows a form to anyone."""
        if self._token is None:
            for path in ("/dashboard/sign-in", "/dashboard/customers"):
                match = _TOKEN.search(self.client.get(path, base_url=self.base_url).get_data(as_text=True))
                if match:
                    self._token = match.group(1)
                    break
        return self._token

    def open(self, method: str, path: str, data=None, json=None, headers=None):
        headers = self._headers(headers)
        if path.startswith("/v1/"):
            return self.client.open(path, method=method, json=json, headers=headers, base_url=self.base_url)
        if method in ("GET", "HEAD"):
            return self.client.open(path, method=method, headers=headers, base_url=self.base_url)
        form = {"csrf_token": self.csrf_token(), **(data or {})}
        headers.setdefault("Referer", f"{self.base_url}/")  # as a browser sends it: flask-wtf checks it under https
        return self.client.open(path, method=method, data=form, headers=headers, base_url=self.base_url)

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)


@dataclass
class World:
    """Everything the hardening tests name: merchant A's and B's rows, and one browser per actor."""

    a: Merchant
    a_key: str
    b: Merchant
    b_key: str
    owner_a: StaffUser
    support_a: StaffUser
    owner_b: StaffUser
    a1: Customer
    a2: Customer
    b1: Customer
    subscriptions: dict  # status -> the id of A1's first subscription in it
    objects: dict  # URL argument values: ids of A1's and A's objects
    sessions: dict  # "a1_live", "a2_live", "a1_expired" -> session id
    browsers: dict = field(default_factory=dict)
    private_texts: tuple = ()  # what only A1 or merchant A may see


def _api(app, secret: str) -> ApiClient:
    return ApiClient(app.test_client(), secret)


def _portal_link(api: ApiClient, customer: Customer) -> dict:
    response = api.post("/v1/customer_portal/sessions", json={"customer_id": customer.id, "return_url": RETURN_URL})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _enter(app, session: dict, base_url: str = "http://localhost") -> Browser:
    browser = Browser(app, base_url=base_url)
    response = browser.get(urlsplit(session["url"]).path)
    assert response.status_code == 303, response.status_code
    return browser


def _staff_browser(app, staff: StaffUser, base_url: str = "http://localhost") -> Browser:
    browser = Browser(app, base_url=base_url)
    sign_in_directly(browser.client, staff)
    return browser


def fill_customer(customer: Customer, plans, scale: int = 1) -> dict:
    """Give `customer` 3·scale subscriptions (active, paused, canceled), 8·scale invoices (open and paid) and a card
    and a wallet per scale unit; returns A1-style URL objects: the first subscription of each status, an invoice
    of each kind, the card and the wallet."""
    now = clock.now()
    found = {}
    cards, wallets = [], []
    for unit in range(scale):
        cards.append(make_card(customer, default=unit == 0))
        wallets.append(make_wallet(customer, phone=f"+23324{unit:07d}", default=False))
        for status in ("active", "paused", "canceled"):
            subscription = billing.create_subscription(customer, plans[0], Origin("api"), now)
            if status == "paused":
                billing.pause(subscription, None, Origin("api"), now)
            elif status == "canceled":
                billing.cancel(subscription, False, Origin("api"), now)
            db.session.commit()
            found.setdefault(status, subscription)
        for number in range(8):
            invoice = make_invoice(customer, amount=2000 + number, status="open" if number % 4 == 0 else "paid",
                                   created=now - (number + 1) * 86400, subscription=found["active"])
            found.setdefault(f"invoice_{invoice.status}", invoice)
    found["card"], found["wallet"] = cards[0], wallets[0]
    return found


@pytest.fixture
def world_factory(app):
    """world_factory(scale=1) -> a World; `scale` multiplies A1's subscriptions, invoices, payment methods, A's
    customers and events (the query budgets compare scale 1 with scale 5)."""
    def start_with_a_fresh_g():
        # Tests share one app context, so `g` outlives a request; a server starts every request with a fresh `g`.
        g.__dict__.clear()

    app.before_request_funcs.setdefault(None, []).insert(0, start_with_a_fresh_g)
    app.config["SIGN_IN_LIMIT_PER_ADDRESS"] = "10000 per minute"
    app.config["SIGN_IN_LIMIT_PER_ACCOUNT"] = "10000 per minute"

    worlds = iter(range(100))

    def build(scale: int = 1, https: bool = False) -> World:
        """`https`: served as production is, from an https PUBLIC_URL to browsers on https (Secure cookies)."""
        base_url = "https://localhost" if https else "http://localhost"
        world_number = next(worlds)
        domain = lambda name: f"{name}{world_number or ''}.test"  # noqa: E731  (two worlds may share a database)
        if https:
            app.config.update(PUBLIC_URL="https://portal.test", SESSION_COOKIE_SECURE=True)
        a, a_key = create_merchant("Acme", f"owner@{domain('acme')}", PASSWORD)
        b, b_key = create_merchant("Globex", f"owner@{domain('globex')}", PASSWORD)
        db.session.commit()
        owner_a = db.session.scalars(db.select(StaffUser).filter_by(merchant_id=a.id, role="owner")).one()
        owner_b = db.session.scalars(db.select(StaffUser).filter_by(merchant_id=b.id, role="owner")).one()
        support_a = create_staff(a.id, f"support@{domain('acme')}", PASSWORD, "support")
        db.session.commit()
        api_a = _api(app, a_key)
        assert api_a.post("/v1/customer_portal/configuration", json=ALL_FEATURES).status_code == 200

        plans = [make_plan(a, name="Starter", amount=5000), make_plan(a, name="Acme Secret Plan", amount=15000)]
        a1 = make_customer(a, name="Ama Mensah", email="ama@acme-customer.test", phone="+233244123456",
                           address={"line1": "14 Oxford Street", "city": "Accra", "country": "GH"})
        objects = fill_customer(a1, plans, scale)
        a2 = make_customer(a, name="Kofi Boateng", email="kofi@acme-customer.test")
        for number in range(scale * 5):
            make_customer(a, name=f"Acme Customer {number}", email=f"c{number}@acme-customer.test")
        b1 = make_customer(b, name="Bea Globex", email="bea@globex-customer.test")
        make_card(b1)
        billing.create_subscription(b1, make_plan(b, name="Globex Plan"), Origin("api"), clock.now())

        endpoint = create_endpoint(a.id, "http://127.0.0.1:9/hook", ["*"], None)
        extra_key, _ = ApiKey.issue(a.id)
        db.session.add(extra_key)
        store_logo(a.id, reencode_logo(png_bytes()))
        db.session.commit()
        for number in range(scale * 10):  # events with their deliveries, and the audit log
            event = emit(a.id, "customer.updated", a1.to_api(), Origin("api"))
            queue_deliveries(event)
            db.session.add(AuditEntry(merchant_id=a.id, staff_user_id=(owner_a, support_a)[number % 2].id,
                                      action="customer.portal_previewed", target_id=a1.id, details={}))
        db.session.commit()
        logo = db.session.get(MerchantLogo, a.id)

        live_a1, live_a2 = _portal_link(api_a, a1), _portal_link(api_a, a2)
        with clock.frozen(clock.now() - 2 * 3600):
            expired_a1 = _portal_link(api_a, a1)
            expired_browser = _enter(app, expired_a1, base_url)
        objects.update(
            customer=a1.id, plan=plans[1].id, event=event.id, endpoint=endpoint.id, api_key=extra_key.id,
            session=live_a1["id"], token=urlsplit(live_a1["url"]).path.rsplit("/", 1)[1],
            logo_merchant=a.id, logo_digest=logo.digest[:16], static_file="css/portal.css")
        world = World(
            a=a, a_key=a_key, b=b, b_key=b_key, owner_a=owner_a, support_a=support_a, owner_b=owner_b,
            a1=a1, a2=a2, b1=b1, subscriptions={k: objects[k] for k in ("active", "paused", "canceled")},
            objects=objects, sessions={"a1_live": live_a1["id"], "a2_live": live_a2["id"],
                                       "a1_expired": expired_a1["id"]},
            private_texts=(a1.name, a1.email, objects["invoice_paid"].number, plans[1].name),
        )
        preview = _staff_browser(app, support_a, base_url)
        response = preview.open("POST", f"/dashboard/customers/{a1.id}/preview")
        assert response.status_code == 303 and response.headers["Location"] == "/portal/", response.status_code
        world.browsers = {
            "anonymous": Browser(app, base_url=base_url),
            "key_b": Browser(app, secret=b_key, base_url=base_url),
            "key_a": Browser(app, secret=a_key, base_url=base_url),
            "a1_live": _enter(app, live_a1, base_url),
            "a2_live": _enter(app, live_a2, base_url),
            "a1_expired": expired_browser,
            "preview_a1": preview,
            "support_a": _staff_browser(app, support_a, base_url),
            "owner_a": _staff_browser(app, owner_a, base_url),
            "owner_b": _staff_browser(app, owner_b, base_url),
        }
        # Plain values from here on: the tests run requests on fresh database sessions.
        world.objects = {name: getattr(value, "id", value) for name, value in objects.items()}
        world.subscriptions = {name: world.objects[name] for name in world.subscriptions}
        for row in (a, b, owner_a, support_a, owner_b, a1, a2, b1):
            db.session.refresh(row)
            db.session.expunge(row)
        db.session.remove()
        return world

    return build


@pytest.fixture
def world(world_factory) -> World:
    return world_factory()


def table_snapshot(ignore: frozenset = frozenset({("api_keys", "last_used_at")})) -> dict:
    """Every row of every table (minus bookkeeping columns a read may touch): proof that nothing was written."""
    db.session.expire_all()
    snapshot = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if (table.name, c.name) not in ignore]
        rows = db.session.execute(db.select(*columns)).all()
        snapshot[table.name] = sorted(map(repr, rows))
    db.session.rollback()
    return snapshot
