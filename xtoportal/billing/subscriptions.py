"""Subscriptions: start, change plan (with proration), cancel, pause, resume, renew.

Every function takes the time (`now`) and the `Origin` of the change, changes the models, writes its events to the
outbox and leaves the commit to the caller, so a change and its events land together or not at all.
"""
from dataclasses import dataclass

from ..events import Origin, changed_fields, emit
from ..extensions import db
from ..models import Customer, Invoice, PaymentMethod, Plan, Subscription
from . import payments, periods, proration
from .errors import BillingError, StateConflict
from .invoices import Line, create_invoice

LIVE_STATUSES = ("trialing", "active", "past_due")


def default_method(customer: Customer) -> PaymentMethod | None:
    if not customer.default_payment_method_id:
        return None
    method = db.session.get(PaymentMethod, customer.default_payment_method_id)
    return method if method is not None and method.detached_at is None else None


def period_line(plan: Plan, start: int, end: int) -> Line:
    return Line(description=plan.name, amount=plan.amount, period_start=start, period_end=end, plan_id=plan.id)


def create_subscription(customer: Customer, plan: Plan, origin: Origin, now: int,
                        trial_period_days: int | None = None) -> Subscription:
    """Start `plan` for `customer`: a trial bills nothing; otherwise the first period is invoiced and charged now."""
    if not plan.active:
        raise BillingError("This plan is not active.", param="plan_id")
    subscription = Subscription(merchant_id=customer.merchant_id, customer_id=customer.id, plan=plan,
                                cancel_at_period_end=False, created=now)
    if trial_period_days:
        trial_end = periods.add_interval(now, "day", trial_period_days, 1)
        subscription.status = "trialing"
        subscription.trial_end = trial_end
        subscription.billing_anchor, subscription.period_index = trial_end, 0
        subscription.current_period_start, subscription.current_period_end = now, trial_end
        db.session.add(subscription)
        db.session.flush()
    else:
        _start_period(subscription, plan, anchor=now)
        subscription.status = "incomplete"
        db.session.add(subscription)
        db.session.flush()
        invoice = _invoice_current_period(subscription, origin, now)
        payments.collect(invoice, default_method(customer), origin, now, missing_method_fails=False, announce=False)
    emit(subscription.merchant_id, "subscription.created", subscription.to_api(), origin)
    return subscription


def _start_period(subscription: Subscription, plan: Plan, anchor: int) -> None:
    subscription.billing_anchor, subscription.period_index = anchor, 0
    subscription.current_period_start, subscription.current_period_end = periods.period_bounds(
        anchor, plan.interval, plan.interval_count, 0)


def _invoice_current_period(subscription: Subscription, origin: Origin, now: int,
                            extra_lines: tuple[Line, ...] = ()) -> Invoice:
    line = period_line(subscription.plan, subscription.current_period_start, subscription.current_period_end)
    return create_invoice(subscription.customer, subscription.plan.currency, [*extra_lines, line], origin, now,
                          subscription_id=subscription.id)


# --- changing plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """What a plan change does, computed once for the preview and for the change itself."""

    new_plan: Plan
    lines: tuple[Line, ...]
    new_period: tuple[int, int]
    starts_new_period: bool

    @property
    def amount_due_now(self) -> int:
        return max(sum(line.amount * line.quantity for line in self.lines), 0)

    @property
    def credit(self) -> int:
        return max(-sum(line.amount * line.quantity for line in self.lines), 0)


def is_downgrade(subscription: Subscription, new_plan: Plan) -> bool:
    """Cheaper per day than the current plan (so a yearly plan is compared fairly with a monthly one)."""
    def per_day(plan: Plan) -> float:
        days = {"day": 1, "week": 7, "month": 30.436875, "year": 365.2425}[plan.interval] * plan.interval_count
        return plan.amount / days
    return per_day(new_plan) < per_day(subscription.plan)


