"""A customer's payment methods: attach a card or a mobile-money wallet, follow a wallet's approval, detach,
choose the default. Shared by the API, the portal and the billing clock; the caller commits.

Card numbers and CVCs go to the processor and no further: only its token, the brand, last4 and expiry are kept.
Every change emits `customer.payment_method_updated` (one per method changed) and, when the customer's default
moves, `customer.updated` as well, since the customer object's `default_payment_method` changed.
"""
from .. import clock
from ..customers import update_customer
from ..events import BILLING, Origin, emit
from ..extensions import db
from ..models import Customer, PaymentMethod
from .processor import DEFAULT_MOBILE_MONEY_TIMEOUT, PaymentProcessor, SimulatedProcessor

SIMULATED = SimulatedProcessor()  # test mode's processor; it keeps no state, so one instance serves everyone


class NotActive(ValueError):
    """Only an active payment method can be the default."""


def attach_card(customer: Customer, number, exp_month, exp_year, cvc, set_default: bool, origin: Origin,
                now: int, processor: PaymentProcessor = SIMULATED) -> PaymentMethod:
    """Tokenize a card and attach it, active; raises the processor's InvalidCardField (400) or CardError (402)."""
    card = processor.tokenize_card(number, exp_month, exp_year, cvc, now)
    method = PaymentMethod(
        merchant_id=customer.merchant_id, customer_id=customer.id, type="card", status=PaymentMethod.ACTIVE,
        processor_token=card.token, card_brand=card.brand, card_last4=card.last4,
        card_exp_month=card.exp_month, card_exp_year=card.exp_year, created=now,
    )
    _attach(customer, method, origin)
    if set_default or customer.default_payment_method_id is None:
        _make_default(customer, method, origin, announce=False)
    return method


def attach_mobile_money(customer: Customer, provider, phone, set_default: bool, origin: Origin, now: int,
                        processor: PaymentProcessor = SIMULATED) -> PaymentMethod:
    """Ask the handset to approve a wallet and attach it as `pending`; raises the processor's InvalidField (400).

    A pending wallet cannot be the default yet: `set_default` is honoured once the handset approves.
    """
    link = processor.link_wallet(provider, phone, now)
    method = PaymentMethod(
        merchant_id=customer.merchant_id, customer_id=customer.id, type="mobile_money",
        status=PaymentMethod.PENDING, processor_token=link.token, link_reference=link.reference,
        mm_provider=link.provider, mm_country=link.country, mm_phone_last4=link.phone_last4,
        default_when_active=bool(set_default), created=now,
    )
    _attach(customer, method, origin)
    return method


def refresh_wallet_link(method: PaymentMethod, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT,
                        origin: Origin = BILLING, processor: PaymentProcessor = SIMULATED) -> PaymentMethod:
    """Ask the processor whether the handset answered a pending wallet: it becomes `active` or `failed`.

    Approved, it becomes the default if `set_default` was asked at attach or the customer has none. Safe from
    several processes at once: it never waits for a lock (a row busy elsewhere is simply polled again later),
    and only the first to lock the rows applies the answer.
    """
    if not _awaiting_approval(method):
        return method
    answer = processor.poll_wallet_link(method.link_reference, now, timeout)
    if answer == "pending":
        return method
    # Not waiting means no deadlock whatever the caller already holds (the billing clock holds the method).
    customer = _locked_customer(method.customer_id, wait=False)
    if customer is None or _locked_method(method.id, wait=False) is None or not _awaiting_approval(method):
        return method
    method.status = PaymentMethod.ACTIVE if answer == "approved" else PaymentMethod.FAILED
    _announce(method, origin, previous_attributes={"status": PaymentMethod.PENDING})
    if method.status == PaymentMethod.ACTIVE and (method.default_when_active
                                                  or customer.default_payment_method_id is None):
        _make_default(customer, method, origin, announce=False)
    return method


