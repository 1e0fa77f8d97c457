"""Developers: API keys (a new key is shown once), webhook endpoints (secrets, delivery log, resend) and the event
log. The same domain functions as the API (`webhooks`, `signing`, `events.queue_deliveries`) do the work."""
from flask import abort, flash, g, make_response, redirect, render_template, request, url_for

from .. import clock
from ..events import EVENT_TYPES, queue_deliveries
from ..extensions import db
from ..models import ApiKey, Event, WebhookDelivery, WebhookEndpoint
from ..webhooks import DISABLED, DISABLED_BY_HAND, ENABLED, create_endpoint, delete_endpoint, update_endpoint
from ..webhooks.signing import DEFAULT_ROTATION_OVERLAP, rotate_secret
from ..webhooks.urls import check_endpoint_url
from . import audit, bp
from .auth import requires
from .forms import EVENT_CHOICES, EndpointForm, endpoint_form
from .loaders import merchant_row_or_404, merchant_rows, newest_first_page

TEST_MODE = True  # only test mode exists (API.md): http:// to the merchant's own machine is allowed
DELIVERY_LOG_SIZE = 50
ROTATION_OVERLAPS = {"0": 0, str(DEFAULT_ROTATION_OVERLAP): DEFAULT_ROTATION_OVERLAP}


