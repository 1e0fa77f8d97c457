"""Every dashboard form under hostile input: never a 5xx, a message beside the field on a 422 with what was typed kept
(never a password), nothing written by a refusal, and exactly the normalized input stored on success."""
import io

import pytest
from hypothesis import given, strategies as st
from PIL import Image

from tests.dashboard.conftest import settings_form
from tests.factories import make_customer, make_plan
from tests.fuzzing import form_fuzz_settings as fuzz_settings
from xtoportal.dashboard import forms
from xtoportal.events import EVENT_TYPES, Origin, emit
from xtoportal.extensions import db
from xtoportal.merchants import create_staff
from xtoportal.models import ApiKey, PortalConfiguration, StaffUser, WebhookEndpoint
from xtoportal.webhooks import create_endpoint

from .form_fuzzing import (
    NASTY_BYTES, NASTY_STRINGS, Body, FormSpec, check_answer, csrf_token_of, fewer_when_quick, form_bodies, nasty_text,
    send, shown_value, snapshot,
)
from .form_fuzzing import fresh_csrf_token_per_request, owner_browser  # noqa: F401  (fixtures)
from .test_fuzz_portal_forms import expected_text, hostile_ids

pytestmark = pytest.mark.fuzz
PASSWORD = "correct horse battery"


@pytest.fixture
def acme(merchant):
    return merchant[0]


def fuzz_form(client, path: str, spec: FormSpec, body: Body, accepted=None, page="/dashboard/developers"):
    token = csrf_token_of(client, page)
    before = snapshot()
    response = send(client, path, body, token)
    check_answer(spec, body, response, before, snapshot(), accepted)
    return response


# --- signing in ---------------------------------------------------------------------------------------------

SIGN_IN = FormSpec("sign in",
                   fields={"email": "support@acme.test", "password": PASSWORD, "next": "/dashboard/customers"},
                   secrets=frozenset({"password"}),
                   choices={"email": [["SUPPORT@ACME.TEST "]], "password": [["wrong"]],
                            "next": [["https://evil.example/"], ["//evil.example"], ["/dashboard/\\evil"]]})


@pytest.fixture
def many_sign_ins(app):
    """Failed sign-ins are rate limited (10 a minute): the fuzzer needs the form itself to answer."""
    app.config.update(SIGN_IN_LIMIT_PER_ADDRESS="100000 per minute", SIGN_IN_LIMIT_PER_ACCOUNT="100000 per hour")


@fewer_when_quick(fuzz_settings, 12)
@given(body=form_bodies(SIGN_IN))
def test_sign_in_form_under_fuzzing(app, acme, many_sign_ins, body):
    if not db.session.scalar(db.select(db.func.count()).select_from(StaffUser).filter_by(email="support@acme.test")):
        create_staff(acme.id, "support@acme.test", PASSWORD, "support")
        db.session.commit()
    client = app.test_client()
    response = fuzz_form(client, "/dashboard/sign-in", SIGN_IN, body, page="/dashboard/sign-in")
    if response.status_code == 303:
        assert body.first("email").strip().lower() == "support@acme.test" and body.first("password") == PASSWORD
        assert response.headers["Location"].startswith("/dashboard/")
    elif response.status_code == 422:
        page = response.get_data(as_text=True)
        assert "That email and password do not match" in page
        typed = body.typed("email")
        if typed is not None and "\x00" not in typed:
            assert shown_value(page, "email") == typed.strip().lower()


# --- portal settings ----------------------------------------------------------------------------------------

def settings_spec(acme) -> FormSpec:
    config = db.session.get(PortalConfiguration, acme.id)
    posted = settings_form(config.document)
    plans = [make_plan(acme, 1000, name="Lite").id, make_plan(acme, 9000, name="Max").id]
    fields = {name: posted.getlist(name) for name in posted}
    for name in forms.TOGGLE_FIELDS:
        fields.setdefault(name, [])
    fields[forms.PLANS_FIELD] = plans
    fields.update({forms.PLAN_POSITION_PREFIX + plan_id: str(index) for index, plan_id in enumerate(plans, 1)})
    fields["allowed_return_hosts"] = "acme.example\nshop.acme.example"
    return FormSpec(
        "portal settings", fields=fields,
        echoed=frozenset(forms.TEXT_FIELDS),
        choices={
            "branding.primary_color": [["#FFFFFF"], ["red"], ["#12345"], ["#1a56dbff"]],
            "business_profile.support_email": [["help@acme.example"], ["not-an-email"]],
            "business_profile.privacy_policy_url": [["https://acme.example/privacy"], ["javascript:alert(1)"]],
            "default_return_url": [["https://acme.example/account"], ["https://evil.example/"], ["/relative"]],
            "features.subscription_update.plans": [[plans[1], plans[0]], ["plan_missing"], []],
            "features.subscription_update.proration_behavior": [["none"], ["always_invoice"], ["bogus"]],
            "features.subscription_cancel.mode": [["immediately"], ["never"]],
            "features.payment_method_update.types": [["card"], ["bitcoin"], []],
            "features.subscription_cancel.survey.options": [["other"], ["made_up"]],
            **{name: [["on"]] for name in forms.TOGGLE_FIELDS},
            **{forms.PLAN_POSITION_PREFIX + plan_id: [["²"], ["-1"], ["99999999"], ["١"]] for plan_id in plans},
        },
    )


