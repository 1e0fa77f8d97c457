"""Factories for rows the tests start from; they go through the same code paths as the product where one exists."""
from xtoportal import clock
from xtoportal.billing.processor import SimulatedProcessor
from xtoportal.extensions import db
from xtoportal.models import Customer, PaymentMethod, Plan


def make_customer(merchant, **fields) -> Customer:
    fields.setdefault("email", "ama@example.com")
    fields.setdefault("name", "Ama Mensah")
    customer = Customer(merchant_id=merchant.id, metadata_={}, **fields)
    db.session.add(customer)
    db.session.commit()
    return customer


def make_plan(merchant, amount=5000, currency="ghs", interval="month", interval_count=1, name=None, **fields) -> Plan:
    plan = Plan(merchant_id=merchant.id, name=name or f"{interval.title()}ly {amount}", amount=amount,
                currency=currency, interval=interval, interval_count=interval_count, active=True, **fields)
    db.session.add(plan)
    db.session.commit()
    return plan


def make_card(customer, number="4242424242424242", default=True) -> PaymentMethod:
    """An active card whose processor token behaves like `number` (a test card of API.md)."""
    token = SimulatedProcessor().tokenize_card(number, 12, 2040, "123", clock.now())
    method = PaymentMethod(merchant_id=customer.merchant_id, customer_id=customer.id, type="card", status="active",
                           processor_token=token.token, card_brand=token.brand, card_last4=token.last4,
                           card_exp_month=token.exp_month, card_exp_year=token.exp_year)
    db.session.add(method)
    db.session.flush()
    if default:
        customer.default_payment_method_id = method.id
    db.session.commit()
    return method


def make_wallet(customer, phone="+233240000000", provider="mtn_momo", default=True) -> PaymentMethod:
    """An approved mobile-money wallet; charges to it answer as the test phone's last four digits say."""
    link = SimulatedProcessor().link_wallet(provider, phone, clock.now())
    method = PaymentMethod(merchant_id=customer.merchant_id, customer_id=customer.id, type="mobile_money",
                           status="active", processor_token=link.token, mm_provider=provider, mm_country=link.country,
                           mm_phone_last4=link.phone_last4, link_reference=link.reference)
    db.session.add(method)
    db.session.flush()
    if default:
        customer.default_payment_method_id = method.id
    db.session.commit()
    return method