def refresh_wallet_links(customer: Customer, now: int, timeout: int = DEFAULT_MOBILE_MONEY_TIMEOUT,
                         origin: Origin = BILLING, processor: PaymentProcessor = SIMULATED) -> list[PaymentMethod]:
    """`refresh_wallet_link` for each of the customer's pending wallets; returns the customer's attached methods."""
    methods = list(db.session.scalars(attached_methods(customer)))
    for method in methods:
        refresh_wallet_link(method, now, timeout, origin, processor)
    return methods


def pending_wallet_links(limit: int = 100) -> list[PaymentMethod]:
    """Attached wallets still waiting for the handset, oldest first: what the billing clock polls."""
    query = (
        db.select(PaymentMethod)
        .where(PaymentMethod.type == "mobile_money", PaymentMethod.status == PaymentMethod.PENDING,
               PaymentMethod.detached_at.is_(None))
        .order_by(PaymentMethod.sort_key)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def detach(method: PaymentMethod, origin: Origin, now: int | None = None) -> PaymentMethod:
    """Detach a method (it disappears everywhere); detaching the default makes the newest active method the default."""
    customer = _locked_customer(method.customer_id)
    _locked_method(method.id)
    if method.detached_at is not None:  # a concurrent detach got here first and announced it
        return method
    method.detached_at = clock.now() if now is None else now
    _announce(method, origin)
    if customer.default_payment_method_id == method.id:
        successor = db.session.scalars(
            db.select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer.id, PaymentMethod.status == PaymentMethod.ACTIVE,
                   PaymentMethod.detached_at.is_(None), PaymentMethod.id != method.id)
            .order_by(PaymentMethod.sort_key.desc(), PaymentMethod.id.desc())
            .limit(1)
        ).first()
        if successor is None:
            update_customer(customer, {"default_payment_method": None}, origin)
        else:
            _make_default(customer, successor, origin, announce=True)
    return method


def set_default(customer: Customer, method: PaymentMethod, origin: Origin) -> PaymentMethod:
    """Make an active method of this customer its default; raises NotActive for a pending or failed one."""
    if method.customer_id != customer.id or method.detached_at is not None:
        raise ValueError("this payment method is not attached to this customer")
    if method.status != PaymentMethod.ACTIVE:
        raise NotActive("Only an active payment method can be the default.")
    if customer.default_payment_method_id != method.id:
        _make_default(customer, method, origin, announce=True)
    return method


def attached_methods(customer: Customer):
    """The query of a customer's attached (not detached) methods, for lists."""
    return db.select(PaymentMethod).where(
        PaymentMethod.customer_id == customer.id, PaymentMethod.detached_at.is_(None)
    )


def _attach(customer: Customer, method: PaymentMethod, origin: Origin) -> None:
    _locked_customer(customer.id)
    db.session.add(method)
    db.session.flush()
    _announce(method, origin)


def _make_default(customer: Customer, method: PaymentMethod, origin: Origin, announce: bool) -> None:
    """Point the customer at `method`; `announce` is False when the same change already announced the method."""
    if announce:
        _announce(method, origin)
    update_customer(customer, {"default_payment_method": method.id}, origin)


def _announce(method: PaymentMethod, origin: Origin, previous_attributes: dict | None = None) -> None:
    emit(method.merchant_id, "customer.payment_method_updated", method.to_api(), origin,
         previous_attributes=previous_attributes)


def _awaiting_approval(method: PaymentMethod) -> bool:
    return method.status == PaymentMethod.PENDING and method.detached_at is None


def _locked_customer(customer_id: str, wait: bool = True) -> Customer | None:
    """The customer, locked and re-read (None if busy and not `wait`): two changes never both pick the default.

    Locks are taken customer first, then its payment method, everywhere.
    """
    return _locked(Customer, customer_id, wait)


def _locked_method(method_id: str, wait: bool = True) -> PaymentMethod | None:
    return _locked(PaymentMethod, method_id, wait)


def _locked(model, id: str, wait: bool):
    query = (db.select(model).where(model.id == id).with_for_update(skip_locked=not wait)
             .execution_options(populate_existing=True))
    return db.session.scalars(query).first()