def preview_plan_change(subscription: Subscription, new_plan: Plan, proration_behavior: str, now: int) -> PlanChange:
    """The lines the change would bill now; no side effects. `change_plan` applies exactly this."""
    _check_plan_change(subscription, new_plan)
    old = subscription.plan
    start, end = subscription.current_period_start, subscription.current_period_end
    prorate = proration_behavior == "create_prorations" and subscription.status != "trialing"
    if subscription.status == "trialing":
        return PlanChange(new_plan, (), (start, end), starts_new_period=False)
    if (old.interval, old.interval_count) != (new_plan.interval, new_plan.interval_count):
        new_period = periods.period_bounds(now, new_plan.interval, new_plan.interval_count, 0)
        lines = []
        credit = proration.unused_credit(old.amount, start, end, now) if prorate else 0
        if credit:
            lines.append(Line(f"Unused time on {old.name}", credit, now, end, proration=True, plan_id=old.id))
        lines.append(period_line(new_plan, *new_period))
        return PlanChange(new_plan, tuple(lines), new_period, starts_new_period=True)
    lines = ()
    if prorate:
        result = proration.prorate(old.amount, new_plan.amount, start, end, now)
        lines = (
            Line(f"Unused time on {old.name}", result.credit, now, end, proration=True, plan_id=old.id),
            Line(f"Remaining time on {new_plan.name}", result.charge, now, end, proration=True, plan_id=new_plan.id),
        )
    return PlanChange(new_plan, lines, (start, end), starts_new_period=False)


def _check_plan_change(subscription: Subscription, new_plan: Plan) -> None:
    if subscription.status not in LIVE_STATUSES:
        raise StateConflict(f"A {subscription.status} subscription cannot change plan.")
    if new_plan.id == subscription.plan_id:
        raise BillingError("The subscription is already on this plan.", param="plan_id")
    if not new_plan.active:
        raise BillingError("This plan is not active.", param="plan_id")
    if new_plan.currency != subscription.plan.currency:
        raise BillingError(
            f"This plan is billed in {new_plan.currency.upper()}, the subscription in "
            f"{subscription.plan.currency.upper()}.", param="plan_id")


def change_plan(subscription: Subscription, new_plan: Plan, proration_behavior: str, origin: Origin,
                now: int) -> Invoice | None:
    """Switch plan now and bill the previewed lines at once (a net credit goes to the customer's balance)."""
    change = preview_plan_change(subscription, new_plan, proration_behavior, now)
    before = subscription.to_api()
    subscription.plan = new_plan
    subscription.pending_plan_id = subscription.pending_effective_at = None
    if change.starts_new_period:
        _start_period(subscription, new_plan, anchor=now)
    invoice = None
    if change.lines:
        invoice = create_invoice(subscription.customer, new_plan.currency, list(change.lines), origin, now,
                                 subscription_id=subscription.id)
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.updated", after, origin,
         previous_attributes=changed_fields(before, after))
    if invoice is not None:
        payments.collect(invoice, default_method(subscription.customer), origin, now)
    return invoice


def schedule_plan_change(subscription: Subscription, new_plan: Plan, origin: Origin) -> None:
    """Switch plan at the end of the current period, without proration (`pending_update`)."""
    _check_plan_change(subscription, new_plan)
    before = subscription.to_api()
    subscription.pending_plan_id = new_plan.id
    subscription.pending_effective_at = subscription.current_period_end
    _emit_updated(subscription, before, origin)


def withdraw_scheduled_change(subscription: Subscription, origin: Origin) -> None:
    if subscription.pending_plan_id is None:
        raise StateConflict("This subscription has no scheduled plan change.")
    before = subscription.to_api()
    subscription.pending_plan_id = subscription.pending_effective_at = None
    _emit_updated(subscription, before, origin)


def _emit_updated(subscription: Subscription, before: dict, origin: Origin) -> None:
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.updated", after, origin,
         previous_attributes=changed_fields(before, after))


# --- cancel, pause, resume -------------------------------------------------------------------------------------


def cancel(subscription: Subscription, at_period_end: bool, origin: Origin, now: int,
           reason: str | None = None, comment: str | None = None) -> None:
    """Cancel at period end (undoable until then) or at once; the survey answer is kept."""
    if subscription.status == "canceled":
        raise StateConflict("This subscription is already canceled.")
    if at_period_end and subscription.status in ("paused", "incomplete"):
        at_period_end = False  # nothing paid runs on: a paused or never-paid subscription ends now
    if reason is not None or comment is not None:
        subscription.cancellation_reason, subscription.cancellation_comment = reason, comment
    before = subscription.to_api()
    if at_period_end:
        if subscription.cancel_at_period_end:
            raise StateConflict("This subscription is already set to cancel at the end of its period.")
        subscription.cancel_at_period_end = True
        subscription.canceled_at = now
        emit(subscription.merchant_id, "subscription.cancellation_scheduled", subscription.to_api(), origin,
             previous_attributes=changed_fields(before, subscription.to_api()))
    else:
        end(subscription, origin, now)