def _no_store(response):
    """A page showing a secret is never cached, not even in the browser's back-forward history."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/developers")
@requires("view")
def developers():
    return _developers_page()


def _developers_page(new_key: tuple[ApiKey, str] | None = None, form: EndpointForm | None = None, status=200):
    keys = db.session.scalars(merchant_rows(ApiKey).order_by(ApiKey.revoked_at.is_not(None),
                                                             ApiKey.created.desc())).all()
    endpoints = db.session.scalars(merchant_rows(WebhookEndpoint).order_by(WebhookEndpoint.sort_key.desc())).all()
    page = render_template("dashboard/developers.html", keys=keys, endpoints=endpoints, new_key=new_key,
                           form=form or EndpointForm(), event_choices=EVENT_CHOICES)
    return _no_store(page), status


@bp.post("/developers/api-keys")
@requires("manage_developers")
def create_api_key():
    key, secret = ApiKey.issue(g.staff.merchant_id)
    db.session.add(key)
    db.session.flush()
    audit.record("api_key.created", key.id, {"prefix": key.prefix})
    db.session.commit()
    # Shown in this response and never again (only its hash is kept): no redirect, the page would lose it.
    return _developers_page(new_key=(key, secret))


@bp.post("/developers/api-keys/<id>/revoke")
@requires("manage_developers")
def revoke_api_key(id):
    key = merchant_row_or_404(ApiKey, id, lock=True)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        audit.record("api_key.revoked", key.id, {"prefix": key.prefix})
        db.session.commit()
        flash(f"Key {key.prefix}… revoked: requests made with it now get 401.")
    return redirect(url_for(".developers"), 303)


@bp.post("/developers/webhooks")
@requires("manage_developers")
def create_webhook_endpoint():
    form = endpoint_form(request.form)
    if "url" not in form.errors:
        try:
            check_endpoint_url(form.url, test_mode=TEST_MODE)
        except ValueError as exc:
            form.errors["url"] = f"This URL cannot receive events: {exc}."
    if form.errors:
        return _developers_page(form=form, status=422)
    endpoint = create_endpoint(g.staff.merchant_id, form.url, form.enabled_events, form.description or None)
    audit.record("webhook_endpoint.created", endpoint.id, {"url": endpoint.url, "enabled_events": form.enabled_events})
    db.session.commit()
    flash("Endpoint added. Reveal its signing secret below to verify deliveries.")
    return redirect(url_for(".webhook_endpoint", id=endpoint.id), 303)


@bp.get("/developers/webhooks/<id>")
@requires("view")
def webhook_endpoint(id):
    return _endpoint_page(merchant_row_or_404(WebhookEndpoint, id))


def _endpoint_page(endpoint: WebhookEndpoint, secret_shown: bool = False):
    deliveries = db.session.execute(
        db.select(WebhookDelivery, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.merchant_id == g.staff.merchant_id, WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.sort_key.desc()).limit(DELIVERY_LOG_SIZE)).all()
    if secret_shown and request.headers.get("HX-Request") == "true":
        return _no_store(render_template("dashboard/_webhook_secret.html", endpoint=endpoint, secret_shown=True))
    return _no_store(render_template("dashboard/webhook_endpoint.html", endpoint=endpoint, deliveries=deliveries,
                                     secret_shown=secret_shown, now=clock.now()))


@bp.post("/developers/webhooks/<id>/secret")
@requires("manage_developers")
def reveal_webhook_secret(id):
    endpoint = merchant_row_or_404(WebhookEndpoint, id)
    audit.record("webhook_endpoint.secret_revealed", endpoint.id)
    db.session.commit()
    return _endpoint_page(endpoint, secret_shown=True)


@bp.post("/developers/webhooks/<id>/rotate-secret")
@requires("manage_developers")
def rotate_webhook_secret(id):
    overlap = ROTATION_OVERLAPS.get(request.form.get("overlap", ""))
    if overlap is None:
        abort(400)
    endpoint = merchant_row_or_404(WebhookEndpoint, id, lock=True)
    rotate_secret(endpoint, clock.now(), overlap)
    audit.record("webhook_endpoint.secret_rotated", endpoint.id, {"previous_secret_signs_for": overlap})
    db.session.commit()
    return _endpoint_page(endpoint, secret_shown=True)


@bp.post("/developers/webhooks/<id>/status")
@requires("manage_developers")
def set_webhook_status(id):
    status = request.form.get("status")
    if status not in (ENABLED, DISABLED):
        abort(400)
    endpoint = merchant_row_or_404(WebhookEndpoint, id, lock=True)
    update_endpoint(endpoint, {"status": status})
    audit.record(f"webhook_endpoint.{status}", endpoint.id)
    db.session.commit()
    flash("Endpoint enabled: new events are queued for it again." if status == ENABLED
          else f"Endpoint disabled ({DISABLED_BY_HAND}): no new events are queued for it.")
    return redirect(url_for(".webhook_endpoint", id=endpoint.id), 303)


@bp.post("/developers/webhooks/<id>/delete")
@requires("manage_developers")
def delete_webhook_endpoint(id):
    endpoint = merchant_row_or_404(WebhookEndpoint, id, lock=True)
    audit.record("webhook_endpoint.deleted", endpoint.id, {"url": endpoint.url})
    delete_endpoint(endpoint)
    db.session.commit()
    flash("Endpoint deleted with its delivery log.")
    return redirect(url_for(".developers"), 303)


@bp.get("/developers/events")
@requires("view")
def events():
    event_type = request.args.get("type")
    query = merchant_rows(Event)
    if event_type in EVENT_TYPES:
        query = query.where(Event.type == event_type)
    else:
        event_type = None
    rows, next_cursor = newest_first_page(query, Event)
    return render_template("dashboard/events.html", events=rows, next_cursor=next_cursor, event_type=event_type,
                           event_types=EVENT_TYPES)


@bp.get("/developers/events/<id>")
@requires("view")
def event(id):
    event = merchant_row_or_404(Event, id)
    deliveries = db.session.execute(
        db.select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.merchant_id == g.staff.merchant_id, WebhookDelivery.event_id == event.id)
        .order_by(WebhookDelivery.sort_key.desc())).all()
    return render_template("dashboard/event.html", event=event, deliveries=deliveries)


@bp.post("/developers/events/<id>/resend")
@requires("manage_developers")
def resend_event(id):
    event = merchant_row_or_404(Event, id)
    deliveries = queue_deliveries(event)
    audit.record("event.resent", event.id, {"deliveries": len(deliveries)})
    db.session.commit()
    flash(f"Queued {len(deliveries)} new deliver{'y' if len(deliveries) == 1 else 'ies'}." if deliveries
          else "No enabled endpoint takes this event type: nothing was queued.")
    return redirect(url_for(".event", id=event.id), 303)
