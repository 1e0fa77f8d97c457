import calendar

import pytest

from xtoportal.billing import payment_methods
from xtoportal.billing.processor import HANDSET_ANSWER_DELAY, CardError, InvalidCardField, InvalidField
from xtoportal.events import Origin
from xtoportal.extensions import db
from xtoportal.models import Customer, Event, PaymentMethod

NOW = calendar.timegm((2025, 6, 15, 12, 0, 0))
API = Origin("api", "idem-1")
PORTAL = Origin("portal")


@pytest.fixture
def customer(make_merchant):
    merchant, _ = make_merchant("Acme")
    customer = Customer(merchant_id=merchant.id, name="Ama")
    db.session.add(customer)
    db.session.commit()
    return customer


def card(customer, number="4242424242424242", set_default=False, origin=API, now=NOW):
    method = payment_methods.attach_card(customer, number, 12, 2030, "123", set_default, origin, now)
    db.session.commit()
    return method


def wallet(customer, phone="+233241230000", provider="mtn_momo", set_default=False, now=NOW):
    method = payment_methods.attach_mobile_money(customer, provider, phone, set_default, API, now)
    db.session.commit()
    return method


def events(type="customer.payment_method_updated"):
    return db.session.scalars(db.select(Event).filter_by(type=type).order_by(Event.sort_key)).all()


def test_first_card_becomes_the_default_and_is_announced_once(customer):
    method = card(customer)
    assert (method.status, method.card_brand, method.card_last4) == ("active", "visa", "4242")
    assert customer.default_payment_method_id == method.id
    [event] = events()
    assert event.data["object"] == method.to_api()
    assert (event.request_source, event.idempotency_key) == ("api", "idem-1")
    [customer_event] = events("customer.updated")
    assert customer_event.data["previous_attributes"] == {"default_payment_method": None}


def test_second_card_stays_out_of_the_way_unless_asked(customer):
    first = card(customer)
    second = card(customer, "5555555555554444")
    assert customer.default_payment_method_id == first.id
    third = card(customer, "4000000000000341", set_default=True)
    assert customer.default_payment_method_id == third.id
    assert second.card_brand == "mastercard"
    assert len(events()) == 3
    assert len(events("customer.updated")) == 2


def test_declined_card_attaches_nothing(customer):
    with pytest.raises(CardError) as caught:
        card(customer, "4000000000000002")
    assert caught.value.code == "card_declined"
    db.session.rollback()
    assert db.session.scalars(db.select(PaymentMethod)).all() == []
    assert events() == []


def test_malformed_card_raises_invalid_card_field_naming_the_field(customer):
    with pytest.raises(InvalidCardField) as caught:
        payment_methods.attach_card(customer, "4242424242424242", 13, 2030, "123", False, API, NOW)
    assert caught.value.param == "card.exp_month"


def test_card_token_is_stored_never_the_number(customer):
    method = card(customer)
    assert method.processor_token.startswith("simcard_")
    assert "4242424242424242" not in method.processor_token


def test_wallet_is_pending_and_not_the_default(customer):
    method = wallet(customer, set_default=True)
    assert method.status == "pending"
    assert (method.mm_provider, method.mm_country, method.mm_phone_last4) == ("mtn_momo", "GH", "0000")
    assert method.link_reference.startswith("simlink_") and method.processor_token.startswith("simmomo_")
    assert customer.default_payment_method_id is None
    assert len(events()) == 1 and events("customer.updated") == []


def test_wallet_phone_outside_the_providers_countries_is_invalid(customer):
    with pytest.raises(InvalidField) as caught:
        payment_methods.attach_mobile_money(customer, "mpesa", "+233241230000", False, API, NOW)
    assert caught.value.param == "mobile_money.phone"