def end(subscription: Subscription, origin: Origin, now: int) -> None:
    before = subscription.to_api()
    subscription.status = "canceled"
    subscription.canceled_at = subscription.canceled_at or now
    subscription.ended_at = now
    subscription.cancel_at_period_end = False
    subscription.pending_plan_id = subscription.pending_effective_at = None
    subscription.pause_resumes_at = None
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.canceled", after, origin,
         previous_attributes=changed_fields(before, after))


def undo_cancellation(subscription: Subscription, origin: Origin) -> None:
    if not subscription.cancel_at_period_end or subscription.status == "canceled":
        raise StateConflict("This subscription is not scheduled to cancel.")
    before = subscription.to_api()
    subscription.cancel_at_period_end = False
    subscription.canceled_at = None
    subscription.cancellation_reason = subscription.cancellation_comment = None
    _emit_updated(subscription, before, origin)


def pause(subscription: Subscription, resumes_at: int | None, origin: Origin, now: int) -> None:
    """Stop billing until `resumes_at` (or until resumed by hand)."""
    if subscription.status not in ("active", "trialing", "past_due"):
        raise StateConflict(f"A {subscription.status} subscription cannot be paused.")
    if resumes_at is not None and resumes_at <= now:
        raise BillingError("resumes_at must be in the future.", param="resumes_at")
    before = subscription.to_api()
    subscription.status = "paused"
    subscription.paused_at = now
    subscription.pause_resumes_at = resumes_at
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.paused", after, origin,
         previous_attributes=changed_fields(before, after))


def resume(subscription: Subscription, origin: Origin, now: int) -> Invoice:
    """Start a new period now and bill it."""
    if subscription.status != "paused":
        raise StateConflict("Only a paused subscription can be resumed.")
    before = subscription.to_api()
    subscription.status = "active"
    subscription.paused_at = subscription.pause_resumes_at = None
    subscription.trial_end = None if subscription.trial_end and subscription.trial_end > now else subscription.trial_end
    _start_period(subscription, subscription.plan, anchor=now)
    invoice = _invoice_current_period(subscription, origin, now)
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.resumed", after, origin,
         previous_attributes=changed_fields(before, after))
    payments.collect(invoice, default_method(subscription.customer), origin, now)
    return invoice


# --- time passing -----------------------------------------------------------------------------------------------


def advance(subscription: Subscription, origin: Origin, now: int) -> bool:
    """Do what is due for this subscription at `now` (one step); True if anything happened."""
    if subscription.status == "paused":
        if subscription.pause_resumes_at is not None and subscription.pause_resumes_at <= now:
            resume(subscription, origin, now)
            return True
        return False
    if subscription.status not in LIVE_STATUSES or subscription.current_period_end > now:
        return False
    boundary = subscription.current_period_end
    if subscription.cancel_at_period_end:
        end(subscription, origin, boundary)
        return True
    before = subscription.to_api()
    if subscription.pending_plan_id:
        new_plan = db.session.get(Plan, subscription.pending_plan_id)
        changes_interval = (new_plan.interval, new_plan.interval_count) != (
            subscription.plan.interval, subscription.plan.interval_count)
        subscription.plan = new_plan
        subscription.pending_plan_id = subscription.pending_effective_at = None
        if changes_interval:
            _start_period(subscription, new_plan, anchor=boundary)
        else:
            _next_period(subscription)
    elif subscription.status == "trialing":
        subscription.status = "active"
        _start_period(subscription, subscription.plan, anchor=boundary)
    else:
        _next_period(subscription)
    _emit_updated(subscription, before, origin)
    invoice = _invoice_current_period(subscription, origin, now)
    payments.collect(invoice, default_method(subscription.customer), origin, now)
    return True


def _next_period(subscription: Subscription) -> None:
    plan = subscription.plan
    subscription.period_index += 1
    subscription.current_period_start, subscription.current_period_end = periods.period_bounds(
        subscription.billing_anchor, plan.interval, plan.interval_count, subscription.period_index)
