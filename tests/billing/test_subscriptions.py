"""The subscription engine against a real database: what each change bills and which events it writes."""
import datetime as dt

import pytest

from tests.factories import make_card, make_customer, make_plan, make_wallet
from xtoportal import clock
from xtoportal.billing import periods
from xtoportal.billing import subscriptions as billing
from xtoportal.billing.clock import run_due_billing
from xtoportal.billing.errors import BillingError, StateConflict
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import Event, Invoice, Payment

API = Origin("api")
JAN_31 = int(dt.datetime(2027, 1, 31, 12, tzinfo=dt.timezone.utc).timestamp())
DAY = 86400


@pytest.fixture
def acme(merchant):
    return merchant[0]


def event_types(subscription_id=None):
    events = db.session.scalars(db.select(Event).order_by(Event.sort_key)).all()
    return [e.type for e in events]


def invoices_of(subscription):
    return db.session.scalars(db.select(Invoice).filter_by(subscription_id=subscription.id).order_by(Invoice.sort_key)).all()


def test_new_subscription_with_card_bills_first_period_and_is_active(acme):
    customer = make_customer(acme)
    make_card(customer)
    plan = make_plan(acme, amount=5000)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, plan, API, clock.now())
        db.session.commit()
    assert subscription.status == "active"
    [invoice] = invoices_of(subscription)
    assert (invoice.status, invoice.total, invoice.amount_paid, invoice.amount_due) == ("paid", 5000, 5000, 0)
    assert invoice.number == "ACME-000001"
    assert subscription.current_period_end == int(dt.datetime(2027, 2, 28, 12, tzinfo=dt.timezone.utc).timestamp())
    assert event_types() == ["invoice.created", "invoice.paid", "subscription.created"]


def test_new_subscription_without_method_is_incomplete_with_open_invoice(acme):
    customer = make_customer(acme)
    subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
    db.session.commit()
    assert subscription.status == "incomplete"
    assert invoices_of(subscription)[0].status == "open"
    assert "invoice.payment_failed" not in event_types()


def test_declined_first_charge_is_incomplete_and_fires_payment_failed(acme):
    customer = make_customer(acme)
    make_card(customer, "4000000000000341")
    subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
    db.session.commit()
    assert subscription.status == "incomplete"
    assert "invoice.payment_failed" in event_types()


def test_trial_bills_nothing_until_it_ends_then_renews(acme):
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now(), trial_period_days=14)
        db.session.commit()
        assert subscription.status == "trialing" and invoices_of(subscription) == []
        clock.advance(14 * DAY)
        run_due_billing(120)
    assert subscription.status == "active"
    assert [i.status for i in invoices_of(subscription)] == ["paid"]
    assert subscription.current_period_start == JAN_31 + 14 * DAY


def test_renewals_follow_month_end_anchor_and_come_back_to_the_31st(acme):
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        clock.advance(60 * DAY)  # past Feb 28 and Mar 31
        run_due_billing(120)
    ends = [dt.datetime.fromtimestamp(i.period_end, dt.timezone.utc).date().isoformat() for i in invoices_of(subscription)]
    assert ends == ["2027-02-28", "2027-03-31", "2027-04-30"]
    assert [i.number for i in invoices_of(subscription)] == ["ACME-000001", "ACME-000002", "ACME-000003"]


def test_declined_renewal_makes_subscription_past_due_and_retries(acme):
    customer = make_customer(acme)
    card = make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        declining = make_card(customer, "4000000000000341")
        assert customer.default_payment_method_id == declining.id
        clock.advance(28 * DAY + 1)
        run_due_billing(120)
        assert subscription.status == "past_due"
        customer.default_payment_method_id = card.id
        db.session.commit()
        clock.advance(DAY)
        run_due_billing(120)
    assert subscription.status == "active"
    assert invoices_of(subscription)[-1].status == "paid"


