"""Portal: changing plan, cancelling (with the pause offer and the survey), pausing, resuming, starting again.

Each flow is one self-replacing partial (`_plan_flow.html`, `_cancel_flow.html`, `_pause_flow.html`,
`_resubscribe_flow.html`) whose step follows from the subscription's state and the request: a GET shows the
step the state calls for, each POST returns the partial in its next state (htmx) or redirects to the GET that
shows it (plain HTML, Post/Redirect/Get). Every amount comes from the billing engine's previews, which are what
the change then bills; routes and templates never compute money.
"""
import datetime as dt
from functools import wraps

from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext, ngettext
from itsdangerous import BadSignature, Signer

from .. import clock
from ..billing import subscriptions as billing
from ..billing.clock import locked
from ..billing.errors import BillingError, StateConflict
from ..events import Origin
from ..extensions import db
from ..models import Invoice, Plan, PortalSession, Subscription
from . import bp
from .access import (
    portal_invoice_or_404, portal_login_required, portal_subscription_or_404, refused_page, wants_fragment,
)
from .forms import has_control_characters

PORTAL = Origin("portal")
DAY = 86_400
LONGEST_PAUSE_DAYS = 365  # "until a date": at most a year ahead
COMMENT_MAX = 500

SURVEY_LABELS = {
    "too_expensive": lazy_gettext("It's too expensive"),
    "missing_features": lazy_gettext("Some features are missing"),
    "switched_service": lazy_gettext("I'm switching to another service"),
    "unused": lazy_gettext("I don't use it enough"),
    "customer_service": lazy_gettext("Customer service was less than expected"),
    "too_complex": lazy_gettext("It's too complicated to use"),
    "low_quality": lazy_gettext("Quality was less than expected"),
    "other": lazy_gettext("Another reason"),
}
QUERY_NAMES = {"invoice_id": "invoice"}  # how an outcome is written in the URL the browser is redirected to
# The flows a portal session can deep-link into (API.md `flow`), and the entry point of each.
FLOW_ENDPOINTS = {"subscription_update": "portal.change_plan", "subscription_cancel": "portal.cancel_subscription"}


# --- guards and rendering ------------------------------------------------------------------------------------


def refuse_in_preview(view):
    """403 for anything that changes data while staff preview a customer's portal."""
    @wraps(view)
    def guarded(*args, **kwargs):
        if g.get("portal_preview"):
            return refused_page(_("This is a read-only preview: changes are made by the customer."))
        return view(*args, **kwargs)
    return guarded


def feature_required(name: str):
    """403 when the merchant's portal configuration disables `name` (the templates hide it too)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not g.portal_config.allows(name):
                return refused_page(_("This isn't available for this account."))
            return view(*args, **kwargs)
        return guarded
    return decorate


def render_flow(partial: str, status: int = 200, **context):
    """The flow's partial alone for htmx, or inside its page."""
    context.setdefault("exit", exit_link(context["subscription"]))
    template = f"portal/{partial}" if wants_fragment() else "portal/subscription_flow.html"
    return render_template(template, partial=partial, **context), status


def after_change(render, endpoint: str, subscription: Subscription, **outcome):
    """What a POST that changed something answers: htmx gets the next state; a browser is redirected to it."""
    db.session.commit()
    if wants_fragment():
        return render(subscription, **outcome)
    query = {QUERY_NAMES.get(name, name): value for name, value in outcome.items() if value}
    return redirect(url_for(endpoint, id=subscription.id, **query), 303)


def flow_destination(session: PortalSession) -> str | None:
    """Where a portal link with a `subscription_update` or `subscription_cancel` flow lands; None for other flows."""
    flow = session.flow or {}
    endpoint = FLOW_ENDPOINTS.get(flow.get("type"))
    if endpoint is None or not flow.get("subscription_id"):
        return None
    return url_for(endpoint, id=flow["subscription_id"])


def exit_link(subscription: Subscription) -> dict:
    """Where "Done" goes: back to the merchant when the session deep-linked to this subscription, else the
    overview."""
    flow = g.portal_session.flow or {}
    if flow.get("subscription_id") == subscription.id:
        return {"url": g.return_url, "external": True}
    return {"url": url_for("portal.overview"), "external": False}


