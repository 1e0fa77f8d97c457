"""The portal as a sample customer sees it under settings that are not saved: the live preview beside the settings.

It renders the portal's own overview template with the portal's own page context, for a customer, subscription,
card and invoice that exist only in memory: nothing here is added to the database session, so nothing can be
saved. The overview's context is built as `portal.routes.overview` builds it; the two must change together (the
dashboard's preview tests render it, so a mismatch fails there).
"""
from dataclasses import dataclass

from flask import g, render_template
from flask_babel import refresh as refresh_babel

from .. import clock
from ..billing.periods import period_bounds
from ..models import Customer, Invoice, Merchant, PaymentMethod, Plan, PortalConfiguration, PortalSession, Subscription
from ..portal.access import forget_portal_identity
from ..portal.routes import SubscriptionCard, portal_page_context
from ..web import LOCALES

SAMPLE_RETURN_URL = "https://example.com/account"
SAMPLE_ADDRESS = {"line1": "14 Oxford Street", "city": "Accra", "country": "GH"}
# A plan to show when the merchant has none yet.
EXAMPLE_PLAN = {"name": "Pro", "amount": 15_000, "currency": "ghs", "interval": "month", "interval_count": 1}


@dataclass(frozen=True)
class SamplePortal:
    html: str
    customer_name: str


def render_sample_portal(document: dict, merchant: Merchant, plans: list[Plan], locale: str = "en") -> SamplePortal:
    """The portal overview page (a whole HTML document) for a sample customer under configuration `document`.

    `plans` are the merchant's active plans; the sample subscribes to the first plan customers may switch to.
    """
    now = clock.now()
    config = PortalConfiguration(merchant_id=merchant.id, settings=document, merchant=merchant)
    customer = Customer(id="cus_sample", merchant_id=merchant.id, name="Sample Customer",
                        email="customer@example.com", phone="+233 24 000 0000", address=SAMPLE_ADDRESS,
                        default_payment_method_id="pm_sample", metadata_={}, credit_balance={}, created=now)
    plan = _sample_plan(document, merchant, plans)
    start, end = period_bounds(now, plan.interval, plan.interval_count or 1, 0)
    subscription = Subscription(id="sub_sample", merchant_id=merchant.id, customer_id=customer.id, plan=plan,
                                plan_id=plan.id, status="active", billing_anchor=now, current_period_start=start,
                                current_period_end=end, cancel_at_period_end=False, created=now)
    card = PaymentMethod(id="pm_sample", merchant_id=merchant.id, customer_id=customer.id, type="card",
                         status="active", processor_token="", card_brand="visa", card_last4="4242",
                         card_exp_month=12, card_exp_year=2030, created=now)
    invoice = Invoice(id="in_sample", merchant_id=merchant.id, customer_id=customer.id, subscription_id=subscription.id,
                      number="SAMPLE-0001", status="paid", currency=plan.currency, subtotal=plan.amount, tax=0,
                      total=plan.amount, amount_paid=plan.amount, period_start=start, period_end=end, paid_at=start,
                      attempt_count=1, created=start)
    session = PortalSession(id="sess_sample", merchant_id=merchant.id, customer_id=customer.id, customer=customer,
                            merchant=merchant, return_url=document["default_return_url"] or SAMPLE_RETURN_URL,
                            locale=locale, created=now, expires_at=now + PortalSession.LIFETIME, redeemed_at=now)
    g.portal_session, g.customer, g.merchant, g.portal_config = session, customer, merchant, config
    g.return_url, g.locale = session.return_url, locale if locale in LOCALES else "en"
    refresh_babel()
    try:
        html = render_template(
            "portal/overview.html", customer=customer, due_invoices=[], ended=[], latest_invoices=[invoice],
            current=[SubscriptionCard(subscription, None, None, end, plan.amount)], default_method=card,
            **portal_page_context())
    finally:
        forget_portal_identity()
    return SamplePortal(_inert_links(html), customer.name)


def _sample_plan(document: dict, merchant: Merchant, plans: list[Plan]) -> Plan:
    by_id = {plan.id: plan for plan in plans}
    offered = [by_id[plan_id] for plan_id in document["features"]["subscription_update"]["plans"] if plan_id in by_id]
    if offered or plans:
        return (offered or plans)[0]
    return Plan(id="plan_sample", merchant_id=merchant.id, active=True, **EXAMPLE_PLAN)


def _inert_links(html: str) -> str:
    # The preview frame is sandboxed without popups: links opening in a new tab do nothing, instead of loading
    # real portal pages (which would refuse, having no session) inside the frame.
    return html.replace("<head>", '<head><base target="_blank">', 1)


def offered_plans(document: dict, plans: list[Plan]) -> list[Plan]:
    """The plans a customer may switch to, in the order they are shown (empty setting: every active plan)."""
    chosen = document["features"]["subscription_update"]["plans"]
    if not chosen:
        return list(plans)
    by_id = {plan.id: plan for plan in plans}
    return [by_id[plan_id] for plan_id in chosen if plan_id in by_id]