def test_upgrade_mid_period_bills_exact_proration_lines(acme):
    customer = make_customer(acme)
    make_card(customer)
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, basic, API, clock.now())
        db.session.commit()
        start, end = subscription.current_period_start, subscription.current_period_end
        at = clock.advance(10 * DAY)
        preview = billing.preview_plan_change(subscription, pro, "create_prorations", at)
        invoice = billing.change_plan(subscription, pro, "create_prorations", API, at)
        db.session.commit()
    left, total = end - at, end - start
    expected_credit = -((3000 * left * 2 + total) // (2 * total))
    expected_charge = (9000 * left * 2 + total) // (2 * total)
    assert [line.amount for line in invoice.lines] == [expected_credit, expected_charge]
    assert all(line.proration for line in invoice.lines)
    assert invoice.total == preview.amount_due_now == expected_credit + expected_charge
    assert invoice.status == "paid"
    updated = db.session.scalars(db.select(Event).filter_by(type="subscription.updated")).one()
    assert updated.data["previous_attributes"]["plan"]["id"] == basic.id


def test_downgrade_credit_goes_to_balance_and_pays_next_invoice(acme):
    customer = make_customer(acme)
    make_card(customer)
    pro, basic = make_plan(acme, amount=9000), make_plan(acme, amount=3000)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, pro, API, clock.now())
        db.session.commit()
        invoice = billing.change_plan(subscription, basic, "create_prorations", API, clock.now() + 1)
        db.session.commit()
        assert invoice.total < 0 and invoice.status == "paid"
        credit = customer.credit_balance["ghs"]
        assert credit == -invoice.total
        clock.advance(28 * DAY)
        run_due_billing(120)
    renewal = invoices_of(subscription)[-1]
    assert renewal.total == 3000
    assert renewal.amount_paid == 3000
    assert customer.credit_balance.get("ghs", 0) == max(credit - 3000, 0)


def test_interval_change_starts_new_period_with_credit(acme):
    customer = make_customer(acme)
    make_card(customer)
    monthly, yearly = make_plan(acme, amount=5000), make_plan(acme, amount=50000, interval="year")
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, monthly, API, clock.now())
        db.session.commit()
        at = clock.advance(7 * DAY)
        invoice = billing.change_plan(subscription, yearly, "create_prorations", API, at)
        db.session.commit()
    assert subscription.current_period_start == at
    assert invoice.lines[0].proration and invoice.lines[0].amount < 0
    assert invoice.lines[1].amount == 50000 and not invoice.lines[1].proration


def test_plan_in_another_currency_is_refused(acme):
    customer = make_customer(acme)
    make_card(customer)
    subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
    with pytest.raises(BillingError) as refused:
        billing.change_plan(subscription, make_plan(acme, currency="kes"), "create_prorations", API, clock.now())
    assert refused.value.param == "plan_id"


def test_cancel_at_period_end_is_undoable_then_ends_at_period_end(acme):
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        billing.cancel(subscription, True, API, clock.now())
        assert subscription.cancel_at_period_end and subscription.status == "active"
        billing.undo_cancellation(subscription, API)
        assert not subscription.cancel_at_period_end
        billing.cancel(subscription, True, API, clock.now(), reason="too_expensive", comment="pricey")
        db.session.commit()
        clock.advance(40 * DAY)
        run_due_billing(120)
    assert subscription.status == "canceled"
    assert subscription.ended_at == subscription.current_period_end
    assert subscription.cancellation_reason == "too_expensive"
    assert len(invoices_of(subscription)) == 1
    assert event_types()[-1] == "subscription.canceled"