def check_settings_stored(acme, body: Body) -> None:
    db.session.expire_all()
    document = db.session.get(PortalConfiguration, acme.id).document
    for name in forms.TEXT_FIELDS:
        value = body.first(name)
        if value is None or body.json is not None:
            continue
        stored = forms._get_path(document, name)
        expected = value.strip() if name in forms.COLOUR_FIELDS else expected_text(value)
        assert (stored or "").lower() == (expected or "").lower(), name


def test_portal_settings_form_under_fuzzing(owner_browser, acme):
    spec = settings_spec(acme)

    @fuzz_settings
    @given(body=form_bodies(spec))
    def run(body):
        fuzz_form(owner_browser, "/dashboard/settings/portal", spec, body,
                  lambda body, response: check_settings_stored(acme, body))
    run()


def test_portal_settings_preview_under_fuzzing(owner_browser, acme):
    spec = settings_spec(acme)
    spec.fields["preview_locale"] = "fr"
    spec.choices["preview_locale"] = [["xx"], ["en"]]
    spec.message_on_422 = False

    @fuzz_settings
    @given(body=form_bodies(spec))
    def run(body):
        before = snapshot()
        response = fuzz_form(owner_browser, "/dashboard/settings/portal/preview", spec, body)
        assert response.status_code in (200, 400), response.status_code
        assert snapshot() == before
    run()


# --- logo -----------------------------------------------------------------------------------------------------

def png(width=40, height=20) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (width, height), "#b45309").save(output, "PNG")
    return output.getvalue()


FILE_NAMES = st.one_of(st.sampled_from(["logo.png", "x" * 10_000 + ".png", "../../etc/passwd", "logo.svg",
                                        "\u202egnp.exe", "🖼️.png", "a\"b.png", "", "con.png"]), nasty_text())


@fuzz_settings
@given(content=st.one_of(st.binary(max_size=2000), st.sampled_from([png(), png()[:50], png() + b"<script>",
                                                                      b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                                                      *NASTY_BYTES])),
       name=FILE_NAMES, field=st.sampled_from(["logo", "logo", "file"]), twice=st.booleans())
def test_logo_upload_under_fuzzing(owner_browser, acme, content, name, field, twice):
    token = csrf_token_of(owner_browser, "/dashboard/developers")
    files = [(io.BytesIO(content), name)] + ([(io.BytesIO(png()), "second.png")] if twice else [])
    before = snapshot()
    response = owner_browser.post("/dashboard/settings/portal/logo", data={"csrf_token": token, field: files},
                                  content_type="multipart/form-data")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert snapshot() == before
        page = response.get_data(as_text=True)
        assert 'id="logo-error"' in page and 'aria-invalid="true"' in page
    else:
        assert response.status_code == 303


# --- customers search, events filter --------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["/dashboard/customers", "/dashboard/developers/events", "/dashboard/audit-log"])
def test_dashboard_lists_under_fuzzed_query_strings(owner_browser, acme, page):
    customer = make_customer(acme, name="Ama Mensah", email="ama@example.com")
    emit(acme.id, "customer.updated", customer.to_api(), Origin("api"))
    db.session.commit()
    spec = FormSpec(f"GET {page}", fields={"q": "ama", "type": "customer.updated", "before": "1700000000000000"},
                    choices={"before": [["²"], ["99999999999999999999"], ["-1"]], "type": [[EVENT_TYPES[0]]]},
                    message_on_422=False)

    @fuzz_settings
    @given(body=form_bodies(spec))
    def run(body):
        body.files.clear()
        before = snapshot()
        response = send(owner_browser, page, body, None, method="GET")
        check_answer(spec, body, response, before, snapshot())
        assert response.status_code == 200
    run()


