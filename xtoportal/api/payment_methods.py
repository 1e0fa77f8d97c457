"""/v1/customers/{id}/payment_methods: attach, list, detach. The rules live in billing/payment_methods.py."""
from typing import Any, Literal

from flask import current_app, jsonify

from .. import clock
from ..billing import payment_methods
from ..billing.processor import CardError, InvalidField
from ..extensions import db
from ..models import Customer, PaymentMethod
from . import api_origin, bp
from .errors import ApiError, invalid, missing_parameter
from .loaders import customer_payment_method_or_404, owned_or_404
from .pagination import choice_arg, paginate
from .parsing import Body, parse

TYPES = ("card", "mobile_money")


class CardDetails(Body):
    # Any: the processor is the one place that checks card fields (digits, lengths, month), and it never echoes them.
    number: Any
    exp_month: Any
    exp_year: Any
    cvc: Any


class MobileMoneyDetails(Body):
    provider: str
    phone: str


class AttachPaymentMethod(Body):
    type: Literal["card", "mobile_money"]
    card: CardDetails | None = None
    mobile_money: MobileMoneyDetails | None = None
    set_default: bool = False


def _parse_attach() -> AttachPaymentMethod:
    """The attach body, with exactly the details object that its `type` names."""
    fields = parse(AttachPaymentMethod)
    details, other = (("card", "mobile_money") if fields.type == "card" else ("mobile_money", "card"))
    if getattr(fields, details) is None:
        raise missing_parameter(details)
    if getattr(fields, other) is not None:
        raise invalid(other, f"{other} cannot be given with type {fields.type}.")
    return fields


def _type_filter() -> str | None:
    return choice_arg("type", TYPES)


def processor_error(exc: CardError | InvalidField) -> ApiError:
    """A processor refusal in the API's error shape: 402 card_error, or 400 naming the field."""
    if isinstance(exc, CardError):
        return ApiError(402, "card_error", exc.message, code=exc.code, param=exc.param)
    return invalid(exc.param, exc.message)


@bp.post("/customers/<id>/payment_methods")
def attach_payment_method(id):
    customer = owned_or_404(Customer, id, lock=True)
    fields = _parse_attach()
    try:
        if fields.type == "card":
            card = fields.card
            method = payment_methods.attach_card(customer, card.number, card.exp_month, card.exp_year, card.cvc,
                                                 fields.set_default, api_origin(), clock.now())
        else:
            wallet = fields.mobile_money
            method = payment_methods.attach_mobile_money(customer, wallet.provider, wallet.phone,
                                                         fields.set_default, api_origin(), clock.now())
    except (CardError, InvalidField) as exc:
        raise processor_error(exc) from None
    db.session.commit()
    return jsonify(method.to_api())


@bp.get("/customers/<id>/payment_methods")
def list_payment_methods(id):
    customer = owned_or_404(Customer, id)
    kind = _type_filter()
    # The list shows each wallet as it is now: a handset that answered is applied first.
    payment_methods.refresh_wallet_links(customer, clock.now(), current_app.config["MOBILE_MONEY_TIMEOUT"])
    db.session.commit()
    query = payment_methods.attached_methods(customer)
    if kind is not None:
        query = query.where(PaymentMethod.type == kind)
    return paginate(query, PaymentMethod)


@bp.delete("/customers/<id>/payment_methods/<pm>")
def detach_payment_method(id, pm):
    customer = owned_or_404(Customer, id, lock=True)
    method = customer_payment_method_or_404(customer, pm)
    payment_methods.detach(method, api_origin(), clock.now())
    db.session.commit()
    return jsonify(id=method.id, object="payment_method", deleted=True)
