"""Developers: API keys (shown once, revoked, last use), webhook endpoints (add, delete, reveal and rotate the
secret, the delivery log, resend) and the event log."""
import re

from tests.factories import make_customer
from xtoportal import clock
from xtoportal.dashboard.routes import dashboard_time
from xtoportal.events import Origin, emit
from xtoportal.extensions import db
from xtoportal.models import ApiKey, AuditEntry, WebhookDelivery, WebhookEndpoint
from xtoportal.webhooks import create_endpoint

from .conftest import row_counts


def audit_actions() -> list[str]:
    return list(db.session.scalars(db.select(AuditEntry.action).order_by(AuditEntry.id)))


def an_endpoint(acme, url="http://127.0.0.1:9/hook", events=("*",)) -> WebhookEndpoint:
    endpoint = create_endpoint(acme.id, url, list(events), "Orders service")
    db.session.commit()
    return endpoint


def an_event(acme, type="customer.updated"):
    event = emit(acme.id, type, make_customer(acme).to_api(), Origin("api"))
    db.session.commit()
    return event


def test_a_new_key_is_shown_once_works_and_is_never_shown_again(as_owner, client):
    response = as_owner.post("/dashboard/developers/api-keys")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(sk_test_\w+)"', response.get_data(as_text=True)).group(1)
    assert "It is shown once" in response.get_data(as_text=True)
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page = as_owner.text("/dashboard/developers")
    assert secret not in page and secret[:12] + "…" in page
    assert "api_key.created" in audit_actions()


def test_revoking_a_key_locks_it_out_of_the_api(as_owner, acme, client, merchant):
    key = db.session.scalars(db.select(ApiKey).filter_by(merchant_id=acme.id)).one()
    response = as_owner.post(f"/dashboard/developers/api-keys/{key.id}/revoke")
    assert response.status_code == 303
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {merchant[1]}"}).status_code == 401
    page = as_owner.text("/dashboard/developers")
    assert "revoked" in page and "requests made with it now get 401" in page
    assert "api_key.revoked" in audit_actions()


def test_the_keys_last_use_is_shown(as_owner, api):
    assert "Never" in as_owner.text("/dashboard/developers")
    with clock.frozen(1_800_000_000):
        api.get("/v1/customers")
    assert "15 Jan 2027, 08:00 UTC" in as_owner.text("/dashboard/developers")


def test_an_endpoint_is_added_for_the_events_chosen(as_owner, acme):
    response = as_owner.post("/dashboard/developers/webhooks", {
        "url": "http://localhost:4242/webhooks", "description": "Local tests",
        "enabled_events": ["invoice.paid", "invoice.payment_failed"]})
    endpoint = db.session.scalars(db.select(WebhookEndpoint)).one()
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/developers/webhooks/{endpoint.id}"
    assert endpoint.enabled_events == ["invoice.paid", "invoice.payment_failed"] and endpoint.status == "enabled"
    assert endpoint.merchant_id == acme.id and endpoint.secret.startswith("whsec_")
    page = as_owner.text(response.headers["Location"])
    assert "http://localhost:4242/webhooks" in page and "Local tests" in page and endpoint.secret not in page


def test_an_endpoint_url_that_cannot_receive_events_is_refused_beside_the_field(as_owner):
    for url, reason in (("http://10.0.0.5/hook", "This URL cannot receive events"),
                        ("ftp://example.com/", "This URL cannot receive events"),
                        ("", "Enter the URL that should receive events.")):
        response = as_owner.post("/dashboard/developers/webhooks", {"url": url, "enabled_events": "*"})
        assert response.status_code == 422, url
        assert reason in response.get_data(as_text=True)
    response = as_owner.post("/dashboard/developers/webhooks", {"url": "http://127.0.0.1:9/x"})
    assert "Choose at least one event, or all events." in response.get_data(as_text=True)
    assert db.session.scalars(db.select(WebhookEndpoint)).all() == []


def test_revealing_the_secret_shows_it_and_is_recorded(as_owner, acme):
    endpoint = an_endpoint(acme)
    response = as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/secret")
    assert response.status_code == 200 and endpoint.secret in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    fragment = as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/secret", htmx=True).get_data(as_text=True)
    assert fragment.startswith('<div id="webhook-secret"') and endpoint.secret in fragment
    assert audit_actions().count("webhook_endpoint.secret_revealed") == 2