def visible_plans(currency: str) -> list[Plan]:
    """The plans a customer may switch to or start, in `currency`: the configuration's list in its order, or
    (an empty list) every active plan of the merchant, cheapest first."""
    ids = g.portal_config.feature("subscription_update")["plans"]
    query = db.select(Plan).where(Plan.merchant_id == g.merchant.id, Plan.active.is_(True),
                                  Plan.currency == currency)
    if not ids:
        return list(db.session.scalars(query.order_by(Plan.amount, Plan.sort_key)))
    found = {plan.id: plan for plan in db.session.scalars(query.where(Plan.id.in_(ids)))}
    return [found[id] for id in ids if id in found]


def _visible_plan(plan_id, currency: str) -> Plan | None:
    return next((plan for plan in visible_plans(currency) if plan.id == plan_id), None)


def locked_subscription_or_404(id: str) -> Subscription:
    """One of this customer's subscriptions, its row locked until commit and read afresh, so two tabs or a double
    click confirming the same change take turns and the second finds it done.

    (`portal_subscription_or_404(id, lock=True)` locks next to the outer-joined plan, which PostgreSQL refuses.)
    """
    portal_subscription_or_404(id)  # whose it is: 404 for anyone else's
    return locked(Subscription, id)


def _open_invoice(invoice_id) -> Invoice | None:
    return portal_invoice_or_404(invoice_id) if invoice_id else None


def quote(now: int) -> str:
    """The moment a review's amounts were computed, signed, for its form: confirming bills exactly those amounts."""
    return _quote_signer().sign(str(now)).decode()


def quoted_time(form, subscription: Subscription, now: int) -> int:
    """The signed moment of the review being confirmed, if genuine, recent (the session's lifetime) and within the
    current period; otherwise now."""
    try:
        at = int(_quote_signer().unsign(form.get("quote", "")).decode())
    except (BadSignature, ValueError):
        return now
    return at if max(now - PortalSession.LIFETIME, subscription.current_period_start) <= at <= now else now


