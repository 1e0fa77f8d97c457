"""Dashboard fixtures: staff of each role for the `merchant` fixture, and their browsers (test clients that sign in
and send the CSRF token a page gave them, as a browser would)."""
import re

import pytest
from flask import g
from sqlalchemy import func
from werkzeug.datastructures import MultiDict

from tests.factories import make_customer
from tests.query_counting import counting_queries
from xtoportal import clock
from xtoportal.dashboard import forms
from xtoportal.dashboard.auth import SESSION_KEY, staff_fingerprint
from xtoportal.extensions import db
from xtoportal.merchants import create_staff
from xtoportal.models import StaffUser

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffBrowser:
    """A staff member's browser: its own cookie jar; `post` adds the CSRF token the dashboard's pages carry."""

    def __init__(self, client, staff: StaffUser | None):
        self.client, self.staff = client, staff
        self._token = None

    def csrf_token(self) -> str:
        if self._token is None:
            page = self.client.get("/dashboard/customers" if self.staff else "/dashboard/sign-in")
            self._token = _TOKEN.search(page.get_data(as_text=True)).group(1)
        return self._token

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, htmx=False, csrf=True, headers=None, **kwargs):
        headers = {**({"HX-Request": "true"} if htmx else {}), **(headers or {})}
        if isinstance(data, bytes):  # a body encoded by the caller
            return self.client.post(path, data=data, headers=headers, **kwargs)
        data = dict(data or {}) if not hasattr(data, "getlist") else data
        if csrf:
            data["csrf_token"] = self.csrf_token()
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def text(self, path) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)


def sign_in_directly(client, staff: StaffUser) -> None:
    """Put a signed-in session in `client`'s cookie, as a successful sign-in would (the form is tested elsewhere)."""
    with client.session_transaction() as session:
        session[SESSION_KEY] = {"id": staff.id, "since": clock.now(), "check": staff_fingerprint(staff)}


@pytest.fixture(autouse=True)
def fresh_csrf_token_per_request(app):
    """Tests share one app context, so `g` (where Flask-WTF caches the token it rendered) outlives a request;
    a server starts every request with a fresh `g`, and so do these tests' browsers."""
    @app.before_request
    def forget_rendered_csrf_token():
        g.pop("csrf_token", None)


@pytest.fixture
def acme(merchant):
    return merchant[0]


@pytest.fixture
def owner(acme):
    return db.session.scalars(db.select(StaffUser).filter_by(merchant_id=acme.id, role="owner")).one()


@pytest.fixture
def make_staff(acme):
    counter = iter(range(1, 1000))

    def make(role: str, merchant=None) -> StaffUser:
        staff = create_staff((merchant or acme).id, f"{role}{next(counter)}@staff.test", PASSWORD, role)
        db.session.commit()
        return staff
    return make


@pytest.fixture
def staff_browser(app, owner, make_staff):
    """staff_browser(role or StaffUser) -> a signed-in StaffBrowser."""
    def open_browser(who="owner") -> StaffBrowser:
        staff = who if isinstance(who, StaffUser) else (owner if who == "owner" else make_staff(who))
        client = app.test_client()
        sign_in_directly(client, staff)
        return StaffBrowser(client, staff)
    return open_browser


@pytest.fixture
def as_owner(staff_browser):
    return staff_browser("owner")


@pytest.fixture
def customer(acme):
    return make_customer(acme, name="Ama Mensah", email="ama@example.com")


@pytest.fixture
def https_public_url(app):
    """The portal loads logos from https:// only: serve from an https PUBLIC_URL as production does."""
    app.config["PUBLIC_URL"] = "https://portal.test"


def row_counts() -> dict:
    """The number of rows in every table: a snapshot to show that nothing was written."""
    return {table.name: db.session.scalar(db.select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


@pytest.fixture
def count_queries(app):
    """count_queries() -> a context manager whose value's `.count` is the SQL statements run inside it."""
    return counting_queries


def settings_form(document: dict, **changes) -> MultiDict:
    """The settings form as the page would post it for `document`, with `changes` (field name → value) applied:
    a bool ticks or unticks a checkbox, a list ticks those choices, a string is typed."""
    values = {**forms.settings_values(document), **{name.replace("__", "."): v for name, v in changes.items()}}
    data = MultiDict()
    for name in forms.TEXT_FIELDS + forms.CHOICE_FIELDS + (forms.HOSTS_FIELD,):
        data.add(name, values[name])
    for name in forms.TOGGLE_FIELDS:
        if values[name]:
            data.add(name, "on")
    for name in (*forms.LIST_FIELDS, forms.PLANS_FIELD):
        for value in values[name]:
            data.add(name, value)
    return data
