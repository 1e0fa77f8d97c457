"""Each role can do exactly what it should, on every route of the dashboard: the URL map is walked, so a route
added later without a line here fails the first test."""
import io

import pytest
from PIL import Image

from xtoportal.events import Origin, emit
from xtoportal.extensions import db
from xtoportal.models import ApiKey, MerchantLogo, PortalConfiguration, WebhookEndpoint
from xtoportal.webhooks import create_endpoint

from .conftest import row_counts, settings_form

ALL, MANAGERS = frozenset({"owner", "admin", "support"}), frozenset({"owner", "admin"})
# Every dashboard route that is not a GET, and who may use it. Support may look and preview, never change.
MUTATING = {
    "dashboard.save_portal_settings": MANAGERS,
    "dashboard.preview_portal_settings": ALL,  # renders unsaved settings; writes nothing
    "dashboard.upload_logo": MANAGERS,
    "dashboard.remove_logo": MANAGERS,
    "dashboard.preview_customer_portal": ALL,
    "dashboard.end_customer_preview": ALL,
    "dashboard.create_api_key": MANAGERS,
    "dashboard.revoke_api_key": MANAGERS,
    "dashboard.create_webhook_endpoint": MANAGERS,
    "dashboard.reveal_webhook_secret": MANAGERS,
    "dashboard.rotate_webhook_secret": MANAGERS,
    "dashboard.set_webhook_status": MANAGERS,
    "dashboard.delete_webhook_endpoint": MANAGERS,
    "dashboard.resend_event": MANAGERS,
    "dashboard.sign_out": ALL,
}
# Pages not every role may read.
RESTRICTED_PAGES = {"dashboard.audit_log": MANAGERS}


def png_bytes() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (40, 20), "#b45309").save(output, "PNG")
    return output.getvalue()


class Targets:
    """A fresh object for each request, so one role's allowed change never hides another's refusal."""

    def __init__(self, acme, customer):
        self.acme, self.customer, self.colours = acme, customer, iter(range(0x100000, 0x200000, 0x111))

    def key(self):
        key, _ = ApiKey.issue(self.acme.id)
        db.session.add(key)
        db.session.commit()
        return key.id

    def endpoint(self):
        endpoint = create_endpoint(self.acme.id, "http://127.0.0.1:9/hook", ["*"], None)
        db.session.commit()
        return endpoint.id

    def event(self):
        event = emit(self.acme.id, "customer.updated", self.customer.to_api(), Origin("api"))
        db.session.commit()
        return event.id

    def request(self, endpoint: str) -> tuple[dict, dict]:
        """(URL arguments, form data) for a request to `endpoint` that an allowed role sees succeed."""
        config = db.session.get(PortalConfiguration, self.acme.id)
        by_endpoint = {
            "dashboard.save_portal_settings": ({}, settings_form(
                config.document, branding__primary_color=f"#{next(self.colours):06x}")),
            "dashboard.preview_portal_settings": ({}, settings_form(config.document)),
            "dashboard.upload_logo": ({}, {"logo": (io.BytesIO(png_bytes()), "logo.png")}),
            "dashboard.preview_customer_portal": ({"id": self.customer.id}, {}),
            "dashboard.revoke_api_key": ({"id": self.key()}, {}),
            "dashboard.create_webhook_endpoint": ({}, {"url": "http://127.0.0.1:9/new", "enabled_events": "*"}),
            "dashboard.reveal_webhook_secret": ({"id": self.endpoint()}, {}),
            "dashboard.rotate_webhook_secret": ({"id": self.endpoint()}, {"overlap": "0"}),
            "dashboard.set_webhook_status": ({"id": self.endpoint()}, {"status": "disabled"}),
            "dashboard.delete_webhook_endpoint": ({"id": self.endpoint()}, {}),
            "dashboard.resend_event": ({"id": self.event()}, {}),
        }
        return by_endpoint.get(endpoint, ({}, {}))


def state() -> dict:
    """Everything a refused request might have changed."""
    db.session.expire_all()
    return {
        "rows": row_counts(),
        "settings": [c.settings for c in db.session.scalars(db.select(PortalConfiguration))],
        "keys": sorted((k.id, k.revoked_at) for k in db.session.scalars(db.select(ApiKey))),
        "endpoints": sorted((e.id, e.secret, e.status) for e in db.session.scalars(db.select(WebhookEndpoint))),
        "logos": sorted(l.digest for l in db.session.scalars(db.select(MerchantLogo))),
    }