def test_approving_handset_activates_the_wallet_and_makes_it_the_default(customer):
    method = wallet(customer, "+233241230000")
    payment_methods.refresh_wallet_link(method, NOW + HANDSET_ANSWER_DELAY - 1, 120)
    assert method.status == "pending"
    assert len(events()) == 1
    payment_methods.refresh_wallet_link(method, NOW + HANDSET_ANSWER_DELAY, 120)
    db.session.commit()
    assert method.status == "active"
    assert customer.default_payment_method_id == method.id
    attached, approved = events()
    assert approved.data["object"]["status"] == "active"
    assert approved.data["previous_attributes"] == {"status": "pending"}
    assert approved.request_source == "billing"
    assert events("customer.updated")[0].request_source == "billing"


def test_approved_wallet_leaves_an_existing_default_alone(customer):
    existing = card(customer)
    method = wallet(customer, "+233241230000")
    payment_methods.refresh_wallet_link(method, NOW + 10, 120)
    db.session.commit()
    assert method.status == "active"
    assert customer.default_payment_method_id == existing.id


def test_set_default_on_a_wallet_is_honoured_once_approved(customer):
    card(customer)
    method = wallet(customer, "+233241230000", set_default=True)
    assert customer.default_payment_method_id != method.id
    payment_methods.refresh_wallet_link(method, NOW + 10, 120)
    db.session.commit()
    assert customer.default_payment_method_id == method.id
    approved = events()[-1]
    assert approved.object_id == method.id and approved.data["object"]["status"] == "active"
    assert events("customer.updated")[-1].request_source == "billing"


def test_set_default_on_a_declined_wallet_changes_nothing(customer):
    existing = card(customer)
    method = wallet(customer, "+233241231111", set_default=True)
    payment_methods.refresh_wallet_link(method, NOW + 10, 120)
    db.session.commit()
    assert method.status == "failed"
    assert customer.default_payment_method_id == existing.id


def test_declining_handset_fails_the_wallet(customer):
    method = wallet(customer, "+233241231111")
    payment_methods.refresh_wallet_link(method, NOW + 10, 120, origin=PORTAL)
    db.session.commit()
    assert method.status == "failed"
    assert customer.default_payment_method_id is None
    assert events()[-1].data["object"]["status"] == "failed"
    assert events()[-1].request_source == "portal"


def test_silent_handset_times_out_after_the_given_timeout(customer):
    method = wallet(customer, "+233241232222")
    payment_methods.refresh_wallet_link(method, NOW + 59, 60)
    assert method.status == "pending"
    payment_methods.refresh_wallet_link(method, NOW + 60, 60)
    db.session.commit()
    assert method.status == "failed"


def test_refreshing_a_decided_wallet_again_changes_nothing(customer):
    method = wallet(customer, "+233241230000")
    for later in (10, 20, 500):
        payment_methods.refresh_wallet_link(method, NOW + later, 120)
        db.session.commit()
    assert method.status == "active"
    assert len(events()) == 2
    assert len(events("customer.updated")) == 1


def test_a_detached_wallet_is_never_activated(customer):
    method = wallet(customer, "+233241230000")
    payment_methods.detach(method, API, NOW + 1)
    payment_methods.refresh_wallet_link(method, NOW + 10, 120)
    db.session.commit()
    assert method.status == "pending"
    assert customer.default_payment_method_id is None
    assert payment_methods.pending_wallet_links() == []


def test_refresh_wallet_links_refreshes_every_pending_wallet_of_the_customer(customer):
    approving, declining, silent = (wallet(customer, phone, provider) for phone, provider in
                                    (("+233241230000", "telecel_cash"), ("+256701231111", "airtel_money"),
                                     ("+254711232222", "mpesa")))
    assert {m.mm_country for m in (approving, declining, silent)} == {"GH", "UG", "KE"}
    payment_methods.refresh_wallet_links(customer, NOW + 10, 120)
    db.session.commit()
    assert (approving.status, declining.status, silent.status) == ("active", "failed", "pending")


def test_pending_wallet_links_lists_attached_pending_wallets_oldest_first(customer):
    older = wallet(customer, "+233241232222")
    newer = wallet(customer, "+233241232222")
    card(customer)
    decided = wallet(customer, "+233241230000")
    payment_methods.refresh_wallet_link(decided, NOW + 10, 120)
    db.session.commit()
    assert [m.id for m in payment_methods.pending_wallet_links()] == [older.id, newer.id]