def test_pause_bills_nothing_and_resume_starts_and_bills_a_new_period(acme):
    # Changed on purpose: pausing now credits the unused, paid part of the period (a credit invoice), which then
    # pays the first invoice after resuming.
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        clock.advance(7 * DAY)
        billing.pause(subscription, None, API, clock.now())
        db.session.commit()
        clock.advance(90 * DAY)
        run_due_billing(120)
        assert subscription.status == "paused" and len(invoices_of(subscription)) == 2
        with pytest.raises(StateConflict):
            billing.pause(subscription, None, API, clock.now())
        billing.resume(subscription, API, clock.now())
        db.session.commit()
    assert subscription.status == "active"
    assert subscription.current_period_start == JAN_31 + 97 * DAY
    first, credit, resumed = invoices_of(subscription)
    assert credit.total == -3750  # 21 of 28 days unused: 5000 × 21/28
    assert (resumed.total, resumed.amount_paid, resumed.status) == (5000, 5000, "paid")
    assert customer.credit_balance == {}


def test_pause_until_a_date_resumes_on_its_own(acme):
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        billing.pause(subscription, JAN_31 + 10 * DAY, API, clock.now())
        db.session.commit()
        clock.advance(10 * DAY)
        run_due_billing(120)
    assert subscription.status == "active"
    assert db.session.scalars(db.select(Event).filter_by(type="subscription.resumed")).one().request_source == "billing"


def test_scheduled_downgrade_applies_at_period_end_without_proration(acme):
    customer = make_customer(acme)
    make_card(customer)
    pro, basic = make_plan(acme, amount=9000), make_plan(acme, amount=3000)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, pro, API, clock.now())
        billing.schedule_plan_change(subscription, basic, API)
        db.session.commit()
        assert subscription.to_api()["pending_update"] == {"plan_id": basic.id,
                                                           "effective_at": subscription.current_period_end}
        clock.advance(28 * DAY)
        run_due_billing(120)
    assert subscription.plan_id == basic.id and subscription.pending_plan_id is None
    assert invoices_of(subscription)[-1].total == 3000


def test_mobile_money_first_charge_waits_for_handset_then_activates(acme):
    customer = make_customer(acme)
    make_wallet(customer, "+233240000000")
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        assert subscription.status == "incomplete"
        run_due_billing(120)
        assert subscription.status == "incomplete"
        clock.advance(5)
        run_due_billing(120)
    assert subscription.status == "active"
    assert invoices_of(subscription)[0].status == "paid"


def test_mobile_money_charge_that_never_answers_times_out_as_declined(acme):
    customer = make_customer(acme)
    make_wallet(customer, "+233244444444")
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        clock.advance(119)
        run_due_billing(120)
        assert "invoice.payment_failed" not in event_types()
        clock.advance(2)
        run_due_billing(120)
    assert "invoice.payment_failed" in event_types()
    assert subscription.status == "incomplete"


def test_running_the_clock_twice_bills_once(acme):
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        clock.advance(29 * DAY)
        run_due_billing(120)
        run_due_billing(120)
    assert len(invoices_of(subscription)) == 2


def test_free_plan_subscription_is_active_without_a_payment_method(acme):
    customer = make_customer(acme)
    subscription = billing.create_subscription(customer, make_plan(acme, amount=0), API, clock.now())
    db.session.commit()
    assert subscription.status == "active"
    assert invoices_of(subscription)[0].status == "paid"


def test_incomplete_subscription_ends_when_its_first_invoice_runs_out_of_retries(acme):
    customer = make_customer(acme)
    make_card(customer, "4000000000000341")
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        db.session.commit()
        for _ in range(4):
            clock.advance(6 * DAY)
            run_due_billing(120)
    assert subscription.status == "canceled"
    assert invoices_of(subscription)[0].status == "uncollectible"


# --- previews are what gets billed -----------------------------------------------------------------------------

PORTAL = Origin("portal")


def subscribed(acme, plan=None, at=JAN_31, card="4242424242424242", **kwargs):
    customer = make_customer(acme)
    if card:
        make_card(customer, card)
    with clock.frozen(at):
        subscription = billing.create_subscription(customer, plan or make_plan(acme), API, at, **kwargs)
        db.session.commit()
    return subscription


