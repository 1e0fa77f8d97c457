"""/v1/events: every event ever emitted, whether or not it was delivered, and resending one by hand."""
from flask import g, jsonify, request

from ..events import EVENT_TYPES, queue_deliveries
from ..extensions import db
from ..models import Event
from . import bp
from .loaders import owned_or_404
from .pagination import choice_arg, paginate
from .parsing import Body, parse


class Resend(Body):
    """No parameters: a body, if any, must be an empty object."""


@bp.get("/events")
def list_events():
    query = db.select(Event).where(Event.merchant_id == g.merchant_id)
    event_type = choice_arg("type", EVENT_TYPES)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    return paginate(query, Event)


@bp.get("/events/<id>")
def get_event(id):
    return jsonify(owned_or_404(Event, id).to_api())


@bp.post("/events/<id>/resend")
def resend_event(id):
    event = owned_or_404(Event, id)
    parse(Resend)
    deliveries = queue_deliveries(event)
    db.session.commit()
    return jsonify(object="list", url=request.path, data=[delivery.to_api() for delivery in deliveries],
                   has_more=False)