def test_detaching_the_default_promotes_the_newest_active_method(customer):
    oldest = card(customer)
    newest_active = card(customer, "5555555555554444")
    wallet(customer, "+233241232222")  # newer still, but pending
    default = card(customer, "4000000000009995", set_default=True)
    payment_methods.detach(default, API, NOW + 5)
    db.session.commit()
    assert default.detached_at == NOW + 5
    assert customer.default_payment_method_id == newest_active.id
    *_, detached_event, promoted_event = events()
    assert detached_event.object_id == default.id
    assert promoted_event.object_id == newest_active.id
    assert events("customer.updated")[-1].data["previous_attributes"] == {"default_payment_method": default.id}
    assert oldest.detached_at is None


def test_detaching_the_only_method_leaves_no_default(customer):
    method = card(customer)
    payment_methods.detach(method, API, NOW)
    db.session.commit()
    assert customer.default_payment_method_id is None
    assert events("customer.updated")[-1].data["object"]["default_payment_method"] is None


def test_detaching_another_method_keeps_the_default(customer):
    default = card(customer)
    other = card(customer, "5555555555554444")
    payment_methods.detach(other, API)
    db.session.commit()
    assert customer.default_payment_method_id == default.id
    assert len(events("customer.updated")) == 1
    assert other.detached_at is not None


def test_set_default_switches_and_announces(customer):
    first = card(customer)
    second = card(customer, "5555555555554444")
    payment_methods.set_default(customer, second, PORTAL)
    db.session.commit()
    assert customer.default_payment_method_id == second.id
    assert events()[-1].object_id == second.id and events()[-1].request_source == "portal"
    assert events("customer.updated")[-1].data["previous_attributes"] == {"default_payment_method": first.id}


def test_set_default_to_the_current_default_emits_nothing(customer):
    method = card(customer)
    before = len(db.session.scalars(db.select(Event)).all())
    payment_methods.set_default(customer, method, API)
    assert len(db.session.scalars(db.select(Event)).all()) == before


def test_set_default_refuses_a_pending_wallet(customer):
    method = wallet(customer)
    with pytest.raises(payment_methods.NotActive):
        payment_methods.set_default(customer, method, API)


def test_set_default_refuses_another_customers_method(customer):
    other = Customer(merchant_id=customer.merchant_id)
    db.session.add(other)
    db.session.commit()
    method = card(other)
    with pytest.raises(ValueError):
        payment_methods.set_default(customer, method, API)
    assert customer.default_payment_method_id is None



def test_detaching_twice_announces_once(customer):
    method = card(customer)
    payment_methods.detach(method, API, NOW + 1)
    db.session.commit()
    payment_methods.detach(method, API, NOW + 2)
    db.session.commit()
    assert method.detached_at == NOW + 1
    assert len(events()) == 2


@pytest.mark.postgres
def test_refresh_never_waits_for_a_row_locked_elsewhere(postgres_app):
    """The billing clock and a detach lock the same rows in different orders: refresh skips rather than deadlock."""
    from sqlalchemy import create_engine, text

    from xtoportal.merchants import create_merchant

    merchant, _ = create_merchant("Acme", "owner@acme.test", "correct horse battery")
    customer = Customer(merchant_id=merchant.id)
    db.session.add(customer)
    db.session.commit()
    method = wallet(customer, "+233241230000")
    other = create_engine(postgres_app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        for table, id in (("customers", customer.id), ("payment_methods", method.id)):
            with other.begin() as connection:
                connection.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": id})
                db.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail, not hang
                payment_methods.refresh_wallet_link(method, NOW + 10, 120)  # returns at once
                assert method.status == "pending"
                db.session.rollback()
    finally:
        other.dispose()
    payment_methods.refresh_wallet_link(method, NOW + 10, 120)
    db.session.commit()
    assert method.status == "active"
    assert customer.default_payment_method_id == method.id