def test_split_credit_settles_like_an_invoice():
    assert billing.split_credit(0, 5000) == billing.Bill(5000, 0, 5000, 0)
    assert billing.split_credit(1200, 5000) == billing.Bill(5000, 1200, 3800, 0)
    assert billing.split_credit(9000, 5000) == billing.Bill(5000, 5000, 0, 0)
    assert billing.split_credit(700, -2500) == billing.Bill(-2500, 0, 0, 2500)


@pytest.mark.parametrize("days_in", [0, 1, 13, 27])
@pytest.mark.parametrize("balance", [0, 999, 10_000])
def test_plan_change_preview_is_the_invoice_charged_including_customer_credit(acme, days_in, balance):
    basic, pro = make_plan(acme, amount=2999), make_plan(acme, amount=9001)
    subscription = subscribed(acme, basic)
    subscription.customer.credit_balance = {"ghs": balance} if balance else {}
    at = JAN_31 + days_in * DAY + 4321
    preview = billing.preview_plan_change(subscription, pro, "create_prorations", at)
    invoice = billing.change_plan(subscription, pro, "create_prorations", API, at)
    db.session.commit()
    assert invoice.total == preview.bill.total == sum(line.amount for line in preview.lines)
    assert invoice.amount_paid == invoice.total and invoice.status == "paid"
    charged = sum(p.amount for p in db.session.scalars(db.select(Payment).filter_by(invoice_id=invoice.id)))
    assert charged == preview.amount_due_now
    assert subscription.customer.credit_balance.get("ghs", 0) == balance - preview.bill.credit_applied
    assert preview.next_invoice_at == subscription.current_period_end
    assert preview.next_invoice.total == 9001


def test_next_invoice_after_a_downgrade_is_paid_from_the_credit_it_leaves(acme):
    pro, basic = make_plan(acme, amount=9000), make_plan(acme, amount=3000)
    subscription = subscribed(acme, pro)
    at = JAN_31 + 2 * DAY
    preview = billing.preview_plan_change(subscription, basic, "create_prorations", at)
    assert preview.amount_due_now == 0 and preview.credit > 3000
    assert preview.next_invoice == billing.Bill(3000, 3000, 0, 0)
    billing.change_plan(subscription, basic, "create_prorations", API, at)
    db.session.commit()
    with clock.frozen(subscription.current_period_end):
        run_due_billing(120)
    renewal = invoices_of(subscription)[-1]
    assert (renewal.total, renewal.amount_paid) == (3000, 3000)
    assert not db.session.scalars(db.select(Payment).filter_by(invoice_id=renewal.id)).all()


def test_downgrade_configured_for_period_end_is_scheduled_and_bills_nothing_now(acme):
    pro, basic = make_plan(acme, amount=9000), make_plan(acme, amount=3000)
    subscription = subscribed(acme, pro)
    at = JAN_31 + 5 * DAY
    preview = billing.preview_plan_change(subscription, basic, "create_prorations", at, downgrades="at_period_end")
    assert preview.scheduled and preview.effective_at == subscription.current_period_end and preview.bill is None
    assert billing.change_plan(subscription, basic, "create_prorations", PORTAL, at,
                               downgrades="at_period_end") is None
    db.session.commit()
    assert subscription.plan_id == pro.id
    assert subscription.to_api()["pending_update"] == {"plan_id": basic.id,
                                                       "effective_at": subscription.current_period_end}
    with pytest.raises(StateConflict):  # the same change again: one event, not two
        billing.change_plan(subscription, basic, "create_prorations", PORTAL, at, downgrades="at_period_end")
    updated = db.session.scalars(db.select(Event).filter_by(type="subscription.updated")).all()
    assert [e.request_source for e in updated] == ["portal"]
    assert len(invoices_of(subscription)) == 1


def test_upgrades_and_trials_are_never_scheduled(acme):
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    subscription = subscribed(acme, basic)
    assert not billing.preview_plan_change(subscription, pro, "create_prorations", JAN_31 + DAY,
                                           downgrades="at_period_end").scheduled
    trial = subscribed(acme, pro, trial_period_days=14)
    change = billing.preview_plan_change(trial, basic, "create_prorations", JAN_31 + DAY, downgrades="at_period_end")
    assert not change.scheduled and change.bill is None
    assert change.next_invoice_at == JAN_31 + 14 * DAY and change.next_invoice.total == 3000


