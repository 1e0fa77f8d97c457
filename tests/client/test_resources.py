"""Every resource of the SDK against the real API: what a merchant's code calls and gets back."""
import pytest

from xtoportal.client import CardError, InvalidRequestError

VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


@pytest.fixture
def customer(xtopay):
    return xtopay.customers.create(email="ama@example.com", name="Ama Mensah")


@pytest.fixture
def plan(xtopay):
    return xtopay.plans.create(name="Pro", amount=5000, currency="ghs", interval="month")


def test_plans_create_retrieve_update_and_filter(xtopay, plan):
    assert plan.id.startswith("plan_") and (plan.amount, plan.currency, plan.interval) == (5000, "ghs", "month")
    assert xtopay.plans.retrieve(plan.id).name == "Pro"

    retired = xtopay.plans.update(plan.id, active=False, description="Legacy")
    assert (retired.active, retired.description) == (False, "Legacy")

    assert [p.id for p in xtopay.plans.list(active=False)] == [plan.id]
    assert xtopay.plans.list(active=True).data == []


def test_plan_amount_cannot_change_after_creation(xtopay, plan):
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.plans.update(plan.id, amount=9000)
    assert raised.value.param == "amount"


def test_card_attach_list_detach(xtopay, customer):
    card = xtopay.payment_methods.attach(customer.id, type="card", card=VISA)
    assert card.id.startswith("pm_") and card.card.last4 == "4242" and card.status == "active"
    assert "number" not in card.card and "cvc" not in card.card
    assert xtopay.customers.retrieve(customer.id).default_payment_method == card.id

    assert [pm.id for pm in xtopay.payment_methods.list(customer.id, type="card")] == [card.id]

    detached = xtopay.payment_methods.detach(customer.id, card.id)
    assert detached.id == card.id
    assert xtopay.payment_methods.list(customer.id).data == []


def test_declined_card_raises_card_error(xtopay, customer):
    with pytest.raises(CardError) as raised:
        xtopay.payment_methods.attach(customer.id, type="card", card={**VISA, "number": "4000000000000002"})
    assert (raised.value.status, raised.value.code) == (402, "card_declined")


def test_subscription_lifecycle(xtopay, customer, plan):
    xtopay.payment_methods.attach(customer.id, type="card", card=VISA)
    subscription = xtopay.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert subscription.id.startswith("sub_") and subscription.status == "active"
    assert subscription.plan.id == plan.id

    assert [s.id for s in xtopay.subscriptions.list(customer_id=customer.id)] == [subscription.id]

    paused = xtopay.subscriptions.pause(subscription.id)
    assert paused.status == "paused"
    resumed = xtopay.subscriptions.resume(subscription.id)
    assert resumed.status == "active"

    scheduled = xtopay.subscriptions.cancel(subscription.id)
    assert scheduled.cancel_at_period_end is True and scheduled.status == "active"
    canceled = xtopay.subscriptions.cancel(subscription.id, at_period_end=False)
    assert canceled.status == "canceled"


def test_resuming_an_active_subscription_is_a_state_conflict(xtopay, customer, plan):
    xtopay.payment_methods.attach(customer.id, type="card", card=VISA)
    subscription = xtopay.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    with pytest.raises(InvalidRequestError) as raised:
        xtopay.subscriptions.resume(subscription.id)
    assert (raised.value.status, raised.value.code) == (409, "state_conflict")


def test_changing_plan_through_update(xtopay, customer, plan):
    xtopay.payment_methods.attach(customer.id, type="card", card=VISA)
    subscription = xtopay.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    bigger = xtopay.plans.create(name="Business", amount=9000, currency="ghs", interval="month")
    changed = xtopay.subscriptions.update(subscription.id, plan_id=bigger.id, proration_behavior="none")
    assert changed.plan.id == bigger.id


def test_invoices_list_retrieve_and_pdf(xtopay, customer, plan):
    xtopay.payment_methods.attach(customer.id, type="card", card=VISA)
    subscription = xtopay.subscriptions.create(customer_id=customer.id, plan_id=plan.id)

    invoices = xtopay.invoices.list(subscription_id=subscription.id)
    assert len(invoices.data) == 1
    invoice = xtopay.invoices.retrieve(invoices.data[0].id)
    assert (invoice.status, invoice.total, invoice.customer_id) == ("paid", 5000, customer.id)
    assert xtopay.invoices.list(customer_id=customer.id, status="open").data == []

    pdf = xtopay.invoices.pdf(invoice.id, locale="fr")
    assert pdf.startswith(b"%PDF")


def test_webhook_endpoints_create_update_deliveries_delete(xtopay, customer):
    endpoint = xtopay.webhook_endpoints.create(url="http://127.0.0.1:5001/webhooks",
                                               enabled_events=["customer.updated"], description="Shop")
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_")
    assert "secret" not in xtopay.webhook_endpoints.retrieve(endpoint.id)
    assert [e.id for e in xtopay.webhook_endpoints.list()] == [endpoint.id]

    disabled = xtopay.webhook_endpoints.update(endpoint.id, status="disabled")
    assert disabled.status == "disabled"
    xtopay.webhook_endpoints.update(endpoint.id, status="enabled")

    xtopay.customers.update(customer.id, name="Ama K. Mensah")
    deliveries = xtopay.webhook_endpoints.deliveries(endpoint.id)
    assert [d.endpoint_id for d in deliveries] == [endpoint.id]

    deleted = xtopay.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True
    with pytest.raises(InvalidRequestError):
        xtopay.webhook_endpoints.retrieve(endpoint.id)


def test_events_list_retrieve_and_resend(xtopay, customer):
    endpoint = xtopay.webhook_endpoints.create(url="http://127.0.0.1:5001/webhooks")
    xtopay.customers.update(customer.id, name="Ama K. Mensah")

    events = xtopay.events.list(type="customer.updated")
    assert len(events.data) == 1
    event = xtopay.events.retrieve(events.data[0].id)
    assert event.data.object.name == "Ama K. Mensah"
    assert event.data.previous_attributes == {"name": "Ama Mensah"}
    assert event.request.source == "api"

    resent = xtopay.events.resend(event.id)
    assert [d.endpoint_id for d in resent.data] == [endpoint.id]
    assert len(xtopay.webhook_endpoints.deliveries(endpoint.id).data) == 2


def test_callers_idempotency_key_is_recorded_on_the_event(xtopay, customer):
    xtopay.customers.update(customer.id, name="New name", idempotency_key="rename-42")
    event = xtopay.events.list(type="customer.updated").data[0]
    assert event.request.idempotency_key == "rename-42"
