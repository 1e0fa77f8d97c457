"""/v1/customers"""
from typing import Annotated, Literal

from flask import g, jsonify
from pydantic import EmailStr, Field, StringConstraints, field_validator

from .. import contact
from ..billing import payment_methods
from ..customers import TooManyMetadataKeys, update_customer
from ..extensions import db
from ..models import Customer
from . import api_origin, bp
from .errors import invalid
from .loaders import customer_payment_method_or_404, owned_or_404
from .pagination import paginate
from .parsing import Body, parse

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]


class Address(Body):
    line1: Annotated[str, StringConstraints(max_length=200)] | None = None
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(max_length=200)] | None = None
    state: Annotated[str, StringConstraints(max_length=200)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: str | None = None

    @field_validator("country")
    @classmethod
    def known_country(cls, value):
        if value is not None and not contact.is_country(value.upper()):
            raise ValueError("use an ISO 3166-1 alpha-2 code such as GH")
        return value.upper() if value else value


class CustomerFields(Body):
    email: EmailStr | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone: str | None = None
    address: Address | None = None
    preferred_locale: Literal["en", "fr"] | None = None
    # Not nullable: keys are removed one by one with "" (an explicit null is a 400, not "erase everything").
    metadata: dict[MetadataKey, MetadataValue] = Field(default=None, max_length=50)

    @field_validator("phone")
    @classmethod
    def e164_phone(cls, value):
        if value is None:
            return value
        if not value.startswith("+"):
            raise ValueError("use E.164, e.g. +233201234567")
        return contact.normalize_phone(value)


class CustomerUpdate(CustomerFields):
    default_payment_method: str | None = None


def _changes(fields: CustomerFields) -> dict:
    changes = fields.model_dump(exclude_unset=True)
    if "address" in changes and changes["address"] is not None:
        changes["address"] = contact.clean_address(changes["address"])
    return changes


@bp.post("/customers")
def create_customer():
    fields = parse(CustomerFields)
    changes = _changes(fields)
    customer = Customer(merchant_id=g.merchant_id, metadata_={k: v for k, v in (changes.pop("metadata", None) or {}).items() if v != ""})
    for field, value in changes.items():
        setattr(customer, field, value)
    db.session.add(customer)
    db.session.commit()
    return jsonify(customer.to_api())


@bp.get("/customers")
def list_customers():
    query = db.select(Customer).where(Customer.merchant_id == g.merchant_id)
    return paginate(query, Customer)


@bp.get("/customers/<id>")
def get_customer(id):
    return jsonify(owned_or_404(Customer, id).to_api())


@bp.post("/customers/<id>")
def update_customer_route(id):
    customer = owned_or_404(Customer, id, lock=True)
    changes = _changes(parse(CustomerUpdate))
    default_id = changes.pop("default_payment_method", None)
    if default_id is not None:
        method = customer_payment_method_or_404(customer, default_id, "default_payment_method")
        try:
            payment_methods.set_default(customer, method, api_origin())
        except payment_methods.NotActive as exc:
            raise invalid("default_payment_method", str(exc)) from None
    try:
        update_customer(customer, changes, api_origin())
    except TooManyMetadataKeys as exc:
        raise invalid("metadata", str(exc)) from None
    db.session.commit()
    return jsonify(customer.to_api())
