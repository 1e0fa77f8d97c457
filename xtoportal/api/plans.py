"""/v1/plans: a plan is a recurring price. Only its name, description and active flag change after creation."""
from typing import Annotated, Literal

from flask import g, jsonify, request
from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from ..billing.money import CURRENCIES, is_supported_currency
from ..extensions import db
from ..models import Plan
from . import bp
from .errors import invalid
from .loaders import owned_or_404
from .pagination import paginate
from .parsing import Body, json_body, parse

MAX_AMOUNT = 10**12
# A period may last at most three years, whatever its unit (the bound Stripe uses for its prices too).
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
FIXED_AFTER_CREATION = ("amount", "currency", "interval", "interval_count")

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]


class PlanUpdate(Body):
    name: Name | None = None
    description: Description | None = None
    active: bool | None = None


class PlanCreate(Body):
    name: Name
    description: Description | None = None
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    currency: str
    interval: Literal["day", "week", "month", "year"]
    interval_count: Annotated[int, Field(ge=1)] = 1  # declared after `interval`, which bounds it
    active: bool = True

    @field_validator("currency")
    @classmethod
    def supported_currency(cls, value: str) -> str:
        if not is_supported_currency(value.lower()):
            raise ValueError(f"use one of the ISO 4217 codes we bill in: {', '.join(sorted(CURRENCIES))}")
        return value.lower()

    @field_validator("interval_count")
    @classmethod
    def at_most_three_years(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval")
        if interval in MAX_INTERVAL_COUNT and value > MAX_INTERVAL_COUNT[interval]:
            raise ValueError(f"a period lasts at most three years, so at most {MAX_INTERVAL_COUNT[interval]} "
                             f"for interval {interval}")
        return value


def _parse_update() -> dict:
    """The fields to change; a field fixed at creation is refused by name rather than as an unknown one."""
    for field in FIXED_AFTER_CREATION:
        if field in json_body():
            raise invalid(field, f"A plan's {field} cannot change after creation: create a new plan instead.")
    changes = parse(PlanUpdate).model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise invalid("name", "Invalid name: a plan must keep a name.")
    if changes.get("active", False) is None:
        raise invalid("active", "Invalid active: use true or false.")
    if "description" in changes:
        changes["description"] = changes["description"] or None
    return changes


def _active_filter() -> bool | None:
    raw = request.args.get("active")
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid("active", "active must be true or false.")
    return raw == "true"


@bp.post("/plans")
def create_plan():
    fields = parse(PlanCreate)
    plan = Plan(merchant_id=g.merchant_id, **fields.model_dump())
    plan.description = plan.description or None
    db.session.add(plan)
    db.session.commit()
    return jsonify(plan.to_api())


@bp.get("/plans")
def list_plans():
    query = db.select(Plan).where(Plan.merchant_id == g.merchant_id)
    active = _active_filter()
    if active is not None:
        query = query.where(Plan.active == active)
    return paginate(query, Plan)


@bp.get("/plans/<id>")
def get_plan(id):
    return jsonify(owned_or_404(Plan, id).to_api())


@bp.post("/plans/<id>")
def update_plan(id):
    plan = owned_or_404(Plan, id, lock=True)
    for field, value in _parse_update().items():
        setattr(plan, field, value)
    db.session.commit()
    return jsonify(plan.to_api())
