"""/v1/customer_portal/sessions: a customer's single-use, 30-minute link into the portal."""
from typing import Annotated, Literal

from flask import jsonify
from pydantic import StringConstraints

from .. import clock
from ..extensions import db
from ..models import Customer, PortalConfiguration, PortalSession, Subscription
from ..portal.return_urls import check_return_url
from ..portal.tokens import issue_portal_session
from . import bp
from .errors import invalid, missing_parameter
from .loaders import owned_or_404
from .parsing import Body, parse
from .portal_configuration import merchant_portal_configuration

SUBSCRIPTION_FLOWS = ("subscription_cancel", "subscription_update")


class Flow(Body):
    type: Literal["payment_method_update", "subscription_cancel", "subscription_update"]
    subscription_id: Annotated[str, StringConstraints(max_length=40)] | None = None


class SessionCreate(Body):
    customer_id: Annotated[str, StringConstraints(max_length=40)]
    return_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    locale: Literal["auto", "en", "fr"] = "auto"
    flow: Flow | None = None


def _return_url(requested: str | None, config: PortalConfiguration) -> str:
    """The requested return_url, else the configuration's default; either way it must pass the return_url rules."""
    document = config.document
    url = requested or document["default_return_url"]
    if not url:
        raise missing_parameter("return_url")
    try:
        return check_return_url(url, document["allowed_return_hosts"])
    except ValueError as exc:
        raise invalid("return_url", f"Invalid return_url: {exc}.") from None


def _flow(flow: Flow | None, customer: Customer, config: PortalConfiguration) -> dict | None:
    """The flow as stored, refused when its feature is disabled or its subscription is not this customer's."""
    if flow is None:
        return None
    if not config.allows(flow.type):  # each flow is named after the configuration feature it opens
        raise invalid("flow.type", f"The portal configuration disables {flow.type}; enable it to use this flow.")
    if flow.type not in SUBSCRIPTION_FLOWS:
        if flow.subscription_id is not None:
            raise invalid("flow.subscription_id", f"A {flow.type} flow takes no subscription_id.")
        return {"type": flow.type}
    if flow.subscription_id is None:
        raise missing_parameter("flow.subscription_id")
    subscription = owned_or_404(Subscription, flow.subscription_id, "flow.subscription_id")
    if subscription.customer_id != customer.id:
        raise invalid("flow.subscription_id", f"No such subscription: '{flow.subscription_id}' for this customer.",
                      code="resource_missing")
    if subscription.status == "canceled":
        raise invalid("flow.subscription_id", "This subscription is canceled.")
    return {"type": flow.type, "subscription_id": subscription.id}


@bp.post("/customer_portal/sessions")
def create_portal_session():
    body = parse(SessionCreate)
    customer = owned_or_404(Customer, body.customer_id, "customer_id")
    config = merchant_portal_configuration()
    session, url = issue_portal_session(customer, _return_url(body.return_url, config), body.locale,
                                        _flow(body.flow, customer, config))
    answer = session.to_api(url)  # before the commit, which expires the row: after it, reading it is a SELECT
    db.session.commit()
    return jsonify(answer)


@bp.get("/customer_portal/sessions/<id>")
def get_portal_session(id):
    return jsonify(owned_or_404(PortalSession, id).to_api())


@bp.post("/customer_portal/sessions/<id>/revoke")
def revoke_portal_session(id):
    parse(Body)  # takes no parameters
    session = owned_or_404(PortalSession, id, lock=True)
    if session.revoked_at is None:
        session.revoked_at = clock.now()
    db.session.commit()
    return jsonify(session.to_api())
