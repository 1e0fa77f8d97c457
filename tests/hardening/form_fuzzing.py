"""The harness for fuzzing the portal's and the dashboard's HTML forms with Hypothesis.

A form is described once (`FormSpec`: its URL, its fields with a valid value each, which fields are secrets and which
must be shown back on a 422); `form_bodies` draws request bodies from that description — each field valid, missing,
duplicated, replaced by hostile text (NUL, RTL overrides, emoji, 100k characters, lone surrogates and invalid UTF-8
as raw bytes), or sent as a file where text is expected — and `check_answer` holds every answer to the same rules:

- never a 5xx;
- a refusal (4xx) writes nothing: every table's rows are the same before and after;
- a 422 names the problem beside a field (`aria-invalid="true"` and its message), shows back what was typed in the
  fields that keep it, and never a secret (card number, CVC, password).
"""
import html
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode, urlsplit

import pytest
from flask import g
from hypothesis import settings, strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from tests.factories import make_card, make_customer, make_plan
from tests.portal.factories import make_subscription
from xtoportal.extensions import db
from xtoportal.models import Invoice, StaffUser, Subscription

HUGE = "x" * 100_000
# Text that has broken form handling somewhere: NUL and other controls, bidi overrides, combining marks, emoji,
# digits that are not ASCII ("²".isdigit() is True, int("²") is not), markup, SQL, format strings, numbers and dates
# at the edges.
NASTY_STRINGS = [
    "", " ", "\t\n", "\x00", "a\x00b", "\x1b[31m", "\u202egnp.exe", "\u200f\u05e9\u05dc\u05d5\u05dd",
    "\u0627\u0644\u0633\u0644\u0627\u0645", "👩‍👩‍👧‍👦", "🇬🇭", "e\u0301" * 50, "\ufeff", "\u2028", "\uffff", "²", "١٢٣", "１２",
    "<script>alert(1)</script>", "\"'><img src=x onerror=alert(1)>", "' OR 1=1 --", "%s%n{0}{{7*7}}",
    "../../etc/passwd", "null", "None", "true", "[]", "{}", "-1", "0", "-0", "1e309", "NaN", "-inf",
    "99999999999999999999999999999", "-9223372036854775809",
    "0x10", "1_000", "2024-02-30", "0000-01-01", "9999-12-31", "2024-13-01", "20240101", "+002024-01-01", "2024-W01-1",
    "1970-01-01T00:00:00", "12/99", "00/00", "13/30", "1/2100000000", HUGE, "é" * 5000, "\U0001f600" * 2000,
]
# Raw bytes a browser (or anything else) may send: invalid UTF-8, encoded lone surrogates, overlong encodings.
NASTY_BYTES = [b"\xff", b"\xfe\xff", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xe2\x82", b"a\x00b",
               b"\x80" * 300]

MISSING, VALID, NASTY, DUPLICATE, FILE = "missing", "valid", "nasty", "duplicate", "file"


def fewer_when_quick(base: settings, examples: int) -> settings:
    """`base` with at most `examples` examples in the quick profile (a form that costs an argon2 check per try),
    unchanged under `make fuzz`."""
    return settings(base, max_examples=examples) if base.max_examples < 100 else base


def nasty_text() -> st.SearchStrategy[str]:
    """Hostile text: a known troublemaker, or anything Hypothesis makes (any code point but surrogates)."""
    return st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=60),
                     st.text(st.characters(codec="utf-8"), min_size=1, max_size=300))


def nasty_value() -> st.SearchStrategy[str | bytes]:
    return st.one_of(nasty_text(), nasty_text(), st.sampled_from(NASTY_BYTES),
                     st.binary(max_size=40))


@dataclass
class FormSpec:
    """One form: where it posts, its fields with a valid value each (a list for several values, e.g. checkboxes),
    which fields are never shown back (secrets), which are shown back as typed on a 422 (`echoed`, as typed
    or stripped), and extra values a field may take that are not hostile but interesting (`choices`)."""

    name: str
    fields: dict
    secrets: frozenset = frozenset()
    echoed: frozenset = frozenset()
    choices: dict = field(default_factory=dict)
    message_on_422: bool = True  # a 422 marks at least one field aria-invalid
    alert_ok: bool = False  # …or says above the form what is wrong with the whole of it (a declined card)