def test_no_next_invoice_when_the_subscription_is_set_to_end(acme):
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    subscription = subscribed(acme, basic)
    billing.cancel(subscription, True, API, JAN_31 + DAY)
    change = billing.preview_plan_change(subscription, pro, "create_prorations", JAN_31 + DAY)
    assert change.next_invoice is None and change.next_invoice_at is None


# --- cancel --------------------------------------------------------------------------------------------------


def test_cancellation_takes_effect_at_period_end_or_now(acme):
    subscription = subscribed(acme)
    assert billing.cancellation_effective_at(subscription, True, JAN_31 + DAY) == subscription.current_period_end
    assert billing.cancellation_effective_at(subscription, False, JAN_31 + DAY) == JAN_31 + DAY
    billing.pause(subscription, None, API, JAN_31 + DAY)
    assert billing.cancellation_effective_at(subscription, True, JAN_31 + 2 * DAY) == JAN_31 + 2 * DAY


def test_a_second_cancel_is_refused_and_keeps_the_first_answer(acme):
    subscription = subscribed(acme)
    billing.cancel(subscription, True, PORTAL, JAN_31 + DAY, reason="too_expensive", comment="pricey")
    with pytest.raises(StateConflict):
        billing.cancel(subscription, True, PORTAL, JAN_31 + DAY, reason="other", comment="changed")
    assert (subscription.cancellation_reason, subscription.cancellation_comment) == ("too_expensive", "pricey")
    scheduled = db.session.scalars(db.select(Event).filter_by(type="subscription.cancellation_scheduled")).one()
    assert scheduled.data["object"]["cancellation_details"] == {"reason": "too_expensive", "comment": "pricey"}
    assert scheduled.data["previous_attributes"]["cancel_at_period_end"] is False


def test_cancel_now_emits_canceled_with_the_survey_answer_in_previous_attributes(acme):
    subscription = subscribed(acme)
    billing.cancel(subscription, False, PORTAL, JAN_31 + DAY, reason="unused")
    canceled = db.session.scalars(db.select(Event).filter_by(type="subscription.canceled")).one()
    assert canceled.request_source == "portal"
    assert canceled.data["object"]["status"] == "canceled"
    assert canceled.data["previous_attributes"]["status"] == "active"
    assert canceled.data["previous_attributes"]["cancellation_details"] == {"reason": None, "comment": None}


# --- pause ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval, count, expected", [
    ("month", 1, ["2027-02-28", "2027-03-31", "2027-04-30"]),
    ("month", 3, ["2027-04-30", "2027-07-31", "2027-10-31"]),
    ("week", 1, ["2027-02-07", "2027-02-14", "2027-02-21"]),
    ("year", 1, ["2028-01-31", "2029-01-31", "2030-01-31"]),
])
def test_pause_for_one_two_or_three_billing_periods_ends_on_the_period_boundaries(acme, interval, count, expected):
    subscription = subscribed(acme, make_plan(acme, interval=interval, interval_count=count))
    ends = [billing.resumes_at_after_cycles(subscription, n, JAN_31) for n in (1, 2, 3)]
    assert [dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat() for t in ends] == expected
    with pytest.raises(BillingError) as refused:
        billing.resumes_at_after_cycles(subscription, 4, JAN_31)
    assert refused.value.param == "cycles"


def test_pause_of_one_period_in_a_leap_year_resumes_on_february_29(acme):
    jan_31_2028 = int(dt.datetime(2028, 1, 31, 9, tzinfo=dt.UTC).timestamp())
    subscription = subscribed(acme, at=jan_31_2028)
    resumes_at = billing.resumes_at_after_cycles(subscription, 1, jan_31_2028)
    assert dt.datetime.fromtimestamp(resumes_at, dt.UTC) == dt.datetime(2028, 2, 29, 9, tzinfo=dt.UTC)


