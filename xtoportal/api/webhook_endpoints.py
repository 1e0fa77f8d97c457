"""/v1/webhook_endpoints: where a merchant's events are delivered, and the log of every delivery attempt.

The secret is shown when the endpoint is created and when it is rotated, never in a read or a list.
"""
from typing import Annotated, Literal

from flask import g, jsonify
from pydantic import AfterValidator, Field, StringConstraints

from .. import clock
from ..events import EVENT_TYPES
from ..extensions import db
from ..models import WebhookDelivery, WebhookEndpoint
from ..webhooks import create_endpoint, delete_endpoint, update_endpoint
from ..webhooks.signing import DEFAULT_ROTATION_OVERLAP, MAX_ROTATION_OVERLAP, rotate_secret
from ..webhooks.urls import TEST_MODE, check_endpoint_url
from . import bp
from .loaders import owned_or_404
from .pagination import paginate
from .parsing import Body, parse

# Only test mode exists (API.md), so http:// to the merchant's own machine is always allowed.


def _allowed_url(url: str) -> str:
    check_endpoint_url(url, test_mode=TEST_MODE)  # UnsafeUrl is a ValueError: a 400 naming `url`
    return url


def _known_event_type(name: str) -> str:
    if name != "*" and name not in EVENT_TYPES:
        raise ValueError(f"'{name}' is not an event type; use '*' or one of: {', '.join(EVENT_TYPES)}")
    return name


def _without_duplicates(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


EndpointUrl = Annotated[str, AfterValidator(_allowed_url)]
EnabledEvents = Annotated[
    list[Annotated[str, AfterValidator(_known_event_type)]],
    Field(min_length=1, max_length=50),
    AfterValidator(_without_duplicates),
]
Description = Annotated[str, StringConstraints(max_length=1000)]


class EndpointCreate(Body):
    url: EndpointUrl
    enabled_events: EnabledEvents = Field(default_factory=lambda: ["*"])
    description: Description | None = None


class EndpointUpdate(Body):
    # A default of None that the type does not allow: an omitted field stays as it is, an explicit null is a 400.
    url: EndpointUrl = None
    enabled_events: EnabledEvents = None
    description: Description | None = None
    status: Literal["enabled", "disabled"] = None


class SecretRotation(Body):
    expires_in: Annotated[int, Field(ge=0, le=MAX_ROTATION_OVERLAP)] = DEFAULT_ROTATION_OVERLAP


@bp.post("/webhook_endpoints")
def create_webhook_endpoint():
    fields = parse(EndpointCreate)
    endpoint = create_endpoint(g.merchant_id, fields.url, fields.enabled_events, fields.description)
    db.session.commit()
    return jsonify(endpoint.to_api(include_secret=True))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints():
    query = db.select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == g.merchant_id)
    return paginate(query, WebhookEndpoint)


@bp.get("/webhook_endpoints/<id>")
def get_webhook_endpoint(id):
    return jsonify(owned_or_404(WebhookEndpoint, id).to_api())


@bp.post("/webhook_endpoints/<id>")
def update_webhook_endpoint(id):
    # Parsed before the row is locked: checking a URL resolves its host, which may take a while.
    changes = parse(EndpointUpdate).model_dump(exclude_unset=True)
    endpoint = owned_or_404(WebhookEndpoint, id, lock=True)
    update_endpoint(endpoint, changes)
    db.session.commit()
    return jsonify(endpoint.to_api())


@bp.delete("/webhook_endpoints/<id>")
def delete_webhook_endpoint(id):
    endpoint = owned_or_404(WebhookEndpoint, id, lock=True)
    delete_endpoint(endpoint)
    db.session.commit()
    return jsonify(id=id, object="webhook_endpoint", deleted=True)


@bp.post("/webhook_endpoints/<id>/rotate_secret")
def rotate_webhook_endpoint_secret(id):
    """An extension to API.md: a new secret, with the old one still signing for `expires_in` seconds."""
    endpoint = owned_or_404(WebhookEndpoint, id, lock=True)
    rotate_secret(endpoint, clock.now(), parse(SecretRotation).expires_in)
    db.session.commit()
    return jsonify(endpoint.to_api(include_secret=True))


@bp.get("/webhook_endpoints/<id>/deliveries")
def list_webhook_deliveries(id):
    endpoint = owned_or_404(WebhookEndpoint, id)
    query = db.select(WebhookDelivery).where(WebhookDelivery.merchant_id == g.merchant_id,
                                             WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(query, WebhookDelivery)