# --- developers -------------------------------------------------------------------------------------------------

WEBHOOK = FormSpec(
    "webhook endpoint", fields={"url": "http://127.0.0.1:9/hook", "description": "Orders", "enabled_events": ["*"]},
    echoed=frozenset({"url", "description"}),
    choices={"url": [["https://127.0.0.1/x"], ["http://10.0.0.1/"], ["javascript:alert(1)"], ["http://[::1]:99999/"],
                     ["https://localhost:0/"], ["http://user:pw@localhost/"], ["https://example.invalid/hook"],
                     ["http://localhost/" + "a" * 3000], ["HTTP://LOCALHOST/"], ["http://127.0.0.1:9/\u202e"]],
             "enabled_events": [list(EVENT_TYPES[:3]), ["nope"], []],
             "description": [["x" * 1001], [""]]},
)


def check_endpoint_stored(acme, body: Body) -> None:
    endpoint = db.session.scalars(db.select(WebhookEndpoint).filter_by(merchant_id=acme.id)
                                  .order_by(WebhookEndpoint.sort_key.desc())).first()
    assert endpoint.url == body.first("url").strip()
    assert (endpoint.description or None) == expected_text(body.first("description"))


@fuzz_settings
@given(body=form_bodies(WEBHOOK))
def test_webhook_endpoint_form_under_fuzzing(owner_browser, acme, body):
    fuzz_form(owner_browser, "/dashboard/developers/webhooks", WEBHOOK, body,
              lambda body, response: check_endpoint_stored(acme, body))


EXTRAS = FormSpec("extras", fields={"overlap": "0", "status": "disabled"},
                  choices={"overlap": [["86400"], ["-1"], ["1e9"]], "status": [["enabled"], ["deleted"]]},
                  message_on_422=False)


@fuzz_settings
@given(action=st.sampled_from(["api-keys", "api-keys/{key}/revoke", "webhooks/{endpoint}/secret",
                               "webhooks/{endpoint}/rotate-secret", "webhooks/{endpoint}/status",
                               "webhooks/{endpoint}/delete", "events/{event}/resend"]),
       body=form_bodies(EXTRAS))
def test_developer_actions_under_fuzzing(owner_browser, acme, action, body):
    key, _ = ApiKey.issue(acme.id)
    db.session.add(key)
    endpoint = create_endpoint(acme.id, "http://127.0.0.1:9/hook", ["*"], None)
    event = emit(acme.id, "customer.updated", make_customer(acme).to_api(), Origin("api"))
    db.session.commit()
    response = fuzz_form(owner_browser, "/dashboard/developers/" + action.format(
        key=key.id, endpoint=endpoint.id, event=event.id), EXTRAS, body)
    assert response.status_code in (200, 303, 400), response.status_code


@fuzz_settings
@given(id=hostile_ids(), action=st.sampled_from(
    ["developers/api-keys/{}/revoke", "developers/webhooks/{}/secret", "developers/webhooks/{}/rotate-secret",
     "developers/webhooks/{}/status", "developers/webhooks/{}/delete", "developers/events/{}/resend",
     "customers/{}/preview", "developers/webhooks/{}", "developers/events/{}", "customers/{}"]),
    body=form_bodies(EXTRAS))
def test_hostile_ids_in_dashboard_urls_are_not_found(owner_browser, acme, id, action, body):
    path = "/dashboard/" + action.format(id)
    if action.endswith("{}"):
        before = snapshot()
        response = owner_browser.get(path)
        assert response.status_code == 404 and snapshot() == before, (path, response.status_code)
    else:
        response = fuzz_form(owner_browser, path, EXTRAS, body)
        assert response.status_code in (400, 404, 405), (path, response.status_code)


# --- CSRF -------------------------------------------------------------------------------------------------------

@fuzz_settings
@given(token=st.one_of(st.none(), st.sampled_from(NASTY_STRINGS[:30]), st.text(max_size=100)),
       path=st.sampled_from(["/dashboard/settings/portal", "/dashboard/developers/api-keys",
                             "/dashboard/developers/webhooks", "/dashboard/settings/portal/logo/delete",
                             "/dashboard/sign-out"]))
def test_dashboard_posts_with_a_missing_or_garbled_csrf_token_are_refused_and_write_nothing(
        owner_browser, acme, token, path):
    before = snapshot()
    body = Body([("url", "http://127.0.0.1:9/x"), ("enabled_events", "*"), ("branding.primary_color", "#000000")],
                {}, False)
    response = send(owner_browser, path, body, token)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert snapshot() == before