def test_rotating_the_secret_keeps_the_old_one_signing_for_the_overlap_chosen(as_owner, acme):
    endpoint = an_endpoint(acme)
    old = endpoint.secret
    as_owner.csrf_token()
    now = clock.now()
    with clock.frozen(now):
        page = as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/rotate-secret",
                             {"overlap": "86400"}).get_data(as_text=True)
    db.session.refresh(endpoint)
    assert endpoint.secret != old and endpoint.secret in page
    assert endpoint.previous_secret == old and endpoint.previous_secret_expires_at == now + 86400
    assert f"The previous secret also signs deliveries until {dashboard_time(now + 86400)}." in page
    as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/rotate-secret", {"overlap": "0"})
    db.session.refresh(endpoint)
    assert endpoint.previous_secret is None
    assert as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/rotate-secret",
                         {"overlap": "999999999"}).status_code == 400
    assert audit_actions().count("webhook_endpoint.secret_rotated") == 2


def test_an_endpoint_is_disabled_and_enabled(as_owner, acme):
    endpoint = an_endpoint(acme)
    as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/status", {"status": "disabled"})
    db.session.refresh(endpoint)
    assert endpoint.status == "disabled" and endpoint.disabled_reason == "disabled by hand"
    as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/status", {"status": "enabled"})
    db.session.refresh(endpoint)
    assert endpoint.status == "enabled" and endpoint.disabled_reason is None


def test_deleting_an_endpoint_removes_its_delivery_log(as_owner, acme):
    endpoint = an_endpoint(acme)
    an_event(acme)
    assert db.session.scalars(db.select(WebhookDelivery)).all()
    response = as_owner.post(f"/dashboard/developers/webhooks/{endpoint.id}/delete")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/developers"
    assert db.session.scalars(db.select(WebhookEndpoint)).all() == []
    assert db.session.scalars(db.select(WebhookDelivery)).all() == []
    assert "webhook_endpoint.deleted" in audit_actions()


def test_the_delivery_log_shows_each_attempt(as_owner, acme):
    endpoint = an_endpoint(acme)
    event = an_event(acme)
    first = db.session.scalars(db.select(WebhookDelivery)).one()
    first.status, first.response_status, first.latency_ms = "failed", 500, 231
    first.response_excerpt = "<b>Internal error</b>"
    db.session.add(WebhookDelivery(merchant_id=acme.id, event_id=event.id, endpoint_id=endpoint.id, attempt=2,
                                   status="succeeded", response_status=200, latency_ms=48))
    db.session.commit()
    page = as_owner.text(f"/dashboard/developers/webhooks/{endpoint.id}")
    assert "#1" in page and "#2" in page and "HTTP 500 · 231 ms" in page and "HTTP 200 · 48 ms" in page
    assert "&lt;b&gt;Internal error&lt;/b&gt;" in page and "<b>Internal error</b>" not in page
    assert page.index("#2") < page.index("#1")  # newest first


def test_resending_an_event_queues_a_new_delivery_per_enabled_endpoint(as_owner, acme):
    an_endpoint(acme)
    an_endpoint(acme, url="http://127.0.0.1:9/invoices-only", events=("invoice.paid",))
    event = an_event(acme)
    before = row_counts()["webhook_deliveries"]
    response = as_owner.post(f"/dashboard/developers/events/{event.id}/resend")
    assert response.status_code == 303
    assert row_counts()["webhook_deliveries"] == before + 1
    assert "Queued 1 new delivery." in as_owner.text(f"/dashboard/developers/events/{event.id}")
    assert "event.resent" in audit_actions()


def test_resending_with_no_endpoint_says_nothing_was_queued(as_owner, acme):
    event = an_event(acme)
    as_owner.post(f"/dashboard/developers/events/{event.id}/resend")
    assert "nothing was queued" in as_owner.text(f"/dashboard/developers/events/{event.id}")


def test_the_event_log_lists_and_filters_events_and_shows_a_payload(as_owner, acme):
    updated = an_event(acme, "customer.updated")
    other = an_event(acme, "customer.payment_method_updated")
    everything = as_owner.text("/dashboard/developers/events")
    assert updated.id in everything and other.id in everything
    filtered = as_owner.text("/dashboard/developers/events?type=customer.updated")
    assert updated.id in filtered and other.id not in filtered
    assert other.id in as_owner.text("/dashboard/developers/events?type=not-a-type")  # unknown filter: everything
    page = as_owner.text(f"/dashboard/developers/events/{updated.id}")
    assert "&#34;previous_attributes&#34;" in page or '"previous_attributes"' in page
    assert updated.object_id in page