def dashboard_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("dashboard.") and rule.endpoint != "dashboard.sign_in"]


def test_every_mutating_route_is_in_the_table(app):
    mutating = {rule.endpoint for rule in dashboard_rules(app) if rule.methods - {"GET", "HEAD", "OPTIONS"}}
    assert mutating == set(MUTATING)


@pytest.mark.parametrize("role", ["owner", "admin", "support"])
def test_each_role_can_do_exactly_what_it_should_on_every_mutating_route(
        app, staff_browser, acme, customer, https_public_url, role):
    browser = staff_browser(role)
    targets = Targets(acme, customer)
    rules = sorted((r for r in dashboard_rules(app) if r.endpoint in MUTATING),
                   key=lambda r: r.endpoint == "dashboard.sign_out")  # signing out last
    for rule in rules:
        arguments, data = targets.request(rule.endpoint)
        path = rule.build(arguments)[1]
        before = state()
        response = browser.post(path, data)
        if role in MUTATING[rule.endpoint]:
            assert response.status_code in (200, 303), (role, rule.endpoint, response.status_code)
        else:
            assert response.status_code == 403, (role, rule.endpoint, response.status_code)
            assert "Not allowed for your role" in response.get_data(as_text=True)
            assert state() == before, (role, rule.endpoint)


@pytest.mark.parametrize("role", ["owner", "admin", "support"])
def test_each_role_reads_the_pages_it_should(app, staff_browser, acme, customer, role):
    browser = staff_browser(role)
    targets = Targets(acme, customer)
    ids = {"dashboard.customer": customer.id, "dashboard.webhook_endpoint": targets.endpoint(),
           "dashboard.event": targets.event()}
    for rule in dashboard_rules(app):
        if "GET" not in rule.methods:
            continue
        path = rule.build({"id": ids[rule.endpoint]} if rule.arguments else {})[1]
        response = browser.get(path)
        allowed = role in RESTRICTED_PAGES.get(rule.endpoint, ALL)
        expected = (303 if rule.endpoint == "dashboard.index" else 200) if allowed else 403
        assert response.status_code == expected, (role, path, response.status_code)


def test_support_sees_no_control_that_changes_anything(staff_browser, acme, customer):
    browser = staff_browser("support")
    endpoint_id = Targets(acme, customer).endpoint()
    settings = browser.text("/dashboard/settings/portal")
    assert "Save settings" not in settings and "Upload logo" not in settings
    assert '<fieldset class="plain" disabled>' in settings
    assert "an owner or an admin can change them" in settings
    developers = browser.text("/dashboard/developers")
    assert "Create secret key" not in developers and "Revoke" not in developers and "Add endpoint" not in developers
    endpoint_page = browser.text(f"/dashboard/developers/webhooks/{endpoint_id}")
    assert "Reveal secret" not in endpoint_page and "Rotate secret" not in endpoint_page
    assert db.session.get(WebhookEndpoint, endpoint_id).secret not in endpoint_page
    assert "Preview portal" in browser.text(f"/dashboard/customers/{customer.id}")
    assert "Audit log" not in developers


def test_staff_of_another_merchant_find_nothing_of_this_one(staff_browser, make_merchant, make_staff, acme, customer):
    globex = make_merchant("Globex")[0]
    outsider = staff_browser(make_staff("owner", merchant=globex))
    targets = Targets(acme, customer)
    endpoint_id, event_id, key_id = targets.endpoint(), targets.event(), targets.key()
    before = state()
    for path in (f"/dashboard/customers/{customer.id}", f"/dashboard/developers/webhooks/{endpoint_id}",
                 f"/dashboard/developers/events/{event_id}"):
        assert outsider.get(path).status_code == 404, path
    for path in (f"/dashboard/customers/{customer.id}/preview", f"/dashboard/developers/api-keys/{key_id}/revoke",
                 f"/dashboard/developers/webhooks/{endpoint_id}/secret",
                 f"/dashboard/developers/webhooks/{endpoint_id}/delete",
                 f"/dashboard/developers/events/{event_id}/resend"):
        assert outsider.post(path).status_code == 404, path
    assert state() == before
    page = outsider.text("/dashboard/customers?q=ama")
    assert customer.id not in page and "Ama Mensah" not in page and "No customer matches" in page
