"""The subscription engine against a real database: what each change bills and which events it writes."""
import datetime as dt

import pytest

from tests.factories import make_card, make_customer, make_plan, make_wallet
from xtoportal import clock
from xtoportal.billing import subscriptions as billing
from xtoportal.billing.clock import run_due_billing
from xtoportal.billing.errors import BillingError, StateConflict
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import Event, Invoice

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
    customer = make_customer(acme)
    make_card(customer)
    with clock.frozen(JAN_31):
        subscription = billing.create_subscription(customer, make_plan(acme), API, clock.now())
        billing.pause(subscription, None, API, clock.now())
        db.session.commit()
        clock.advance(90 * DAY)
        run_due_billing(120)
        assert subscription.status == "paused" and len(invoices_of(subscription)) == 1
        with pytest.raises(StateConflict):
            billing.pause(subscription, None, API, clock.now())
        billing.resume(subscription, API, clock.now())
        db.session.commit()
    assert subscription.status == "active"
    assert subscription.current_period_start == JAN_31 + 90 * DAY
    assert len(invoices_of(subscription)) == 2


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