@dataclass
class Body:
    """A drawn request body: (name, value) pairs in order, a value being text or raw bytes, and how it is sent."""

    pairs: list
    files: dict
    htmx: bool
    json: object = None  # a JSON body sent instead (wrong types: numbers, lists, objects where text is expected)

    def values(self, name: str) -> list:
        """The values sent for `name` (none when the body went as JSON: the pairs were not sent)."""
        return [value for key, value in self.pairs if key == name] if self.json is None else []

    def typed(self, name: str) -> str | None:
        """The one text value sent for `name` (None when it was missing, sent twice, or sent as raw bytes)."""
        values = self.values(name)
        return values[0] if len(values) == 1 and isinstance(values[0], str) else None

    def first(self, name: str) -> str | None:
        """The first value sent for `name`, as the server reads it (raw bytes through Werkzeug's own parser)."""
        values = self.values(name)
        return server_reads(values[0], multipart=bool(self.files)) if values else None


def server_reads(value: str | bytes, multipart: bool = False) -> str:
    """A form value as Werkzeug decodes it (how it treats invalid UTF-8 is its business: a urlencoded body keeps
    an invalid %-sequence as it is, a multipart one replaces the bytes with U+FFFD)."""
    if isinstance(value, str):
        return value
    if multipart:
        return value.decode("utf-8", "replace")
    environ = EnvironBuilder(method="POST", data=urlencode([("v", value)]),
                             content_type="application/x-www-form-urlencoded").get_environ()
    return Request(environ).form["v"]


@st.composite
def form_bodies(draw, spec: FormSpec) -> Body:
    """A body for `spec`: each field valid, missing, hostile, duplicated, or a file; sometimes an unknown field."""
    pairs, files = [], {}
    for name, valid in spec.fields.items():
        valid_values = valid if isinstance(valid, list) else [valid]
        extra = spec.choices.get(name, [])
        mode = draw(st.sampled_from([VALID, VALID, MISSING, NASTY, NASTY, DUPLICATE, FILE]))
        if mode == VALID:
            chosen = draw(st.sampled_from([valid_values, *extra])) if extra else valid_values
            pairs.extend((name, value) for value in chosen)
        elif mode == NASTY:
            pairs.append((name, draw(nasty_value())))
        elif mode == DUPLICATE:
            twice = [valid_values[0] if valid_values else "", draw(nasty_value())]
            if draw(st.booleans()):
                twice.reverse()
            pairs.extend((name, value) for value in twice)
        elif mode == FILE:
            files[name] = draw(st.binary(max_size=64))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(st.sampled_from(["unknown", "id", "merchant_id", "customer_id", "amount", "__proto__"])),
                      draw(nasty_value())))
    body = Body(pairs, files, draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:
        wrong = st.one_of(st.integers(-2**70, 2**70), st.floats(), st.booleans(), st.none(),
                          st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                              max_size=2), nasty_text())
        body.json = draw(st.one_of(
            st.fixed_dictionaries({name: wrong for name in spec.fields}), st.lists(wrong, max_size=3), wrong))
    return body


def encoded(body: Body, csrf_token: str | None) -> tuple[bytes, str]:
    """The body as a browser would send it: urlencoded (raw bytes kept as they are), or multipart with files."""
    pairs = list(body.pairs)
    if csrf_token is not None:
        pairs.append(("csrf_token", csrf_token))
    if not body.files:
        return urlencode(pairs).encode("ascii"), "application/x-www-form-urlencoded"
    boundary = "----xtoportalfuzz7MA4YWxkTrZu0gW"
    parts = []
    for name, value in pairs:
        data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n")
    for name, data in body.files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f.bin"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def send(client, path: str, body: Body, csrf_token: str | None, method: str = "POST"):
    """Send `body` to `path` (POST as a form, or GET with the pairs as the query string)."""
    headers = {"HX-Request": "true"} if body.htmx else {}
    if body.json is not None and method == "POST":
        return client.post(path, json=body.json, headers={**headers, "X-CSRFToken": csrf_token or ""})
    if method == "GET":
        return client.get(path + "?" + urlencode(body.pairs), headers=headers)
    data, content_type = encoded(body, csrf_token)
    return client.post(path, data=data, content_type=content_type, headers=headers)


_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token_of(client, page_path: str) -> str:
    """The CSRF token a page gives this browser (every portal and dashboard page carries one for htmx); it lasts as
    long as the browser's session, so it is asked for once."""
    if getattr(client, "csrf_token", None):
        return client.csrf_token
    page = client.get(page_path).get_data(as_text=True)
    match = _TOKEN.search(page)
    assert match, f"no CSRF token on {page_path}"
    client.csrf_token = match.group(1) or match.group(2)
    return client.csrf_token


def snapshot() -> dict:
    """Every row of every table, as text: two equal snapshots mean nothing at all was written in between."""
    db.session.rollback()
    rows = {}
    for table in db.metadata.sorted_tables:
        rows[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(db.select(table)))
    db.session.rollback()
    return rows


