"""Subscriptions: start, change plan (with proration), cancel, pause, resume, renew.

Every function takes the time (`now`) and the `Origin` of the change, changes the models, writes its events to the
outbox and leaves the commit to the caller, so a change and its events land together or not at all.
"""
from dataclasses import dataclass, replace

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


# --- what an invoice will ask for ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bill:
    """An invoice about to be made: its total and how the customer's credit balance settles it."""

    total: int
    credit_applied: int  # taken from the balance (>= 0)
    amount_due: int  # what the payment method is charged
    credit_added: int  # a negative total goes to the balance (>= 0)


def split_credit(balance: int, total: int) -> Bill:
    """How `create_invoice` settles `total` against a credit `balance` (the same rule, without side effects)."""
    if total < 0:
        return Bill(total, 0, 0, -total)
    applied = min(balance, total)
    return Bill(total, applied, total - applied, 0)


def credit_balance(customer: Customer, currency: str) -> int:
    """What the customer is owed in `currency` (minor units)."""
    return (customer.credit_balance or {}).get(currency, 0)


# --- changing plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """What a plan change does, computed once for the preview and for the change itself.

    A change applies now (its `lines` billed at once) or, when `scheduled`, at `effective_at` (the period end)
    without proration. `next_invoice` is the renewal that follows, with the credit left after this change.
    """

    new_plan: Plan
    lines: tuple[Line, ...]
    new_period: tuple[int, int]
    starts_new_period: bool
    effective_at: int
    scheduled: bool = False
    bill: Bill | None = None  # None when nothing is billed now
    next_invoice_at: int | None = None  # None when the subscription ends instead of renewing
    next_invoice: Bill | None = None

    @property
    def amount_due_now(self) -> int:
        return self.bill.amount_due if self.bill else 0

    @property
    def credit(self) -> int:
        return self.bill.credit_added if self.bill else 0


def is_downgrade(subscription: Subscription, new_plan: Plan) -> bool:
    """Cheaper per day than the current plan (so a yearly plan is compared fairly with a monthly one)."""
    def per_day(plan: Plan) -> float:
        days = {"day": 1, "week": 7, "month": 30.436875, "year": 365.2425}[plan.interval] * plan.interval_count
        return plan.amount / days
    return per_day(new_plan) < per_day(subscription.plan)


def preview_plan_change(subscription: Subscription, new_plan: Plan, proration_behavior: str, now: int,
                        downgrades: str = "immediately") -> PlanChange:
    """What switching to `new_plan` bills now and next; no side effects. `change_plan` applies exactly this.

    `downgrades="at_period_end"` (the portal configuration's choice) schedules a cheaper plan for the period end.
    """
    _check_plan_change(subscription, new_plan)
    old = subscription.plan
    start, end = subscription.current_period_start, subscription.current_period_end
    balance = credit_balance(subscription.customer, old.currency)
    if subscription.status == "trialing":  # nothing was paid, so nothing is prorated: the trial runs on
        return _with_next_invoice(subscription, PlanChange(new_plan, (), (start, end), False, now), balance)
    if downgrades == "at_period_end" and is_downgrade(subscription, new_plan):
        change = PlanChange(new_plan, (), (start, end), False, end, scheduled=True)
        return _with_next_invoice(subscription, change, balance)
    prorate = proration_behavior == "create_prorations"
    if (old.interval, old.interval_count) != (new_plan.interval, new_plan.interval_count):
        new_period = periods.period_bounds(now, new_plan.interval, new_plan.interval_count, 0)
        lines = []
        credit = proration.unused_credit(old.amount, start, end, now) if prorate else 0
        if credit:
            lines.append(Line(f"Unused time on {old.name}", credit, now, end, proration=True, plan_id=old.id))
        lines.append(period_line(new_plan, *new_period))
        change = PlanChange(new_plan, tuple(lines), new_period, True, now)
    else:
        lines = ()
        if prorate:
            result = proration.prorate(old.amount, new_plan.amount, start, end, now)
            lines = (
                Line(f"Unused time on {old.name}", result.credit, now, end, proration=True, plan_id=old.id),
                Line(f"Remaining time on {new_plan.name}", result.charge, now, end, proration=True,
                     plan_id=new_plan.id),
            )
        change = PlanChange(new_plan, lines, (start, end), False, now)
    return _with_next_invoice(subscription, change, balance)


def _with_next_invoice(subscription: Subscription, change: PlanChange, balance: int) -> PlanChange:
    bill = split_credit(balance, sum(line.amount * line.quantity for line in change.lines)) if change.lines else None
    if bill is not None:
        balance = balance - bill.credit_applied + bill.credit_added
    if subscription.cancel_at_period_end:
        return replace(change, bill=bill)
    next_at = change.new_period[1]
    return replace(change, bill=bill, next_invoice_at=next_at, next_invoice=split_credit(balance, change.new_plan.amount))


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
                now: int, downgrades: str = "immediately") -> Invoice | None:
    """Switch plan as `preview_plan_change` says: now, billing its lines at once (a net credit goes to the
    customer's balance), or at period end when it is a scheduled downgrade (then nothing is billed now)."""
    change = preview_plan_change(subscription, new_plan, proration_behavior, now, downgrades)
    if change.scheduled:
        schedule_plan_change(subscription, new_plan, origin)
        return None
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
    if subscription.pending_plan_id == new_plan.id:
        raise StateConflict("This plan change is already scheduled.")
    before = subscription.to_api()
    subscription.pending_plan_id = new_plan.id
    subscription.pending_effective_at = subscription.current_period_end
    _emit_updated(subscription, before, origin)


def withdraw_scheduled_change(subscription: Subscription, origin: Origin) -> None:
    """Keep the current plan after all: drop the change scheduled for period end."""
    if subscription.pending_plan_id is None:
        raise StateConflict("This subscription has no scheduled plan change.")
    before = subscription.to_api()
    subscription.pending_plan_id = subscription.pending_effective_at = None
    _emit_updated(subscription, before, origin)


def _emit_updated(subscription: Subscription, before: dict, origin: Origin) -> None:
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.updated", after, origin,
         previous_attributes=changed_fields(before, after))


# --- starting again ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewPeriod:
    """The period a resume or a new subscription would start now, and how its first invoice is settled."""

    plan: Plan
    period: tuple[int, int]
    bill: Bill


def preview_start(customer: Customer, plan: Plan, now: int) -> NewPeriod:
    """What subscribing `customer` to `plan` now would bill (no trial); no side effects."""
    return NewPeriod(plan, periods.period_bounds(now, plan.interval, plan.interval_count, 0),
                     split_credit(credit_balance(customer, plan.currency), plan.amount))


def resubscribe(ended: Subscription, plan: Plan, origin: Origin, now: int) -> Subscription:
    """Start `plan` again for the customer of an ended subscription: a new subscription, billed now.

    Refused once the customer has started a subscription since this one ended (`started_since`), so a repeated
    request (a double click, a second tab) starts one subscription, not two. The caller holds `ended` locked.
    """
    if ended.status != "canceled":
        raise StateConflict("Only a subscription that has ended can be started again.")
    if plan.currency != ended.plan.currency:
        raise BillingError(
            f"This plan is billed in {plan.currency.upper()}, the subscription was in "
            f"{ended.plan.currency.upper()}.", param="plan_id")
    if started_since(ended) is not None:
        raise StateConflict("A new subscription has already been started since this one ended.")
    return create_subscription(ended.customer, plan, origin, now)


def started_since(ended: Subscription) -> Subscription | None:
    """The customer's newest subscription started since `ended` ended and not itself ended, if any."""
    return db.session.scalars(
        db.select(Subscription).where(
            Subscription.customer_id == ended.customer_id, Subscription.id != ended.id,
            Subscription.status != "canceled", Subscription.created >= (ended.ended_at or ended.created),
        ).order_by(Subscription.sort_key.desc()).limit(1)).first()


# --- cancel, pause, resume -------------------------------------------------------------------------------------


def cancellation_effective_at(subscription: Subscription, at_period_end: bool, now: int) -> int:
    """When cancelling ends the subscription: its period end, or now for an immediate cancel and for a paused or
    never-paid subscription (nothing paid runs on)."""
    if at_period_end and subscription.status not in ("paused", "incomplete"):
        return subscription.current_period_end
    return now


def cancel(subscription: Subscription, at_period_end: bool, origin: Origin, now: int,
           reason: str | None = None, comment: str | None = None) -> None:
    """Cancel at period end (undoable until then) or at once; the survey answer is kept."""
    if subscription.status == "canceled":
        raise StateConflict("This subscription is already canceled.")
    at_period_end = cancellation_effective_at(subscription, at_period_end, now) != now
    if at_period_end and subscription.cancel_at_period_end:
        raise StateConflict("This subscription is already set to cancel at the end of its period.")
    before = subscription.to_api()
    if reason is not None or comment is not None:
        subscription.cancellation_reason, subscription.cancellation_comment = reason, comment
    if at_period_end:
        subscription.cancel_at_period_end = True
        subscription.canceled_at = now
        emit(subscription.merchant_id, "subscription.cancellation_scheduled", subscription.to_api(), origin,
             previous_attributes=changed_fields(before, subscription.to_api()))
    else:
        end(subscription, origin, now, before)


def end(subscription: Subscription, origin: Origin, now: int, before: dict | None = None) -> None:
    """The subscription is over now: `subscription.canceled`."""
    before = before or subscription.to_api()
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
    """Keep a subscription that was set to end at period end; it renews as before."""
    if not subscription.cancel_at_period_end or subscription.status == "canceled":
        raise StateConflict("This subscription is not scheduled to cancel.")
    before = subscription.to_api()
    subscription.cancel_at_period_end = False
    subscription.canceled_at = None
    subscription.cancellation_reason = subscription.cancellation_comment = None
    _emit_updated(subscription, before, origin)


PAUSABLE_STATUSES = ("active", "trialing", "past_due")
PAUSE_CYCLES = (1, 2, 3)  # what the portal offers: pause for one, two or three billing periods


def check_pausable(subscription: Subscription) -> None:
    """StateConflict unless the subscription may be paused now."""
    if subscription.status not in PAUSABLE_STATUSES:
        raise StateConflict(f"A {subscription.status} subscription cannot be paused.")
    if subscription.cancel_at_period_end:
        raise StateConflict("This subscription is set to cancel; undo the cancellation before pausing it.")


def resumes_at_after_cycles(subscription: Subscription, cycles: int, now: int) -> int:
    """When a pause of `cycles` billing periods that starts now ends (month ends clamp, as periods do)."""
    if cycles not in PAUSE_CYCLES:
        raise BillingError(f"A pause lasts {', '.join(map(str, PAUSE_CYCLES))} billing periods.", param="cycles")
    plan = subscription.plan
    return periods.add_interval(now, plan.interval, plan.interval_count, cycles)


def pause_credit(subscription: Subscription, now: int) -> int:
    """What pausing now gives back (>= 0): the unused part of a paid current period, at the current price.

    A trial, a past-due period or one whose invoice is still open was not paid, so it gives nothing back.
    """
    if subscription.status != "active" or now >= subscription.current_period_end or not subscription.plan.amount:
        return 0
    unpaid = db.session.scalar(db.select(Invoice.id).where(
        Invoice.subscription_id == subscription.id, Invoice.status == "open").limit(1))
    if unpaid:
        return 0
    return -proration.unused_credit(subscription.plan.amount, subscription.current_period_start,
                                    subscription.current_period_end, now)


def pause(subscription: Subscription, resumes_at: int | None, origin: Origin, now: int) -> Invoice | None:
    """Stop billing now, until `resumes_at` (or until resumed by hand).

    The unused, paid part of the current period is credited to the customer's balance (a credit invoice), so
    the period that resuming starts and bills is paid from it first. A plan change scheduled for the period end
    takes effect now, so the subscription resumes on that plan. Returns the credit invoice, if any.
    """
    check_pausable(subscription)
    if resumes_at is not None and resumes_at <= now:
        raise BillingError("resumes_at must be in the future.", param="resumes_at")
    before = subscription.to_api()
    credit = pause_credit(subscription, now)
    invoice = None
    if credit:
        plan = subscription.plan
        line = Line(f"Unused time on {plan.name} (paused)", -credit, now, subscription.current_period_end,
                    proration=True, plan_id=plan.id)
        invoice = create_invoice(subscription.customer, plan.currency, [line], origin, now,
                                 subscription_id=subscription.id)
    if subscription.pending_plan_id:
        subscription.plan = db.session.get(Plan, subscription.pending_plan_id)
        subscription.pending_plan_id = subscription.pending_effective_at = None
    subscription.status = "paused"
    subscription.paused_at = now
    subscription.pause_resumes_at = resumes_at
    after = subscription.to_api()
    emit(subscription.merchant_id, "subscription.paused", after, origin,
         previous_attributes=changed_fields(before, after))
    return invoice


def preview_resume(subscription: Subscription, now: int) -> NewPeriod:
    """What resuming now would start and bill; no side effects. `resume` bills exactly this."""
    if subscription.status != "paused":
        raise StateConflict("Only a paused subscription can be resumed.")
    return preview_start(subscription.customer, subscription.plan, now)


def resume(subscription: Subscription, origin: Origin, now: int) -> Invoice:
    """Start a new period now and bill it (the credit left by the pause pays first)."""
    preview_resume(subscription, now)
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
