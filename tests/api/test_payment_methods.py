import calendar
import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from xtoportal import clock
from xtoportal.extensions import db
from xtoportal.models import Event, PaymentMethod

NOW = calendar.timegm((2025, 6, 15, 12, 0, 0))
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
DECLINED_ON_ATTACH = "4000000000000002"
DECLINES_CHARGES = "4000000000000341"
NO_FUNDS = "4000000000009995"


@pytest.fixture(autouse=True)
def frozen_clock():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def customer(api):
    return api.post("/v1/customers", json={"name": "Ama"}).get_json()


def card_body(number=VISA, exp_month=12, exp_year=2030, cvc="123", **extra):
    return {"type": "card", "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
            **extra}


def wallet_body(phone="+233241230000", provider="mtn_momo", **extra):
    return {"type": "mobile_money", "mobile_money": {"provider": provider, "phone": phone}, **extra}


def attach(api, customer, body, headers=None):
    return api.post(f"/v1/customers/{customer['id']}/payment_methods", json=body, headers=headers)


def attached(api, customer, body):
    response = attach(api, customer, body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def listed(api, customer, query=""):
    response = api.get(f"/v1/customers/{customer['id']}/payment_methods{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def default_of(api, customer):
    return api.get(f"/v1/customers/{customer['id']}").get_json()["default_payment_method"]


def detach(api, customer, method_id):
    return api.delete(f"/v1/customers/{customer['id']}/payment_methods/{method_id}")


def error_of(response, status=400):
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def pm_events():
    return db.session.scalars(
        db.select(Event).filter_by(type="customer.payment_method_updated").order_by(Event.sort_key)).all()


# --- cards ----------------------------------------------------------------------------------------------------


def test_attach_card_returns_only_brand_last4_and_expiry(api, customer):
    method = attached(api, customer, card_body(exp_month="07", exp_year="30"))
    assert method["id"].startswith("pm_") and method["object"] == "payment_method"
    assert (method["customer_id"], method["type"], method["status"]) == (customer["id"], "card", "active")
    assert method["card"] == {"brand": "visa", "last4": "4242", "exp_month": 7, "exp_year": 2030}
    assert method["mobile_money"] is None and method["livemode"] is False
    assert method["created"] == NOW


def test_first_active_method_becomes_the_default(api, customer):
    first = attached(api, customer, card_body())
    attached(api, customer, card_body(MASTERCARD))
    assert default_of(api, customer) == first["id"]


def test_set_default_makes_a_new_card_the_default(api, customer):
    attached(api, customer, card_body())
    second = attached(api, customer, card_body(MASTERCARD, set_default=True))
    assert second["card"]["brand"] == "mastercard"
    assert default_of(api, customer) == second["id"]


def test_attach_emits_payment_method_updated_and_customer_updated(api, customer):
    method = attached(api, customer, card_body())
    attach(api, customer, card_body(MASTERCARD), headers={"Idempotency-Key": "attach-2"})
    first, second = pm_events()
    assert first.data["object"] == method
    assert first.to_api()["request"] == {"source": "api", "idempotency_key": None}
    assert second.data["object"]["card"]["last4"] == "4444"
    assert second.to_api()["request"] == {"source": "api", "idempotency_key": "attach-2"}
    [customer_updated] = db.session.scalars(db.select(Event).filter_by(type="customer.updated")).all()
    assert customer_updated.data["object"]["default_payment_method"] == method["id"]
    assert customer_updated.data["previous_attributes"] == {"default_payment_method": None}


@pytest.mark.parametrize("number", [DECLINES_CHARGES, NO_FUNDS])
def test_cards_that_fail_only_when_charged_attach(api, customer, number):
    assert attached(api, customer, card_body(number))["status"] == "active"


@pytest.mark.parametrize("card_fields,param", [
    ({"number": "4242abcd42424242"}, "card.number"),
    ({"number": "42424242424"}, "card.number"),  # 11 digits
    ({"number": "42424242424242424242"}, "card.number"),  # 20 digits
    ({"number": None}, "card.number"),
    ({"number": ["4242424242424242"]}, "card.number"),
    ({"exp_month": 13}, "card.exp_month"),
    ({"exp_month": 0}, "card.exp_month"),
    ({"exp_month": "ab"}, "card.exp_month"),
    ({"exp_year": "20x0"}, "card.exp_year"),
    ({"exp_year": 1999}, "card.exp_year"),
    ({"cvc": "12345"}, "card.cvc"),
    ({"cvc": "12"}, "card.cvc"),
    ({"cvc": "1a3"}, "card.cvc"),
    ({"cvc": True}, "card.cvc"),
])
def test_malformed_card_fields_are_400_naming_the_field(api, customer, card_fields, param):
    body = card_body()
    body["card"].update(card_fields)
    error = error_of(attach(api, customer, body))
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_invalid", param)
    assert listed(api, customer)["data"] == []


@pytest.mark.parametrize("body,code,param", [
    (card_body("4242424242424241"), "incorrect_number", "card.number"),
    (card_body(exp_month=5, exp_year=2025), "expired_card", "card.exp_month"),
    (card_body(DECLINED_ON_ATTACH), "card_declined", None),
])
def test_processor_refusals_are_402_card_errors(api, customer, body, code, param):
    error = error_of(attach(api, customer, body), 402)
    assert (error["type"], error["code"], error["param"]) == ("card_error", code, param)
    assert error["message"]
    assert listed(api, customer)["data"] == []
    assert pm_events() == []
    assert default_of(api, customer) is None


def test_a_card_expiring_this_month_still_attaches(api, customer):
    assert attached(api, customer, card_body(exp_month=6, exp_year=2025))["status"] == "active"


@pytest.mark.parametrize("body,code,param", [
    ({"type": "card"}, "parameter_missing", "card"),
    ({"type": "mobile_money"}, "parameter_missing", "mobile_money"),
    ({"card": card_body()["card"]}, "parameter_missing", "type"),
    ({**card_body(), "type": "bank_account"}, "parameter_invalid", "type"),
    ({**card_body(), "type": None}, "parameter_invalid", "type"),
    ({"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2030}}, "parameter_missing", "card.cvc"),
    ({"type": "card", "card": "4242424242424242"}, "parameter_invalid", "card"),
    ({**card_body(), "card": {**card_body()["card"], "name": "x"}}, "parameter_invalid", "card.name"),
    ({**card_body(), **wallet_body(), "type": "card"}, "parameter_invalid", "mobile_money"),
    ({**card_body(), "set_default": "true"}, "parameter_invalid", "set_default"),
    ({**card_body(), "customer_id": "cus_x"}, "parameter_invalid", "customer_id"),
    ({"type": "mobile_money", "mobile_money": {"provider": "mtn_momo"}}, "parameter_missing", "mobile_money.phone"),
])
def test_badly_shaped_bodies_are_400_naming_the_param(api, customer, body, code, param):
    error = error_of(attach(api, customer, body))
    assert (error["code"], error["param"]) == (code, param)


def test_non_json_body_is_400(api, customer):
    response = api.post(f"/v1/customers/{customer['id']}/payment_methods", data="type=card",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400


# --- mobile money ---------------------------------------------------------------------------------------------


def test_attach_wallet_is_pending_with_provider_country_and_last4(api, customer):
    method = attached(api, customer, wallet_body("+233 24 123 0000", set_default=True))
    assert (method["type"], method["status"], method["card"]) == ("mobile_money", "pending", None)
    assert method["mobile_money"] == {"provider": "mtn_momo", "country": "GH", "phone_last4": "0000"}
    assert default_of(api, customer) is None  # not before the handset approves
    assert [e.data["object"] for e in pm_events()] == [method]


@pytest.mark.parametrize("provider,phone,country", [
    ("mpesa", "+254711234567", "KE"), ("mpesa", "+255754123456", "TZ"), ("airtel_money", "+256701234567", "UG"),
    ("telecel_cash", "+233201234567", "GH"), ("orange_money", "+221771234567", "SN"),
    ("mtn_momo", "+256771234567", "UG"),
])
def test_each_provider_takes_a_phone_of_a_country_it_serves(api, customer, provider, phone, country):
    assert attached(api, customer, wallet_body(phone, provider))["mobile_money"]["country"] == country


@pytest.mark.parametrize("provider,phone,param", [
    ("mpesa", "+233241230000", "mobile_money.phone"),  # M-Pesa does not serve Ghana
    ("telecel_cash", "+254711234567", "mobile_money.phone"),
    ("mtn_momo", "0241230000", "mobile_money.phone"),  # not E.164
    ("mtn_momo", "+23324", "mobile_money.phone"),
    ("paypal", "+233241230000", "mobile_money.provider"),
    ("MTN_MOMO", "+233241230000", "mobile_money.provider"),
])
def test_bad_wallets_are_400_naming_the_field(api, customer, provider, phone, param):
    error = error_of(attach(api, customer, wallet_body(phone, provider)))
    assert (error["code"], error["param"]) == ("parameter_invalid", param)
    assert listed(api, customer)["data"] == []


def test_provider_country_mismatch_says_which_countries_are_served(api, customer):
    error = error_of(attach(api, customer, wallet_body("+233241230000", "mpesa")))
    assert "Ghana" in error["message"] and "KE" in error["message"]


def test_handset_ending_0000_approves_and_the_wallet_becomes_the_default(api, customer):
    method = attached(api, customer, wallet_body("+233241230000"))
    assert listed(api, customer)["data"][0]["status"] == "pending"
    clock.advance(5)
    assert listed(api, customer)["data"][0]["status"] == "active"
    assert default_of(api, customer) == method["id"]
    attached_event, approved = pm_events()
    assert approved.data["object"]["status"] == "active"
    assert approved.data["previous_attributes"] == {"status": "pending"}
    assert approved.request_source == "billing"  # the handset's answer, not the API call, changed it


def test_handset_ending_1111_declines_and_the_wallet_fails(api, customer):
    attached(api, customer, wallet_body("+233241231111", set_default=True))
    clock.advance(5)
    assert listed(api, customer)["data"][0]["status"] == "failed"
    assert default_of(api, customer) is None
    assert pm_events()[-1].data["object"]["status"] == "failed"


def test_handset_ending_2222_stays_pending_until_mobile_money_timeout(api, app, customer):
    app.config["MOBILE_MONEY_TIMEOUT"] = 30
    attached(api, customer, wallet_body("+233241232222"))
    clock.advance(29)
    assert listed(api, customer)["data"][0]["status"] == "pending"
    clock.advance(1)
    assert listed(api, customer)["data"][0]["status"] == "failed"
    assert default_of(api, customer) is None


def test_handset_ending_2222_uses_the_default_timeout_of_120_seconds(api, customer):
    attached(api, customer, wallet_body("+233241232222"))
    clock.advance(119)
    assert listed(api, customer)["data"][0]["status"] == "pending"
    clock.advance(1)
    assert listed(api, customer)["data"][0]["status"] == "failed"


def test_approved_wallet_does_not_take_over_an_existing_default(api, customer):
    card = attached(api, customer, card_body())
    attached(api, customer, wallet_body("+233241233333"))
    clock.advance(5)
    assert listed(api, customer, "?type=mobile_money")["data"][0]["status"] == "active"
    assert default_of(api, customer) == card["id"]


def test_set_default_on_a_wallet_takes_effect_when_the_handset_approves(api, customer):
    attached(api, customer, card_body())
    wallet = attached(api, customer, wallet_body("+233241233333", set_default=True))
    clock.advance(5)
    assert listed(api, customer, "?type=mobile_money")["data"][0]["status"] == "active"
    assert default_of(api, customer) == wallet["id"]


# --- listing --------------------------------------------------------------------------------------------------


def test_list_is_newest_first_and_paginates(api, customer):
    ids = [attached(api, customer, body)["id"] for body in
           (card_body(), card_body(MASTERCARD), wallet_body("+233241234444"), card_body(NO_FUNDS))]
    first = listed(api, customer, "?limit=3")
    assert first["object"] == "list" and first["has_more"] is True
    assert [m["id"] for m in first["data"]] == ids[::-1][:3]
    rest = listed(api, customer, f"?limit=3&starting_after={first['data'][-1]['id']}")
    assert [m["id"] for m in rest["data"]] == ids[:1] and rest["has_more"] is False


def test_list_filters_on_type(api, customer):
    card = attached(api, customer, card_body())
    wallet = attached(api, customer, wallet_body())
    assert [m["id"] for m in listed(api, customer, "?type=card")["data"]] == [card["id"]]
    assert [m["id"] for m in listed(api, customer, "?type=mobile_money")["data"]] == [wallet["id"]]
    assert error_of(api.get(f"/v1/customers/{customer['id']}/payment_methods?type=bank"))["param"] == "type"


def test_list_shows_only_this_customers_methods(api, customer):
    other = api.post("/v1/customers", json={}).get_json()
    attached(api, other, card_body())
    mine = attached(api, customer, card_body(MASTERCARD))
    assert [m["id"] for m in listed(api, customer)["data"]] == [mine["id"]]


def test_list_limit_out_of_range_is_400(api, customer):
    error = error_of(api.get(f"/v1/customers/{customer['id']}/payment_methods?limit=0"))
    assert error["param"] == "limit"


# --- detaching ------------------------------------------------------------------------------------------------


def test_detach_returns_deleted_and_hides_the_method(api, customer):
    method = attached(api, customer, card_body())
    response = detach(api, customer, method["id"])
    assert response.status_code == 200
    assert response.get_json() == {"id": method["id"], "object": "payment_method", "deleted": True}
    assert listed(api, customer)["data"] == []
    assert error_of(detach(api, customer, method["id"]), 404)["code"] == "resource_missing"
    assert db.session.get(PaymentMethod, method["id"]).detached_at == NOW


def test_detach_emits_the_event_with_the_detached_method(api, customer):
    method = attached(api, customer, card_body())
    detach(api, customer, method["id"])
    assert pm_events()[-1].data["object"] == {**method, "detached_at": NOW}


def test_detaching_the_default_promotes_the_newest_remaining_active_method(api, customer):
    older = attached(api, customer, card_body())
    newer = attached(api, customer, card_body(MASTERCARD))
    attached(api, customer, wallet_body("+233241232222"))  # newest, but pending
    default = attached(api, customer, card_body(NO_FUNDS, set_default=True))
    detach(api, customer, default["id"])
    assert default_of(api, customer) == newer["id"]
    detach(api, customer, newer["id"])
    assert default_of(api, customer) == older["id"]
    detach(api, customer, older["id"])
    assert default_of(api, customer) is None
    assert [m["status"] for m in listed(api, customer)["data"]] == ["pending"]


def test_detaching_a_pending_wallet_stops_it_from_ever_becoming_the_default(api, customer):
    wallet = attached(api, customer, wallet_body("+233241230000"))
    detach(api, customer, wallet["id"])
    clock.advance(10)
    assert listed(api, customer)["data"] == []
    assert default_of(api, customer) is None
    assert db.session.get(PaymentMethod, wallet["id"]).status == "pending"


def test_detach_of_unknown_method_is_404(api, customer):
    assert error_of(detach(api, customer, "pm_doesnotexist"), 404)["code"] == "resource_missing"


def test_another_customers_method_in_the_path_is_404_and_stays_attached(api, customer):
    other = api.post("/v1/customers", json={}).get_json()
    theirs = attached(api, other, card_body())
    error = error_of(detach(api, customer, theirs["id"]), 404)
    assert error["code"] == "resource_missing"
    assert [m["id"] for m in listed(api, other)["data"]] == [theirs["id"]]
    assert default_of(api, other) == theirs["id"]


# --- isolation between merchants ------------------------------------------------------------------------------


def test_another_merchants_customer_is_404_on_every_endpoint(api, other_api, customer):
    method = attached(api, customer, card_body())
    responses = [
        attach(other_api, customer, card_body(MASTERCARD)),
        other_api.get(f"/v1/customers/{customer['id']}/payment_methods"),
        detach(other_api, customer, method["id"]),
    ]
    for response in responses:
        error = error_of(response, 404)
        assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
    assert [m["id"] for m in listed(api, customer)["data"]] == [method["id"]]


def test_another_merchants_method_under_my_customer_is_404(api, other_api, customer):
    theirs_customer = other_api.post("/v1/customers", json={}).get_json()
    theirs = attached(other_api, theirs_customer, card_body())
    assert error_of(detach(api, customer, theirs["id"]), 404)["code"] == "resource_missing"
    assert len(listed(other_api, theirs_customer)["data"]) == 1


def test_unknown_customer_is_404(api):
    response = api.post("/v1/customers/cus_doesnotexist/payment_methods", json=card_body())
    assert error_of(response, 404)["code"] == "resource_missing"


# --- idempotency ----------------------------------------------------------------------------------------------


def test_replayed_attach_does_not_attach_twice(api, customer):
    headers = {"Idempotency-Key": "attach-once"}
    first = attach(api, customer, card_body(), headers=headers)
    again = attach(api, customer, card_body(), headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert len(listed(api, customer)["data"]) == 1


# --- card numbers never kept ----------------------------------------------------------------------------------

# A four-digit CVC, so it cannot be confused with the short numbers a database is full of.
SECRET_CVC = "9731"
ALL_TEST_CARDS = (VISA, MASTERCARD, DECLINED_ON_ATTACH, DECLINES_CHARGES, NO_FUNDS)
# Random material (ids, tokens, hashes) may contain the CVC's digits by chance: it is cut out before searching.
RANDOM_MATERIAL = re.compile(r"[a-z]+_[A-Za-z0-9]{22}|[0-9a-f]{32,}|\$argon2[^\s'\"]*")


def _every_stored_text() -> list[str]:
    """Every text and JSON value in every table (numbers are left out: a timestamp may hold any four digits)."""
    values = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(db.select(table)):
            values.extend(v if isinstance(v, str) else json.dumps(v) for v in row if isinstance(v, (str, dict, list)))
    return values


def _sqlite_file_bytes(app) -> bytes:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        return b""
    path = Path(url.database)
    db.session.remove()
    db.engine.dispose()
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists())


def _shows_cvc(text: str) -> bool:
    """The CVC as a value of its own, once ids, tokens and hashes (which may hold any digits) are cut out."""
    return re.search(rf"(?<![0-9A-Za-z]){SECRET_CVC}(?![0-9A-Za-z])", RANDOM_MATERIAL.sub(" ", text)) is not None


def test_card_numbers_and_cvcs_are_never_stored_logged_or_echoed(api, app, customer, caplog, capsys):
    assert customer["created"] == NOW  # so no timestamp in the stored JSON can hold the CVC's digits by chance
    requests_log = logging.getLogger("xtoportal.requests")  # it does not propagate to the root logger
    requests_log.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement, with its parameters
    try:
        bodies = []
        for number in ALL_TEST_CARDS + ("4242424242424241",):  # and one that fails the Luhn check
            for body in (card_body(number, cvc=SECRET_CVC), card_body(number, cvc=SECRET_CVC, exp_year=2024),
                         card_body(number, cvc=SECRET_CVC, exp_month=13)):
                response = attach(api, customer, body, headers={"Idempotency-Key": f"leak-test-{len(bodies)}"})
                bodies.append(response.get_data(as_text=True))
        listing = api.get(f"/v1/customers/{customer['id']}/payment_methods?limit=100").get_json()
    finally:
        requests_log.removeHandler(caplog.handler)
    assert sorted(m["card"]["last4"] for m in listing["data"]) == ["0341", "4242", "4444", "9995"]
    bodies.append(json.dumps(listing))

    stored = _every_stored_text()
    database_file = _sqlite_file_bytes(app).decode("latin-1")
    captured = capsys.readouterr()
    logs = "\n".join([caplog.text, captured.out, captured.err])
    assert "INSERT INTO payment_methods" in logs  # the SQL log was captured, parameters included
    for where, text in (("stored rows", "\n".join(stored)), ("database file", database_file), ("logs", logs),
                        ("responses", "\n".join(bodies))):
        for number in ALL_TEST_CARDS + ("4242424242424241",):
            assert number not in text, f"card number in {where}"
        assert not _shows_cvc(text), f"CVC in {where}"
    # Stored values are also checked one by one, so a CVC glued to a neighbouring value is found too.
    assert not [value for value in stored if SECRET_CVC in RANDOM_MATERIAL.sub(" ", value)]