def changed_tables(before: dict, after: dict) -> dict:
    return {name: (set(after[name]) - set(before[name]), set(before[name]) - set(after[name]))
            for name in before if before[name] != after[name]}


def page_of(response) -> str:
    return response.get_data(as_text=True)


def shown_value(page: str, name: str) -> str | None:
    """The value the page's <input name=…> or <textarea name=…> holds, unescaped; None without such a control."""
    for tag in re.finditer(r"<input\b[^>]*>", page):
        if re.search(rf'\bname="{re.escape(name)}"', tag.group(0)):
            value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
            return html.unescape(value.group(1)) if value else ""
    area = re.search(rf'<textarea\b[^>]*\bname="{re.escape(name)}"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(area.group(1)).removeprefix("\n") if area else None


def check_answer(spec: FormSpec, body: Body, response, before: dict, after: dict,
                 accepted: Callable | None = None) -> None:
    """The rules every answer to a fuzzed form follows (see the module's docstring); `accepted(body, response)`
    checks what an accepted request stored."""
    status = response.status_code
    assert status < 500, f"{spec.name}: {status} for {body.pairs!r} files={list(body.files)}"
    page = page_of(response)
    for name in spec.secrets:
        for value in body.values(name):
            if isinstance(value, str) and len(value.strip()) >= 3:
                assert shown_value(page, name) in (None, ""), f"{spec.name}: secret {name} shown back"
    if status >= 400:
        changed = changed_tables(before, after)
        assert not changed, f"{spec.name}: refused with {status} but wrote {changed} for {body.pairs!r}"
    if status == 422:
        if spec.message_on_422:
            marked = 'aria-invalid="true"' in page or (spec.alert_ok and 'role="alert"' in page)
            assert marked, f"{spec.name}: 422 without a field marked invalid: {body.pairs!r}"
        for name in spec.echoed:
            typed = body.typed(name)
            shown = shown_value(page, name)
            if typed is not None and shown is not None and "\x00" not in typed:
                assert shown in (typed, typed.strip()), f"{spec.name}: {name} typed {typed[:80]!r} shown {shown[:80]!r}"
    elif status < 400 and accepted is not None:
        accepted(body, response)


# --- fixtures (imported by the test modules; tests/hardening/conftest.py belongs to the API fuzzing) --------------

@pytest.fixture(autouse=True)
def fresh_csrf_token_per_request(app):
    """Tests share one app context, so `g` (where Flask-WTF caches the token it rendered) outlives a request; a
    server starts every request with a fresh `g`, and so do these tests' browsers."""
    @app.before_request
    def forget_rendered_csrf_token():
        g.pop("csrf_token", None)


class Portal:
    """A customer's browser inside a live portal session, with plans, a card, a subscription and an open invoice."""

    def __init__(self, app, api, merchant):
        self.merchant = merchant
        self.customer = make_customer(merchant, name="Ama Mensah", email="ama@example.com")
        self.other = make_customer(merchant, name="Kofi Boateng", email="kofi@example.com")
        self.basic = make_plan(merchant, 5000, name="Basic")
        self.pro = make_plan(merchant, 10000, name="Pro")
        self.lite = make_plan(merchant, 2000, name="Lite")
        self.declining = make_card(self.customer, number="4000000000000341")
        created = api.post("/v1/subscriptions", json={"customer_id": self.customer.id, "plan_id": self.pro.id})
        assert created.status_code == 200, created.get_json()
        self.invoice = db.session.scalars(
            db.select(Invoice).filter_by(subscription_id=created.get_json()["id"])).one()
        self.card = make_card(self.customer)
        self.others_card = make_card(self.other)
        self.others_subscription = make_subscription(self.other, self.basic)
        session = api.post("/v1/customer_portal/sessions", json={
            "customer_id": self.customer.id, "return_url": "https://acme.example/account"}).get_json()
        self.browser = app.test_client()
        assert self.browser.get(urlsplit(session["url"]).path).status_code == 303

    def subscription(self, status="active", **fields) -> Subscription:
        return make_subscription(self.customer, self.basic, status=status, **fields)


@pytest.fixture
def portal(app, api, merchant):
    return Portal(app, api, merchant[0])


@pytest.fixture
def owner_browser(app, merchant):
    """A test client signed in to the dashboard as the merchant's owner."""
    from tests.dashboard.conftest import sign_in_directly
    owner = db.session.scalars(db.select(StaffUser).filter_by(merchant_id=merchant[0].id, role="owner")).one()
    client = app.test_client()
    sign_in_directly(client, owner)
    return client