def test_pausing_credits_the_unused_paid_time_and_resuming_is_paid_from_it(acme):
    subscription = subscribed(acme, make_plan(acme, amount=5000))
    start, end = subscription.current_period_start, subscription.current_period_end
    at = JAN_31 + 7 * DAY
    expected_credit = (5000 * (end - at) * 2 + (end - start)) // (2 * (end - start))  # half up
    assert billing.pause_credit(subscription, at) == expected_credit
    credit_invoice = billing.pause(subscription, billing.resumes_at_after_cycles(subscription, 2, at), PORTAL, at)
    db.session.commit()
    assert credit_invoice.total == -expected_credit and credit_invoice.status == "paid"
    assert credit_invoice.lines[0].proration and credit_invoice.lines[0].period_end == end
    assert subscription.customer.credit_balance == {"ghs": expected_credit}
    types = [(e.type, e.request_source) for e in db.session.scalars(db.select(Event).order_by(Event.sort_key))][-3:]
    assert types == [("invoice.created", "portal"), ("invoice.paid", "portal"), ("subscription.paused", "portal")]
    paused = db.session.scalars(db.select(Event).filter_by(type="subscription.paused")).one()
    assert paused.data["object"]["pause_collection"] == {"resumes_at": subscription.pause_resumes_at}
    assert paused.data["previous_attributes"] == {"status": "active", "pause_collection": None}

    preview = billing.preview_resume(subscription, at + 3 * DAY)
    assert preview.bill == billing.Bill(5000, expected_credit, 5000 - expected_credit, 0)
    invoice = billing.resume(subscription, PORTAL, at + 3 * DAY)
    db.session.commit()
    assert (invoice.total, invoice.status) == (5000, "paid")
    assert sum(p.amount for p in db.session.scalars(db.select(Payment).filter_by(invoice_id=invoice.id))) == \
        preview.bill.amount_due
    assert subscription.customer.credit_balance == {}
    assert (subscription.current_period_start, subscription.status) == (at + 3 * DAY, "active")


def test_pause_for_periods_bills_nothing_until_the_clock_resumes_it_and_bills_a_new_period(acme):
    subscription = subscribed(acme, make_plan(acme, amount=5000))
    at = JAN_31 + 10 * DAY
    resumes_at = billing.resumes_at_after_cycles(subscription, 2, at)
    billing.pause(subscription, resumes_at, PORTAL, at)
    db.session.commit()
    with clock.frozen(resumes_at - 1):
        run_due_billing(120)
    assert subscription.status == "paused" and len(invoices_of(subscription)) == 2  # first period + credit
    with clock.frozen(resumes_at):
        run_due_billing(120)
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == \
        (resumes_at, periods.add_interval(resumes_at, "month", 1, 1))
    resumed = db.session.scalars(db.select(Event).filter_by(type="subscription.resumed")).one()
    assert resumed.request_source == "billing"
    assert invoices_of(subscription)[-1].period_start == resumes_at


def test_an_unpaid_period_or_a_trial_gives_no_credit_when_paused(acme):
    trial = subscribed(acme, trial_period_days=14)
    assert billing.pause_credit(trial, JAN_31 + DAY) == 0
    declined = subscribed(acme, card="4000000000000341")
    assert declined.status == "incomplete" and billing.pause_credit(declined, JAN_31 + DAY) == 0
    with clock.frozen(JAN_31 + DAY):
        past_due = subscribed(acme, at=JAN_31 - 31 * DAY)
        past_due.customer.default_payment_method_id = make_card(past_due.customer, "4000000000000341").id
        db.session.commit()
        run_due_billing(120)
    assert past_due.status == "past_due" and billing.pause_credit(past_due, JAN_31 + DAY) == 0
    assert billing.pause(past_due, None, API, JAN_31 + DAY) is None


