"""/v1/subscriptions: create, list, read, change plan, cancel, pause, resume."""
from typing import Literal

from flask import g, jsonify, request
from pydantic import Field

from .. import clock
from ..billing import subscriptions as billing
from ..billing.errors import BillingError, StateConflict
from ..extensions import db
from ..models import Customer, Plan, Subscription
from . import api_origin, bp
from .errors import invalid, state_conflict
from .loaders import owned_or_404
from .pagination import choice_arg, paginate
from .parsing import Body, parse


class SubscriptionCreate(Body):
    customer_id: str
    plan_id: str
    trial_period_days: int | None = Field(default=None, ge=1, le=730)


class SubscriptionUpdate(Body):
    plan_id: str
    proration_behavior: Literal["create_prorations", "none"] = "create_prorations"


class CancelRequest(Body):
    at_period_end: bool = True


class PauseRequest(Body):
    resumes_at: int | None = Field(default=None, ge=0, le=2**53)


def billing_call(action, *args, **kwargs):
    """Run a billing function, turning its refusals into the API's errors."""
    try:
        return action(*args, **kwargs)
    except StateConflict as exc:
        raise state_conflict(exc.message) from None
    except BillingError as exc:
        raise invalid(exc.param, exc.message) from None


@bp.post("/subscriptions")
def create_subscription():
    fields = parse(SubscriptionCreate)
    customer = owned_or_404(Customer, fields.customer_id, param="customer_id")
    plan = owned_or_404(Plan, fields.plan_id, param="plan_id")
    subscription = billing_call(billing.create_subscription, customer, plan, api_origin(), clock.now(),
                                trial_period_days=fields.trial_period_days)
    db.session.commit()
    return jsonify(subscription.to_api())


@bp.get("/subscriptions")
def list_subscriptions():
    query = db.select(Subscription).where(Subscription.merchant_id == g.merchant_id)
    if "customer_id" in request.args:
        customer = owned_or_404(Customer, request.args["customer_id"], param="customer_id")
        query = query.where(Subscription.customer_id == customer.id)
    status = choice_arg("status", Subscription.STATUSES)
    if status is not None:
        query = query.where(Subscription.status == status)
    return paginate(query, Subscription)


@bp.get("/subscriptions/<id>")
def get_subscription(id):
    return jsonify(owned_or_404(Subscription, id).to_api())


@bp.post("/subscriptions/<id>")
def update_subscription(id):
    subscription = owned_or_404(Subscription, id, lock=True)
    fields = parse(SubscriptionUpdate)
    plan = owned_or_404(Plan, fields.plan_id, param="plan_id")
    billing_call(billing.change_plan, subscription, plan, fields.proration_behavior, api_origin(), clock.now())
    db.session.commit()
    return jsonify(subscription.to_api())


@bp.post("/subscriptions/<id>/cancel")
def cancel_subscription(id):
    subscription = owned_or_404(Subscription, id, lock=True)
    fields = parse(CancelRequest)
    billing_call(billing.cancel, subscription, fields.at_period_end, api_origin(), clock.now())
    db.session.commit()
    return jsonify(subscription.to_api())


@bp.post("/subscriptions/<id>/pause")
def pause_subscription(id):
    subscription = owned_or_404(Subscription, id, lock=True)
    fields = parse(PauseRequest)
    billing_call(billing.pause, subscription, fields.resumes_at, api_origin(), clock.now())
    db.session.commit()
    return jsonify(subscription.to_api())


@bp.post("/subscriptions/<id>/resume")
def resume_subscription(id):
    subscription = owned_or_404(Subscription, id, lock=True)
    parse(Body)
    billing_call(billing.resume, subscription, api_origin(), clock.now())
    db.session.commit()
    return jsonify(subscription.to_api())
