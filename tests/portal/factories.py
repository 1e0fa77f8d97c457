"""Subscriptions in any state the overview shows, written straight to the database (customers and plans come
from tests/factories.py)."""
from xtoportal import clock
from xtoportal.billing.periods import period_bounds
from xtoportal.extensions import db
from xtoportal.models import Customer, Plan, Subscription


def make_subscription(customer: Customer, plan: Plan, status: str = "active", anchor: int | None = None,
                      **fields) -> Subscription:
    anchor = clock.now() if anchor is None else anchor
    start, end = period_bounds(anchor, plan.interval, plan.interval_count, 0)
    subscription = Subscription(
        merchant_id=customer.merchant_id, customer_id=customer.id, plan_id=plan.id, status=status,
        billing_anchor=anchor, current_period_start=start, current_period_end=end, **fields,
    )
    db.session.add(subscription)
    db.session.commit()
    return subscription