def test_zero_decimal_currency_credit_is_rounded_half_up_to_whole_shillings(acme):
    subscription = subscribed(acme, make_plan(acme, amount=45_001, currency="ugx"))
    start, end = subscription.current_period_start, subscription.current_period_end
    at = start + (end - start) // 2  # exactly half of an odd amount: 22,500.5 → 22,501
    assert billing.pause_credit(subscription, at) == 22_501


def test_a_downgrade_scheduled_for_period_end_takes_effect_at_the_pause(acme):
    pro, basic = make_plan(acme, amount=9000), make_plan(acme, amount=3000)
    subscription = subscribed(acme, pro)
    billing.schedule_plan_change(subscription, basic, API)
    billing.pause(subscription, None, PORTAL, JAN_31 + DAY)
    assert subscription.plan_id == basic.id and subscription.pending_plan_id is None
    assert billing.preview_resume(subscription, JAN_31 + 2 * DAY).bill.total == 3000


def test_a_subscription_set_to_cancel_cannot_be_paused(acme):
    subscription = subscribed(acme)
    billing.cancel(subscription, True, API, JAN_31 + DAY)
    with pytest.raises(StateConflict):
        billing.pause(subscription, None, PORTAL, JAN_31 + DAY)


# --- starting again ------------------------------------------------------------------------------------------


def test_resubscribing_starts_a_new_subscription_billed_now_once(acme):
    basic, pro = make_plan(acme, amount=3000), make_plan(acme, amount=9000)
    ended = subscribed(acme, basic)
    billing.cancel(ended, False, API, JAN_31 + DAY)
    db.session.commit()
    at = JAN_31 + 40 * DAY
    preview = billing.preview_start(ended.customer, pro, at)
    started = billing.resubscribe(ended, pro, PORTAL, at)
    db.session.commit()
    assert started.id != ended.id and started.status == "active" and started.plan_id == pro.id
    assert (started.current_period_start, started.current_period_end) == preview.period
    [invoice] = invoices_of(started)
    assert (invoice.total, invoice.status) == (preview.bill.total, "paid")
    created = db.session.scalars(db.select(Event).filter_by(type="subscription.created", object_id=started.id)).one()
    assert created.request_source == "portal"
    assert billing.started_since(ended) == started
    with pytest.raises(StateConflict):
        billing.resubscribe(ended, pro, PORTAL, at)
    with pytest.raises(BillingError):
        billing.resubscribe(ended, make_plan(acme, currency="kes"), PORTAL, at)


def test_only_an_ended_subscription_can_be_started_again(acme):
    with pytest.raises(StateConflict):
        billing.resubscribe(subscribed(acme), make_plan(acme), PORTAL, JAN_31 + DAY)


# --- several workers --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_workers_running_the_same_due_renewals_bill_each_once(postgres_app):
    import threading

    from xtoportal.merchants import create_merchant

    merchant, _ = create_merchant("Acme", "owner@acme.test", "correct horse battery")
    db.session.commit()
    plan = make_plan(merchant, amount=5000)
    subscriptions = [subscribed(merchant, plan) for _ in range(40)]
    ids = [s.id for s in subscriptions]
    db.session.remove()
    due = JAN_31 + 29 * DAY  # one renewal each
    start = threading.Barrier(2)
    errors = []

    def worker():
        with postgres_app.app_context():
            start.wait()
            try:
                run_due_billing(120, now=due)
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    counts = dict(db.session.execute(
        db.select(Invoice.subscription_id, db.func.count()).where(Invoice.subscription_id.in_(ids))
        .group_by(Invoice.subscription_id)).all())
    assert counts == {id: 2 for id in ids}
    numbers = db.session.scalars(db.select(Invoice.number)).all()
    assert len(numbers) == len(set(numbers)) == 80
    renewed = db.session.scalar(db.select(db.func.count()).select_from(Event).where(
        Event.type == "subscription.updated", Event.request_source == "billing"))
    assert renewed == 40
