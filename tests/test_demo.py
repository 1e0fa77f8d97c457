"""`xtoportal demo`: a demo merchant seeded once with a year of real billing; each run a new key and portal link."""
import logging
import re
from urllib.parse import urlsplit

import pytest

from xtoportal import clock
from xtoportal.billing.money import format_money
from xtoportal.extensions import db
from xtoportal.merchants import create_merchant, password_matches
from xtoportal.models import (Customer, Event, Invoice, Merchant, Payment, PaymentMethod, Plan, PortalSession,
                              StaffUser, Subscription)
from xtoportal.portal.tokens import verify_portal_token

DAY = 86400


def run_demo(runner) -> dict:
    """Run the command as `make run` does and read what it printed."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    dashboard = re.search(r"Dashboard:\s+(\S+)\s+\((\S+) / (\S+)\)", result.output)
    return {
        "key": re.search(r"API key:\s+(sk_test_\S+)", result.output).group(1),
        "dashboard_url": dashboard.group(1), "email": dashboard.group(2), "password": dashboard.group(3),
        "portal_url": re.search(r"Portal URL:\s+(\S+)", result.output).group(1),
    }


def row_counts() -> dict:
    models = (Merchant, StaffUser, Plan, Customer, PaymentMethod, Subscription, Invoice, Payment, Event)
    return {model.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(model)) for model in models}


def customers_list(client, key):
    return client.get("/v1/customers?limit=100", headers={"Authorization": f"Bearer {key}"})


def main_customer(printed) -> Customer:
    """The customer the printed portal link opens."""
    session = db.session.get(PortalSession, verify_portal_token(urlsplit(printed["portal_url"]).path.split("/")[-1]))
    return db.session.get(Customer, session.customer_id)


@pytest.fixture
def printed(runner, caplog):
    with caplog.at_level(logging.ERROR):
        printed = run_demo(runner)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # no billing step failed
    return printed


def test_second_run_adds_nothing_but_a_new_key_and_portal_link(runner, client, printed):
    before = row_counts()
    again = run_demo(runner)
    assert row_counts() == before
    assert before["merchants"] == 1 and before["customers"] == 12 and before["invoices"] > 80
    assert again["key"] != printed["key"] and again["portal_url"] != printed["portal_url"]
    assert customers_list(client, printed["key"]).status_code == 200  # earlier keys stay valid, as documented
    assert customers_list(client, again["key"]).status_code == 200
    sessions = db.session.scalars(db.select(PortalSession)).all()
    assert len(sessions) == 2 and len({s.customer_id for s in sessions}) == 1


def test_printed_key_and_dashboard_login_work(app, client, printed):
    response = customers_list(client, printed["key"])
    assert response.status_code == 200
    customers = response.get_json()["data"]
    assert len(customers) == 12
    assert all(c["name"] and c["email"] and c["phone"].startswith("+") and c["address"]["country"] for c in customers)
    assert {c["preferred_locale"] for c in customers} == {"en", "fr"}
    assert {c["address"]["country"] for c in customers} >= {"GH", "NG", "KE", "UG", "SN", "CI"}
    owner = db.session.scalars(db.select(StaffUser).filter_by(email=printed["email"])).one()
    assert owner.role == "owner" and password_matches(owner.password_hash, printed["password"])
    assert printed["dashboard_url"] == app.config["PUBLIC_URL"] + "/dashboard/"


def test_demo_has_a_subscription_in_every_status(printed):
    subscriptions = db.session.scalars(db.select(Subscription)).all()
    assert {s.status for s in subscriptions} == set(Subscription.STATUSES)
    assert any(s.status == "active" and s.cancel_at_period_end for s in subscriptions)
    [downgrade] = [s for s in subscriptions if s.pending_plan_id]
    assert downgrade.pending_effective_at == downgrade.current_period_end > clock.now()
    assert db.session.get(Plan, downgrade.pending_plan_id).amount < downgrade.plan.amount
    assert {s.plan.currency for s in subscriptions} == {"ghs", "ngn", "kes", "ugx", "usd", "xof"}


def test_main_customer_has_a_year_of_paid_invoices_by_card_and_mobile_money(printed):
    customer = main_customer(printed)
    invoices = db.session.scalars(db.select(Invoice).filter_by(customer_id=customer.id)).all()
    assert 20 <= len(invoices) <= 30
    assert {i.status for i in invoices} == {"paid"}
    assert min(i.created for i in invoices) < clock.now() - 330 * DAY
    assert len({i.subscription_id for i in invoices}) == 2
    paid_with = db.session.scalars(
        db.select(PaymentMethod.type).join(Payment, Payment.payment_method_id == PaymentMethod.id)
        .join(Invoice, Invoice.id == Payment.invoice_id).where(Invoice.customer_id == customer.id)).all()
    assert set(paid_with) == {"card", "mobile_money"}
    everyone = db.session.scalars(db.select(Invoice).order_by(Invoice.number)).all()
    assert [i.number for i in everyone] == [f"KENTEC-{n:06d}" for n in range(1, len(everyone) + 1)]  # gap-free
    assert [i.created for i in everyone] == sorted(i.created for i in everyone)  # numbered as time went by


def test_zero_decimal_currencies_are_priced_in_whole_units(printed):
    ugx = db.session.scalars(db.select(Plan).filter_by(currency="ugx").order_by(Plan.amount)).all()
    assert [format_money(p.amount, "ugx") for p in ugx] == ["USh 15,000", "USh 45,000"]
    totals = db.session.scalars(db.select(Invoice.total).where(Invoice.currency == "ugx")).all()
    charged = [total for total in totals if total > 0]
    credits = [total for total in totals if total < 0]  # the paused subscription's unused time, credited
    assert charged and set(charged) == {45_000}
    assert len(credits) <= 1 and all(-45_000 < credit for credit in credits)
    assert format_money(db.session.scalars(db.select(Plan).filter_by(currency="xof", name="Pro")).one().amount,
                        "xof", "fr") == "9\u202f000\u00a0F\u202fCFA"


def test_printed_portal_url_opens_a_fresh_session_of_the_main_customer(app, client, printed):
    url = urlsplit(printed["portal_url"])
    assert f"{url.scheme}://{url.netloc}" == app.config["PUBLIC_URL"]
    assert url.path.startswith("/portal/sess_")
    assert main_customer(printed).email == "ama@example.com"
    [session] = db.session.scalars(db.select(PortalSession)).all()
    assert session.status_at(clock.now()) == "active"
    assert session.expires_at == session.created + 1800
    assert session.return_url == "http://127.0.0.1:5001/account"
    response = client.get(url.path)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/portal/"


def test_demo_refuses_to_reuse_an_unfinished_seed(runner):
    create_merchant("Kente Cloud", "demo@example.com", "demo-password")
    db.session.commit()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1
    assert "did not finish" in result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(PortalSession)) == 0