def _quote_signer() -> Signer:
    keys = [*reversed(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.config["SECRET_KEY"]]
    return Signer(keys, salt="xtoportal.portal-quote")


# --- change plan ---------------------------------------------------------------------------------------------


@bp.get("/subscriptions/<id>/plan")
@portal_login_required
@feature_required("subscription_update")
def change_plan(id):
    """Pick a plan (the current one marked); `?plan_id=` reviews the change with its exact amounts."""
    subscription = portal_subscription_or_404(id)
    done = request.args.get("done")
    if done:
        return render_plan_flow(subscription, done=done, invoice_id=request.args.get("invoice"))
    plan_id = request.args.get("plan_id")
    if plan_id is None and not request.args.get("review"):
        return render_plan_flow(subscription)
    plan = _visible_plan(plan_id, subscription.plan.currency)
    if plan is None or plan.id == subscription.plan_id:
        return render_plan_flow(subscription, error=_("Choose one of the plans listed."), status=422)
    return render_plan_flow(subscription, chosen=plan)


@bp.post("/subscriptions/<id>/plan")
@portal_login_required
@feature_required("subscription_update")
@refuse_in_preview
def confirm_plan_change(id):
    """Apply the reviewed change: now (billing the proration at once) or, for a downgrade the configuration
    schedules, at period end."""
    subscription = locked_subscription_or_404(id)
    plan_id = request.form.get("plan_id")
    if plan_id == subscription.plan_id:  # a second click of the same confirmation: it is done already
        return render_plan_flow(subscription, done="changed")
    if plan_id and plan_id == subscription.pending_plan_id:
        return render_plan_flow(subscription, done="scheduled")
    plan = _visible_plan(plan_id, subscription.plan.currency)
    if plan is None:
        return render_plan_flow(subscription, error=_("Choose one of the plans listed."), status=422)
    settings = g.portal_config.feature("subscription_update")
    at = quoted_time(request.form, subscription, clock.now())
    try:
        invoice = billing.change_plan(subscription, plan, settings["proration_behavior"], PORTAL, at,
                                      downgrades=settings["downgrades"])
    except BillingError as exc:
        return render_plan_flow(subscription, error=exc.message, status=409)
    done = "scheduled" if subscription.pending_plan_id == plan.id else "changed"
    return after_change(render_plan_flow, "portal.change_plan", subscription, done=done,
                        invoice_id=invoice.id if invoice else None)


@bp.post("/subscriptions/<id>/plan/withdraw")
@portal_login_required
@feature_required("subscription_update")
@refuse_in_preview
def withdraw_plan_change(id):
    """Keep the current plan: drop the change scheduled for period end."""
    subscription = locked_subscription_or_404(id)
    if subscription.pending_plan_id is None:  # withdrawn already (a second click, another tab)
        return render_plan_flow(subscription, done="withdrawn")
    billing.withdraw_scheduled_change(subscription, PORTAL)
    return after_change(render_plan_flow, "portal.change_plan", subscription, done="withdrawn")


def render_plan_flow(subscription: Subscription, chosen: Plan | None = None, done: str | None = None,
                     invoice_id: str | None = None, error: str | None = None, status: int = 200):
    """The change-plan partial: the step follows from the subscription's state, the chosen plan and the outcome."""
    context = {"subscription": subscription, "error": error,
               "pending_plan": db.session.get(Plan, subscription.pending_plan_id) if subscription.pending_plan_id
               else None}
    if subscription.status not in billing.LIVE_STATUSES:
        step = "unavailable"
    elif done in ("changed", "scheduled", "withdrawn"):
        step = "done"
        context.update(done=done, invoice=_open_invoice(invoice_id))
    elif subscription.cancel_at_period_end:
        step = "unavailable"
    elif chosen is not None:
        step = "review"
        settings = g.portal_config.feature("subscription_update")
        now = clock.now()
        context.update(chosen=chosen, change=billing.preview_plan_change(
            subscription, chosen, settings["proration_behavior"], now, downgrades=settings["downgrades"]),
            payment_method=billing.default_method(subscription.customer), quote=quote(now))
    else:
        step = "choose"
        plans = visible_plans(subscription.plan.currency)
        if subscription.plan not in plans:
            plans.insert(0, subscription.plan)
        context.update(plans=plans)
    return render_flow("_plan_flow.html", status, step=step, **context)


# --- cancel --------------------------------------------------------------------------------------------------


def cancel_steps(subscription: Subscription) -> list[str]:
    """The steps this cancellation goes through, as the configuration and the subscription allow."""
    settings = g.portal_config.feature("subscription_cancel")
    steps = []
    if pause_offered(subscription, settings):
        steps.append("offer")
    if settings["survey"]["enabled"]:
        steps.append("survey")
    return [*steps, "confirm"]


def pause_offered(subscription: Subscription, settings: dict) -> bool:
    """Pause-before-cancel: offered when the merchant enables it and pausing, and this subscription can pause."""
    if not (settings["pause_before_cancel"]["enabled"] and g.portal_config.allows("subscription_pause")):
        return False
    try:
        billing.check_pausable(subscription)
    except StateConflict:
        return False
    return True


@bp.get("/subscriptions/<id>/cancel")
@portal_login_required
@feature_required("subscription_cancel")
def cancel_subscription(id):
    """The first step of cancelling (the pause offer, the survey or the confirmation), or where it stands."""
    subscription = portal_subscription_or_404(id)
    return render_cancel_flow(subscription, step=request.args.get("step"), done=request.args.get("done"))


@bp.post("/subscriptions/<id>/cancel/survey")
@portal_login_required
@feature_required("subscription_cancel")
def answer_cancel_survey(id):
    """Keep the survey answer (or a skip) in the form and move on to the confirmation; nothing changes yet."""
    subscription = portal_subscription_or_404(id)
    answer, error = parse_survey(request.form)
    if error:
        return render_cancel_flow(subscription, step="survey", answer=answer, error=error, status=422)
    return render_cancel_flow(subscription, step="confirm", answer=answer)


@bp.post("/subscriptions/<id>/cancel")
@portal_login_required
@feature_required("subscription_cancel")
@refuse_in_preview
def confirm_cancel(id):
    """Cancel as the configuration says (at period end, undoable, or now), keeping the survey answer."""
    subscription = locked_subscription_or_404(id)
    answer, error = parse_survey(request.form, skipped_is_fine=True)
    if error:
        return render_cancel_flow(subscription, step="survey", answer=answer, error=error, status=422)
    if subscription.status == "canceled" or subscription.cancel_at_period_end:  # a second click: done already
        return render_cancel_flow(subscription, done="canceled")
    at_period_end = g.portal_config.feature("subscription_cancel")["mode"] == "at_period_end"
    try:
        billing.cancel(subscription, at_period_end, PORTAL, clock.now(), reason=answer["reason"],
                       comment=answer["comment"])
    except BillingError as exc:
        return render_cancel_flow(subscription, error=exc.message, status=409)
    return after_change(render_cancel_flow, "portal.cancel_subscription", subscription, done="canceled")


@bp.post("/subscriptions/<id>/cancel/undo")
@portal_login_required
@feature_required("subscription_cancel")
@refuse_in_preview
def undo_cancel(id):
    """Keep the subscription after all: it renews as before."""
    subscription = locked_subscription_or_404(id)
    if subscription.status != "canceled" and not subscription.cancel_at_period_end:  # undone already
        return render_cancel_flow(subscription, done="kept")
    try:
        billing.undo_cancellation(subscription, PORTAL)
    except StateConflict as exc:
        return render_cancel_flow(subscription, error=exc.message, status=409)
    return after_change(render_cancel_flow, "portal.cancel_subscription", subscription, done="kept")


def parse_survey(form, skipped_is_fine: bool = False) -> tuple[dict, str | None]:
    """The survey answer `{reason, comment}` from a form, and what is wrong with it (None when fine)."""
    options = g.portal_config.feature("subscription_cancel")["survey"]["options"]
    reason = form.get("reason") or None
    comment = (form.get("comment") or "").strip() or None
    answer = {"reason": reason, "comment": comment}
    if not g.portal_config.feature("subscription_cancel")["survey"]["enabled"]:
        return {"reason": None, "comment": None}, None
    # `invalid` names the field a message is about, so the template puts it there.
    if reason is not None and reason not in options:
        return {**answer, "invalid": "reason"}, _("Choose one of the reasons listed.")
    if has_control_characters(comment):
        return {**answer, "invalid": "comment"}, _("Remove the invisible control characters from your comment.")
    if comment is not None and len(comment) > COMMENT_MAX:
        return {**answer, "invalid": "comment"}, _("Please keep your comment under %(count)d characters.",
                                                   count=COMMENT_MAX)
    if reason is None and comment is None and not (skipped_is_fine or form.get("skip")):
        return {**answer, "invalid": "reason"}, _("Choose a reason, or skip this question.")
    return answer, None


def render_cancel_flow(subscription: Subscription, step: str | None = None, done: str | None = None,
                       answer: dict | None = None, error: str | None = None, status: int = 200):
    """The cancel partial: the step follows from the subscription's state, the configuration and the request."""
    settings = g.portal_config.feature("subscription_cancel")
    steps = cancel_steps(subscription)
    context = {"subscription": subscription, "error": error, "steps": steps,
               "answer": answer or {"reason": None, "comment": None}, "done": done,
               "survey_options": [(option, SURVEY_LABELS[option]) for option in settings["survey"]["options"]]}
    now = clock.now()
    if subscription.status == "canceled":
        step = "ended"
    elif subscription.cancel_at_period_end:
        step = "scheduled"
    elif done == "kept":
        step = "kept"
    elif step not in steps:
        step = steps[0]
    if step == "offer":
        context.update(pause_options(subscription, now))
    if step == "confirm":
        at_period_end = settings["mode"] == "at_period_end"
        context.update(ends_at=billing.cancellation_effective_at(subscription, at_period_end, now), now=now)
    return render_flow("_cancel_flow.html", status, step=step, **context)


# --- pause and resume ----------------------------------------------------------------------------------------


def cycle_length(plan: Plan, cycles: int) -> str:
    """"1 month", "6 weeks"…: how long `cycles` billing periods of `plan` last."""
    units = (plan.interval_count or 1) * cycles
    words = {
        "day": ngettext("%(num)d day", "%(num)d days", units),
        "week": ngettext("%(num)d week", "%(num)d weeks", units),
        "month": ngettext("%(num)d month", "%(num)d months", units),
        "year": ngettext("%(num)d year", "%(num)d years", units),
    }
    return words[plan.interval]


def pause_options(subscription: Subscription, now: int) -> dict:
    """What pausing now offers: 1–3 billing periods with the date each ends, and the credit it gives back."""
    return {
        "quote": quote(now),
        "cycles": [(n, cycle_length(subscription.plan, n), billing.resumes_at_after_cycles(subscription, n, now))
                   for n in billing.PAUSE_CYCLES],
        "pause_credit": billing.pause_credit(subscription, now),
        "today": _day(now),
        "latest_day": _day(now + LONGEST_PAUSE_DAYS * DAY),
    }


def _day(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def parse_pause(form, subscription: Subscription, now: int) -> tuple[int | None, dict, str | None]:
    """`(resumes_at, what was chosen, error)` from the pause form: `duration` is 1, 2, 3 (billing periods),
    `date` (with `resumes_on`, YYYY-MM-DD, resuming at 00:00 UTC that day) or `indefinite`."""
    duration = form.get("duration")
    chosen = {"duration": duration, "resumes_on": form.get("resumes_on", "")}
    if duration == "indefinite":
        return None, chosen, None
    if duration in {str(n) for n in billing.PAUSE_CYCLES}:
        return billing.resumes_at_after_cycles(subscription, int(duration), now), chosen, None
    if duration != "date":
        return None, {**chosen, "invalid": "duration"}, _("Choose how long to pause for.")
    chosen["invalid"] = "resumes_on"  # what any message below is about (the template puts it beside the date)
    try:
        day = dt.date.fromisoformat(chosen["resumes_on"].strip())
    except ValueError:
        return None, chosen, _("Enter the date to resume on, e.g. %(example)s.", example=_day(now + 30 * DAY))
    resumes_at = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    if resumes_at <= now:
        return None, chosen, _("Choose a date after today.")
    if resumes_at > now + LONGEST_PAUSE_DAYS * DAY:
        return None, chosen, _("Choose a date within a year from today.")
    return resumes_at, {**chosen, "invalid": None}, None


@bp.get("/subscriptions/<id>/pause")
@portal_login_required
@feature_required("subscription_pause")
def pause_subscription(id):
    """How long to pause for, each choice with its dates; a paused subscription shows how to resume."""
    subscription = portal_subscription_or_404(id)
    return render_pause_flow(subscription, done=request.args.get("done"), invoice_id=request.args.get("invoice"))


@bp.post("/subscriptions/<id>/pause")
@portal_login_required
@feature_required("subscription_pause")
@refuse_in_preview
def confirm_pause(id):
    """Pause now until the chosen date (or until resumed); the unused, paid time is credited."""
    subscription = locked_subscription_or_404(id)
    if subscription.status == "paused":  # a second click: paused already
        return render_pause_flow(subscription, done="paused")
    now = quoted_time(request.form, subscription, clock.now())  # the dates and credit the form showed
    resumes_at, chosen, error = parse_pause(request.form, subscription, now)
    if error:
        return render_pause_flow(subscription, chosen=chosen, error=error, status=422)
    try:
        credit_invoice = billing.pause(subscription, resumes_at, PORTAL, now)
    except BillingError as exc:
        return render_pause_flow(subscription, error=exc.message, status=409)
    return after_change(render_pause_flow, "portal.pause_subscription", subscription, done="paused",
                        invoice_id=credit_invoice.id if credit_invoice else None)


@bp.post("/subscriptions/<id>/resume")
@portal_login_required
@feature_required("subscription_pause")
@refuse_in_preview
def resume_subscription(id):
    """Resume now: a new period starts today and is billed (the credit from the pause pays first)."""
    subscription = locked_subscription_or_404(id)
    if subscription.status != "paused":
        if subscription.status in billing.LIVE_STATUSES:  # a second click: resumed already
            return render_pause_flow(subscription, done="resumed")
        return render_pause_flow(subscription, error=_("This subscription isn't paused."), status=409)
    invoice = billing.resume(subscription, PORTAL, clock.now())
    return after_change(render_pause_flow, "portal.pause_subscription", subscription, done="resumed",
                        invoice_id=invoice.id)


def render_pause_flow(subscription: Subscription, done: str | None = None, invoice_id: str | None = None,
                      chosen: dict | None = None, error: str | None = None, status: int = 200):
    """The pause partial: choose how long, or (paused) when it resumes and what resuming now bills."""
    now = clock.now()
    context = {"subscription": subscription, "error": error, "done": done,
               "chosen": chosen or {"duration": "1", "resumes_on": ""}, "invoice": _open_invoice(invoice_id)}
    if subscription.status == "paused":
        step = "paused"
        context.update(resume=billing.preview_resume(subscription, now), credit=billing.credit_balance(
            subscription.customer, subscription.plan.currency))
    elif done == "resumed" and subscription.status in billing.LIVE_STATUSES:
        step = "resumed"
    else:
        try:
            billing.check_pausable(subscription)
            step = "choose"
            context.update(pause_options(subscription, now))
        except StateConflict:
            step = "unavailable"
    return render_flow("_pause_flow.html", status, step=step, **context)


# --- starting again ------------------------------------------------------------------------------------------


@bp.get("/subscriptions/<id>/resubscribe")
@portal_login_required
@feature_required("subscription_update")
def resubscribe(id):
    """For an ended subscription: pick one of the visible plans; `?plan_id=` reviews what starting it bills."""
    subscription = portal_subscription_or_404(id)
    started = request.args.get("started")
    if started:
        return render_resubscribe_flow(subscription, started=portal_subscription_or_404(started))
    plan_id = request.args.get("plan_id")
    if plan_id is None and not request.args.get("review"):
        return render_resubscribe_flow(subscription)
    plan = _visible_plan(plan_id, subscription.plan.currency)
    if plan is None:
        return render_resubscribe_flow(subscription, error=_("Choose one of the plans listed."), status=422)
    return render_resubscribe_flow(subscription, chosen=plan)


@bp.post("/subscriptions/<id>/resubscribe")
@portal_login_required
@feature_required("subscription_update")
@refuse_in_preview
def confirm_resubscribe(id):
    """Start the chosen plan again: a new subscription, its first period billed now."""
    ended = locked_subscription_or_404(id)
    plan = _visible_plan(request.form.get("plan_id"), ended.plan.currency)
    if plan is None:
        return render_resubscribe_flow(ended, error=_("Choose one of the plans listed."), status=422)
    already = billing.started_since(ended) if ended.status == "canceled" else None
    if already is not None:  # a second click, another tab: it has been started already
        return render_resubscribe_flow(ended, started=already)
    try:
        started = billing.resubscribe(ended, plan, PORTAL, clock.now())
    except BillingError as exc:
        return render_resubscribe_flow(ended, error=exc.message, status=409)
    db.session.commit()
    if wants_fragment():
        return render_resubscribe_flow(ended, started=started)
    return redirect(url_for("portal.resubscribe", id=ended.id, started=started.id), 303)


def render_resubscribe_flow(ended: Subscription, chosen: Plan | None = None, started: Subscription | None = None,
                            error: str | None = None, status: int = 200):
    """The resubscribe partial: pick a plan, review its first invoice, then the new subscription."""
    context = {"subscription": ended, "error": error}
    if started is not None:
        step = "started"
        open_invoice = db.session.scalars(
            db.select(Invoice).where(Invoice.subscription_id == started.id, Invoice.status == "open")).first()
        context.update(started=started, open_invoice=open_invoice)
    elif ended.status != "canceled":
        step = "unavailable"
    elif chosen is not None:
        step = "review"
        context.update(chosen=chosen, start=billing.preview_start(ended.customer, chosen, clock.now()),
                       payment_method=billing.default_method(ended.customer))
    else:
        step = "choose"
        context.update(plans=visible_plans(ended.plan.currency))
    return render_flow("_resubscribe_flow.html", status, step=step, **context)
